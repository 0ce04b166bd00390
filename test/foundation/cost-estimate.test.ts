import { describe, expect, it } from 'vitest';
import { estimateCost, formatCostEstimate, tierCost } from '../../lib/cost/estimate';
import { PRICES } from '../../lib/cost/prices';
import { SERIES_PER_BACKUP_RUN, metricUsage, runsPerMonth } from '../../lib/cost/metric-usage';
import { loadConfig } from '../../lib/config/config';
import { exampleConfig } from '../../config/example';

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

describe('the custom metrics the jobs send, as CloudWatch bills them', () => {
  it('counts the runs a month of a schedule: daily, several a day, weekdays, a day of the month, a rate, none', () => {
    expect(runsPerMonth('cron(0 5 * * ? *)')).toBe(30);
    expect(runsPerMonth('cron(0 5,17 * * ? *)')).toBe(60);
    expect(runsPerMonth('cron(0 */6 * * ? *)')).toBe(120);
    expect(runsPerMonth('cron(0 5 ? * MON-FRI *)')).toBeCloseTo((5 * 30) / 7, 5);
    expect(runsPerMonth('cron(0 5 ? * SUN *)')).toBeCloseTo(30 / 7, 5);
    expect(runsPerMonth('cron(0 5 1 * ? *)')).toBe(1);
    expect(runsPerMonth('rate(6 hours)')).toBeCloseTo(730 / 6, 5);
    expect(runsPerMonth(undefined)).toBe(0);
  });

  it('bills the hourly age of each scheduled tier whole, and the per-run series by their hours', () => {
    const { config } = loadConfig({
      ...exampleConfig,
      targets: [{ name: 'app', kind: 'sqlite', instances: { instanceIds: ['i-0123456789abcdef0'] }, path: '/srv/app/app.sqlite3', tiers: ['daily'] }],
      restore: { drills: { enabled: false } },
      awsBackup: {},
    });
    const usage = metricUsage(config);
    expect(usage).toEqual({ hourlySeries: 1, seriesHoursPerMonth: 30 * SERIES_PER_BACKUP_RUN });
    const estimate = estimateCost([], {}, { replicationTimeControl: false }, usage);
    const metrics = estimate.fixed.find((line) => line.item.startsWith('CloudWatch custom metrics'));
    expect(metrics?.count).toBeCloseTo(1 + (30 * SERIES_PER_BACKUP_RUN) / 730, 2);
    expect(metrics?.unitUsd).toBe(PRICES.customMetric);
  });

  it('bills the hourly recovery point age of each AWS Backup resource named by ARN or bucket name, not of tag selections', () => {
    const base = { ...exampleConfig, restore: { drills: { enabled: false } } };
    const withoutManaged = metricUsage(loadConfig({ ...base, awsBackup: {} }).config).hourlySeries;
    // The example names an RDS instance, an Aurora cluster and a bucket.
    expect(metricUsage(loadConfig(base).config).hourlySeries).toBe(withoutManaged + 3);
    const tagged = { classes: { tagged: { resources: { tags: [{ key: 'backup', value: 'daily' }] } } } };
    expect(metricUsage(loadConfig({ ...base, awsBackup: tagged }).config).hourlySeries).toBe(withoutManaged);
  });

  it('grows by cents per target: 500 daily targets cost less in metrics than one alarm per target did', () => {
    const targets = Array.from({ length: 500 }, (_, index) => ({ name: `t${index}`, kind: 'sqlite' as const, instances: { instanceIds: ['i-0123456789abcdef0'] }, path: `/srv/t${index}/app.sqlite3`, tiers: ['daily'] }));
    const { config } = loadConfig({ ...exampleConfig, targets, restore: { drills: { enabled: false } }, awsBackup: {} });
    const usage = metricUsage(config);
    expect(usage.hourlySeries).toBe(1);
    const monthlyUsd = (usage.hourlySeries + usage.seriesHoursPerMonth / 730) * PRICES.customMetric;
    expect(monthlyUsd).toBeLessThan(500 * PRICES.alarmMetric);
  });
});
