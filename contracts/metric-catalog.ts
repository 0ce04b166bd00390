/**
 * Every metric the kit publishes: namespace, the job (`service`, Powertools' default dimension),
 * name, unit and the dimension sets it is published with. The functions emit through it, the
 * alarms and the dashboard read it: a CloudWatch alarm or SEARCH matches an exact dimension set,
 * so a name or dimension written twice is a widget that stays empty. Pure: no SDK, no CDK.
 */

export const METRIC_NAMESPACE = 'BackupKit';

export const SERVICES = {
  backupTrigger: 'backup-trigger',
  backupResult: 'backup-result',
  verify: 'verify',
  restore: 'restore',
  drill: 'drill',
  rdsRestore: 'rds-restore',
  managedBackup: 'managed-backup',
  evidence: 'evidence',
} as const;
export type ServiceName = (typeof SERVICES)[keyof typeof SERVICES];

export type MetricUnitName = 'Count' | 'Seconds' | 'Bytes' | 'None';

export interface MetricSpec {
  readonly service: ServiceName;
  readonly name: string;
  readonly unit: MetricUnitName;
  /** The dimension sets (besides `service`) it is published with; the first is the usual one. */
  readonly dimensionSets: readonly (readonly string[])[];
}

const TARGET_TIER = [['Target', 'Tier']] as const;
const TARGET = [['Target']] as const;
/**
 * Conditions alarmed once over all targets and tiers: published with the target and tier (the
 * dashboard's lines) and with no dimension but `service` (one alarm per condition, whatever the
 * number of targets; the job that publishes also mails the target's and tier's names).
 */
const TARGET_TIER_AND_ALL = [['Target', 'Tier'], []] as const;

export const METRICS = {
  backupSendFailed: { service: SERVICES.backupTrigger, name: 'BackupSendFailed', unit: 'Count', dimensionSets: TARGET_TIER },
  backupSucceeded: { service: SERVICES.backupResult, name: 'BackupSucceeded', unit: 'Count', dimensionSets: TARGET_TIER },
  backupFailed: { service: SERVICES.backupResult, name: 'BackupFailed', unit: 'Count', dimensionSets: TARGET_TIER_AND_ALL },
  backupDurationSeconds: { service: SERVICES.backupResult, name: 'BackupDurationSeconds', unit: 'Seconds', dimensionSets: TARGET_TIER },
  verificationFailed: { service: SERVICES.verify, name: 'VerificationFailed', unit: 'Count', dimensionSets: TARGET_TIER_AND_ALL },
  backupBytes: { service: SERVICES.verify, name: 'BackupBytes', unit: 'Bytes', dimensionSets: TARGET_TIER },
  sizeAnomaly: { service: SERVICES.verify, name: 'SizeAnomaly', unit: 'Count', dimensionSets: TARGET_TIER_AND_ALL },
  replicaMissing: { service: SERVICES.verify, name: 'ReplicaMissing', unit: 'Count', dimensionSets: TARGET_TIER_AND_ALL },
  // Per tier alone (the largest age over its targets), hourly: a metric sent every hour is billed
  // the whole month, so one per target would cost more than the alarms. Each target's age is in
  // the planner's log (the dashboard's table) and its mail when it crosses the limit.
  hoursSinceLastVerifiedBackup: { service: SERVICES.verify, name: 'HoursSinceLastVerifiedBackup', unit: 'Count', dimensionSets: [['Tier']] },
  restoreSucceeded: { service: SERVICES.restore, name: 'RestoreSucceeded', unit: 'Count', dimensionSets: TARGET },
  restoreFailed: { service: SERVICES.restore, name: 'RestoreFailed', unit: 'Count', dimensionSets: TARGET },
  restoreSeconds: { service: SERVICES.restore, name: 'RestoreSeconds', unit: 'Seconds', dimensionSets: TARGET },
  drillSucceeded: { service: SERVICES.drill, name: 'RestoreDrillSucceeded', unit: 'Count', dimensionSets: TARGET },
  drillFailed: { service: SERVICES.drill, name: 'RestoreDrillFailed', unit: 'Count', dimensionSets: TARGET },
  drillSeconds: { service: SERVICES.drill, name: 'RestoreDrillSeconds', unit: 'Seconds', dimensionSets: TARGET },
  // Per target (the dashboard), and the largest over all drilled targets (the one alarm; the daily report mails the targets' names).
  daysSinceLastSuccessfulDrill: { service: SERVICES.drill, name: 'DaysSinceLastSuccessfulDrill', unit: 'Count', dimensionSets: [['Target'], []] },
  rdsRestoreStarted: { service: SERVICES.rdsRestore, name: 'RdsRestoreStarted', unit: 'Count', dimensionSets: [['Source']] },
  rdsRestoreMinutes: { service: SERVICES.rdsRestore, name: 'RdsRestoreMinutes', unit: 'None', dimensionSets: [['Source']] },
  /** Minutes from start to completion of a restore the AWS Backup restore function started: its measured RTO. */
  managedRestoreMinutes: { service: SERVICES.managedBackup, name: 'ManagedRestoreMinutes', unit: 'None', dimensionSets: [['Resource']] },
  // Per resource AWS Backup protects (`rds:orders-db`), hourly: each has its own alarm.
  hoursSinceLastRecoveryPoint: { service: SERVICES.managedBackup, name: 'HoursSinceLastRecoveryPoint', unit: 'Count', dimensionSets: [['Resource']] },
} as const satisfies Record<string, MetricSpec>;

export type MetricKey = keyof typeof METRICS;

/** The spec of a published metric name of a service, or undefined when the catalog has none. */
export function specOf(service: string, name: string): MetricSpec | undefined {
  return Object.values(METRICS).find((spec: MetricSpec) => spec.service === service && spec.name === name);
}

/**
 * Why a metric as published (or as an alarm or a SEARCH reads it) is not in the catalog, or
 * undefined when it is: the dimension names must be exactly `service` plus one of its sets.
 */
export function catalogProblem(namespace: string, name: string, dimensionNames: readonly string[], service: string | undefined): string | undefined {
  if (namespace !== METRIC_NAMESPACE) return undefined;
  if (service === undefined) return `${name}: no service dimension`;
  const spec = specOf(service, name);
  if (spec === undefined) return `${service}/${name}: not in the metric catalog`;
  const given = [...dimensionNames].filter((dimension) => dimension !== 'service').sort();
  const known = spec.dimensionSets.map((set) => [...set].sort());
  if (!dimensionNames.includes('service')) return `${service}/${name}: published without the service dimension`;
  if (!known.some((set) => set.length === given.length && set.every((dimension, index) => dimension === given[index]))) {
    return `${service}/${name}: dimensions {${given.join(',')}} are none of the catalog's (${known.map((set) => `{${set.join(',')}}`).join(' or ')})`;
  }
  return undefined;
}
