import { DescribeAlarmsCommand, GetMetricDataCommand, type CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { GetBucketEncryptionCommand, GetObjectLockConfigurationCommand, type S3Client } from '@aws-sdk/client-s3';
import { DescribeDBClustersCommand, DescribeDBInstancesCommand, type RDSClient } from '@aws-sdk/client-rds';
import type { EvidenceDatabase, EvidenceTarget } from '../../contracts/evidence-report';
import { METRIC_NAMESPACE, METRICS } from '../../contracts/metric-catalog';
import { listBackups, readStoredManifest, readVerdict } from '../shared/backup-history';
import type { BackupFact, DatabaseEvidence, DrillFact, MonthWindow, StorageEvidence, TargetInput } from './model';

/**
 * What the evidence report reads: the month's backups of each target with their verdicts, the
 * newest verified one before the month, the newest one's lock, the drills from their metrics, the
 * bucket's encryption and Object Lock, and the alarms open now. Reads only.
 */

export interface GatherDeps {
  readonly s3: S3Client;
  readonly cloudwatch: CloudWatchClient;
  readonly bucket: string;
  /** RDS of the primary region, for the configured databases' windows. */
  readonly rds?: RDSClient;
}

/** Verdicts read back from the month's start to find the newest verified backup before it. */
const VERDICTS_BEFORE = 10;

/** The drills of a target in the window, a day at a time, from RestoreDrillSucceeded/Failed/Seconds. */
export async function drillFacts(cloudwatch: CloudWatchClient, target: string, window: MonthWindow): Promise<DrillFact[]> {
  const dimensions = [
    { Name: 'service', Value: METRICS.drillSucceeded.service },
    { Name: 'Target', Value: target },
  ];
  const query = (id: string, name: string, stat: string) => ({ Id: id, MetricStat: { Metric: { Namespace: METRIC_NAMESPACE, MetricName: name, Dimensions: dimensions }, Period: 86_400, Stat: stat } });
  const series = new Map<string, Map<number, number>>();
  let token: string | undefined;
  do {
    const page = await cloudwatch.send(
      new GetMetricDataCommand({
        StartTime: window.from,
        EndTime: window.to,
        NextToken: token,
        MetricDataQueries: [query('passed', METRICS.drillSucceeded.name, 'Sum'), query('failed', METRICS.drillFailed.name, 'Sum'), query('seconds', METRICS.drillSeconds.name, 'Maximum')],
      }),
    );
    for (const result of page.MetricDataResults ?? []) {
      const values = series.get(result.Id ?? '') ?? new Map<number, number>();
      (result.Timestamps ?? []).forEach((time, index) => values.set(time.getTime(), result.Values?.[index] ?? 0));
      series.set(result.Id ?? '', values);
    }
    token = page.NextToken;
  } while (token);
  const days = new Set([...(series.get('passed')?.keys() ?? []), ...(series.get('failed')?.keys() ?? [])]);
  return [...days]
    .sort((a, b) => a - b)
    .flatMap((time): DrillFact[] => {
      const passed = series.get('passed')?.get(time) ?? 0;
      const failed = series.get('failed')?.get(time) ?? 0;
      const seconds = series.get('seconds')?.get(time);
      return [...(passed > 0 ? [{ at: new Date(time), succeeded: true, ...(seconds !== undefined ? { seconds } : {}) }] : []), ...(failed > 0 ? [{ at: new Date(time), succeeded: false }] : [])];
    });
}

export async function targetInput(target: EvidenceTarget, window: MonthWindow, deps: GatherDeps): Promise<TargetInput> {
  const { s3, bucket } = deps;
  const perTier = await Promise.all(target.tiers.map(({ tier }) => listBackups(s3, bucket, tier, target.name)));
  const all = perTier.flat().sort((a, b) => a.parsed.at.getTime() - b.parsed.at.getTime());
  const inMonth = all.filter((backup) => backup.parsed.at >= window.from && backup.parsed.at < window.to);
  const backups: BackupFact[] = await Promise.all(
    inMonth.map(async (backup) => {
      const verdict = await readVerdict(s3, bucket, backup.key, backup.verdictKey);
      const replica = verdict?.checks.find((check) => check.name === 'replica')?.status;
      return {
        key: backup.key,
        tier: backup.parsed.tier,
        at: backup.parsed.at,
        bytes: backup.size,
        verdict: verdict ? (verdict.passed ? 'passed' : 'failed') : 'unverified',
        reasons: verdict?.reasons ?? [],
        ...(replica ? { replica } : {}),
      } satisfies BackupFact;
    }),
  );
  const newest = backups.at(-1);
  const retainUntil = newest ? (await readStoredManifest(s3, bucket, newest.key))?.retainUntil : undefined;
  if (newest && retainUntil) backups[backups.length - 1] = { ...newest, retainUntil };
  let verifiedBefore: Date | undefined;
  for (const backup of all.filter((candidate) => candidate.parsed.at < window.from && candidate.verdictKey !== undefined).reverse().slice(0, VERDICTS_BEFORE)) {
    if ((await readVerdict(s3, bucket, backup.key, backup.verdictKey))?.passed) {
      verifiedBefore = backup.parsed.at;
      break;
    }
  }
  return {
    name: target.name,
    kind: target.kind,
    objectives: target.objectives,
    tiers: target.tiers,
    backups,
    ...(verifiedBefore ? { verifiedBefore } : {}),
    drills: target.drilled ? await drillFacts(deps.cloudwatch, target.name, window) : [],
    drilled: target.drilled,
  };
}

export async function storageEvidence(s3: S3Client, bucket: string): Promise<StorageEvidence> {
  const encryption = await s3.send(new GetBucketEncryptionCommand({ Bucket: bucket })).catch((error: unknown) => {
    if ((error as { name?: string }).name === 'ServerSideEncryptionConfigurationNotFoundError') return undefined;
    throw error;
  });
  const rule = encryption?.ServerSideEncryptionConfiguration?.Rules?.[0]?.ApplyServerSideEncryptionByDefault;
  const lock = await s3.send(new GetObjectLockConfigurationCommand({ Bucket: bucket }));
  const retention = lock.ObjectLockConfiguration?.Rule?.DefaultRetention;
  return {
    bucket,
    encryption: rule ? `${rule.SSEAlgorithm ?? 'unknown'}${rule.KMSMasterKeyID ? ` (${rule.KMSMasterKeyID})` : ''}` : 'none',
    objectLock:
      lock.ObjectLockConfiguration?.ObjectLockEnabled === 'Enabled'
        ? `enabled${retention ? `, ${retention.Mode ?? ''} ${retention.Days !== undefined ? `${retention.Days} days` : `${retention.Years ?? '?'} years`} by default` : ', no default retention'}`
        : 'not enabled',
  };
}

/** The kit's alarms in ALARM now (their names start with the deployment's prefix). */
export async function openAlarms(cloudwatch: CloudWatchClient, prefix: string): Promise<string[]> {
  // Without a deployment's prefix (a bucket read without its config) no alarm is known to be the kit's.
  if (prefix === '') return [];
  const names: string[] = [];
  let token: string | undefined;
  do {
    const page = await cloudwatch.send(new DescribeAlarmsCommand({ StateValue: 'ALARM', AlarmNamePrefix: `${prefix}-`, NextToken: token }));
    for (const alarm of [...(page.MetricAlarms ?? []), ...(page.CompositeAlarms ?? [])]) if (alarm.AlarmName) names.push(alarm.AlarmName);
    token = page.NextToken;
  } while (token);
  return names.sort();
}

/** The restores of a database the kit completed in the window, from `RdsRestoreMinutes`, and the slowest. */
async function restoresOf(cloudwatch: CloudWatchClient, identifier: string, window: MonthWindow): Promise<{ count: number; slowest?: number }> {
  const metric = { Namespace: METRIC_NAMESPACE, MetricName: METRICS.rdsRestoreMinutes.name, Dimensions: [{ Name: 'service', Value: METRICS.rdsRestoreMinutes.service }, { Name: 'Source', Value: identifier }] };
  const page = await cloudwatch.send(
    new GetMetricDataCommand({
      StartTime: window.from,
      EndTime: window.to,
      MetricDataQueries: [
        { Id: 'count', MetricStat: { Metric: metric, Period: 86_400, Stat: 'SampleCount' } },
        { Id: 'slowest', MetricStat: { Metric: metric, Period: 86_400, Stat: 'Maximum' } },
      ],
    }),
  );
  const values = (id: string) => page.MetricDataResults?.find((result) => result.Id === id)?.Values ?? [];
  const count = values('count').reduce((sum, value) => sum + value, 0);
  const slowest = values('slowest');
  return { count, ...(slowest.length > 0 ? { slowest: Math.max(...slowest) } : {}) };
}

/** The point-in-time window RDS keeps of a configured database, and the kit's restores of it in the window. */
export async function databaseEvidence(rds: RDSClient, cloudwatch: CloudWatchClient, database: EvidenceDatabase, window: MonthWindow): Promise<DatabaseEvidence> {
  const resource = `${database.kind === 'cluster' ? 'aurora' : 'rds'}:${database.identifier}`;
  const restores = await restoresOf(cloudwatch, database.identifier, window);
  const counted = { restores: restores.count, ...(restores.slowest !== undefined ? { slowestRestoreMinutes: Math.round(restores.slowest * 10) / 10 } : {}) };
  try {
    if (database.kind === 'instance') {
      const instance = (await rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: database.identifier }))).DBInstances?.[0];
      return { resource, ...(instance?.BackupRetentionPeriod !== undefined ? { retentionDays: instance.BackupRetentionPeriod } : {}), ...(instance?.LatestRestorableTime ? { latest: instance.LatestRestorableTime.toISOString() } : {}), ...counted };
    }
    const cluster = (await rds.send(new DescribeDBClustersCommand({ DBClusterIdentifier: database.identifier }))).DBClusters?.[0];
    return {
      resource,
      ...(cluster?.BackupRetentionPeriod !== undefined ? { retentionDays: cluster.BackupRetentionPeriod } : {}),
      ...(cluster?.EarliestRestorableTime ? { earliest: cluster.EarliestRestorableTime.toISOString() } : {}),
      ...(cluster?.LatestRestorableTime ? { latest: cluster.LatestRestorableTime.toISOString() } : {}),
      ...counted,
    };
  } catch (error) {
    if (!/NotFound/.test((error as { name?: string }).name ?? '')) throw error;
    return { resource, ...counted, problem: 'not found' };
  }
}
