import { describe, expect, it } from 'vitest';
import { estimateCost, formatCostEstimate, tierCost } from '../../lib/cost/estimate';
import { PRICES } from '../../lib/cost/prices';

/** The synth-time cost estimate: what it counts in the templates, and how it prices a tier's life. */

const alarm = (properties: Record<string, unknown> = {}) => ({ Type: 'AWS::CloudWatch::Alarm', Properties: properties });

describe('the cost estimate', () => {
  it('counts each alarm metric (a math alarm pays for every metric in it), composite alarms, dashboards and keys, across the stacks', () => {
    const math = alarm({ Metrics: [{ Id: 'a', MetricStat: {} }, { Id: 'b', MetricStat: {} }, { Id: 'e', Expression: 'a+b' }] });
    const estimate = estimateCost(
      [
        { Resources: { A1: alarm(), A2: math, K1: { Type: 'AWS::KMS::Key' }, D: { Type: 'AWS::CloudWatch::Dashboard' } } },
        { Resources: { A3: alarm(), C1: { Type: 'AWS::CloudWatch::CompositeAlarm' }, K2: { Type: 'AWS::KMS::Key' }, Q: { Type: 'AWS::SQS::Queue' } } },
      ],
      {},
      { replicationTimeControl: false },
    );
    expect(estimate.fixed.map((line) => [line.item.split(' (')[0], line.count, line.monthlyUsd])).toEqual([
      ['CloudWatch alarm metrics', 4, 0.4],
      ['CloudWatch composite alarms', 1, 0.5],
      ['CloudWatch dashboards', 1, 3],
      ['KMS customer managed keys', 2, 2],
    ]);
    expect(estimate.fixedMonthlyUsd).toBe(5.9);
    expect(estimate.replicationUsdPerGb).toBe(PRICES.interRegionTransferPerGb);
  });

  it("prices a tier's life class by class, billing each class at least its minimum storage duration", () => {
    // 30 days in Standard, then Glacier until day 60: S3 bills Glacier for 90 days however early the object expires
    const tier = tierCost('short-glacier', { retentionDays: 60, transitions: [{ storageClass: 'GLACIER', afterDays: 30 }] });
    expect(tier.phases).toEqual([
      { storageClass: 'STANDARD', days: 30 },
      { storageClass: 'GLACIER', days: 90 },
    ]);
    expect(tier.usdPerGbKept).toBeCloseTo(PRICES.storagePerGbMonth.STANDARD + 3 * PRICES.storagePerGbMonth.GLACIER, 4);
    // A transition after the retention never happens
    expect(tierCost('daily', { retentionDays: 7, transitions: [{ storageClass: 'STANDARD_IA', afterDays: 30 }] }).phases).toEqual([{ storageClass: 'STANDARD', days: 7 }]);
  });

  it('prints the total, each item, each tier and the date of the prices it assumes', () => {
    const text = formatCostEstimate(estimateCost([{ Resources: { A: alarm() } }], { daily: { retentionDays: 30, transitions: [] } }, { replicationTimeControl: true }));
    expect(text).toMatch(/prices: 2026-12 \(us-east-1 list prices, USD\)/);
    expect(text).toMatch(/fixed, every month, before any backup is stored: \$0\.10/);
    expect(text).toMatch(/daily: \$0\.0230 \(STANDARD 30 d\)/);
    expect(text).toMatch(/per GB written, copied to the DR region: \$0\.035/);
  });
});
