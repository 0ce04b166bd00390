import { MIN_STORAGE_DAYS, type TransitionStorageClass } from '../config/storage-classes';
import type { MetricUsage } from './metric-usage';
import { PRICES, PRICES_AS_OF } from './prices';

/**
 * What a deployment costs each month before any backup is stored (alarms, keys, dashboards), and
 * what each gigabyte of backup costs in each tier over its retention, from the synthesized
 * templates, the tiers and the metrics the config makes the jobs send. Usage (Lambda, Run Command,
 * requests, logs) is left out: for the estates this kit serves it is cents. Printed by `cdk synth`.
 */

interface Template {
  readonly Resources?: Readonly<Record<string, { readonly Type: string; readonly Properties?: Record<string, unknown> }>>;
}

export interface TierForCost {
  readonly retentionDays: number;
  readonly transitions: readonly { readonly storageClass: TransitionStorageClass; readonly afterDays: number }[];
}

export interface CostLine {
  readonly item: string;
  readonly count: number;
  readonly unitUsd: number;
  readonly monthlyUsd: number;
}

export interface TierCost {
  readonly tier: string;
  /** Where a backup of the tier spends its retention: class and days. */
  readonly phases: readonly { readonly storageClass: string; readonly days: number }[];
  /** One GB kept its whole retention, in one bucket (the minimum storage durations S3 bills included). */
  readonly usdPerGbKept: number;
}

export interface CostEstimate {
  readonly fixed: readonly CostLine[];
  readonly fixedMonthlyUsd: number;
  readonly tiers: readonly TierCost[];
  /** Per GB written: the replica's transfer and Replication Time Control. */
  readonly replicationUsdPerGb: number;
  readonly pricesAsOf: string;
}

const round = (usd: number) => Math.round(usd * 100) / 100;

/** Alarm metrics of one alarm: one for a plain alarm, one per metric of a math expression. */
function alarmMetrics(properties: Record<string, unknown> | undefined): number {
  const metrics = properties?.Metrics as readonly { MetricStat?: unknown }[] | undefined;
  if (metrics === undefined) return 1;
  return Math.max(1, metrics.filter((metric) => metric.MetricStat !== undefined).length);
}

export function estimateCost(
  templates: readonly Template[],
  tiers: Readonly<Record<string, TierForCost>>,
  replication: { readonly replicationTimeControl: boolean },
  metrics: MetricUsage = { hourlySeries: 0, seriesHoursPerMonth: 0 },
): CostEstimate {
  const resources = templates.flatMap((template) => Object.values(template.Resources ?? {}));
  const ofType = (type: string) => resources.filter((resource) => resource.Type === type);
  const alarms = ofType('AWS::CloudWatch::Alarm');
  const line = (item: string, count: number, unitUsd: number): CostLine => ({ item, count, unitUsd, monthlyUsd: round(count * unitUsd) });
  const fixed = [
    line('CloudWatch alarm metrics', alarms.reduce((sum, alarm) => sum + alarmMetrics(alarm.Properties), 0), PRICES.alarmMetric),
    line('CloudWatch composite alarms', ofType('AWS::CloudWatch::CompositeAlarm').length, PRICES.compositeAlarm),
    line("CloudWatch dashboards (free while among the account's first three)", ofType('AWS::CloudWatch::Dashboard').length, PRICES.dashboard),
    line('KMS customer managed keys', ofType('AWS::KMS::Key').length, PRICES.kmsKey),
    // Billed by the hours a series receives data in: a month of hours is one metric.
    line('CloudWatch custom metrics (series-months: the hourly age of each tier and AWS Backup resource, and the series of every run and daily drill report)', Math.round((metrics.hourlySeries + metrics.seriesHoursPerMonth / 730) * 100) / 100, PRICES.customMetric),
  ].filter((entry) => entry.count > 0);
  return {
    fixed,
    fixedMonthlyUsd: round(fixed.reduce((sum, entry) => sum + entry.monthlyUsd, 0)),
    tiers: Object.entries(tiers).map(([tier, settings]) => tierCost(tier, settings)),
    replicationUsdPerGb: PRICES.interRegionTransferPerGb + (replication.replicationTimeControl ? PRICES.replicationTimeControlPerGb : 0),
    pricesAsOf: PRICES_AS_OF,
  };
}

/** A backup's life in one tier: Standard until the first transition, each class until the next, billed at least its minimum. */
export function tierCost(tier: string, settings: TierForCost): TierCost {
  const starts = [{ storageClass: 'STANDARD', afterDays: 0 }, ...settings.transitions.filter((transition) => transition.afterDays < settings.retentionDays)];
  const phases = starts.map((start, index) => {
    const end = starts[index + 1]?.afterDays ?? settings.retentionDays;
    const minimum = start.storageClass === 'STANDARD' ? 0 : MIN_STORAGE_DAYS[start.storageClass as TransitionStorageClass];
    return { storageClass: start.storageClass, days: Math.max(end - start.afterDays, minimum) };
  });
  const usd = phases.reduce((sum, phase) => sum + (PRICES.storagePerGbMonth[phase.storageClass as keyof typeof PRICES.storagePerGbMonth] * phase.days) / 30, 0);
  return { tier, phases, usdPerGbKept: Math.round(usd * 10_000) / 10_000 };
}

/** The estimate as `cdk synth` prints it. */
export function formatCostEstimate(estimate: CostEstimate): string {
  const usd = (value: number, digits = 2) => `$${value.toFixed(digits)}`;
  const lines = [
    `backup-kit cost estimate (prices: ${estimate.pricesAsOf}; usage such as Lambda, Run Command and requests left out):`,
    `  fixed, every month, before any backup is stored: ${usd(estimate.fixedMonthlyUsd)}`,
    ...estimate.fixed.map((entry) => `    ${entry.item}: ${entry.count} x ${usd(entry.unitUsd)} = ${usd(entry.monthlyUsd)}`),
    '  per GB of backup, kept for its tier\'s retention, in each of the two buckets:',
    ...estimate.tiers.map((tier) => `    ${tier.tier}: ${usd(tier.usdPerGbKept, 4)} (${tier.phases.map((phase) => `${phase.storageClass} ${phase.days} d`).join(', ')})`),
    `  per GB written, copied to the DR region: ${usd(estimate.replicationUsdPerGb, 3)}`,
  ];
  return lines.join('\n');
}
