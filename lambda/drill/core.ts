import {
  DeleteDBInstanceCommand,
  DescribeDBInstancesCommand,
  RestoreDBInstanceToPointInTimeCommand,
  type DBInstance,
  type RDSClient,
} from '@aws-sdk/client-rds';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import { DescribeInstanceInformationCommand } from '@aws-sdk/client-ssm';
import * as z from '../../contracts/zod';
import { consoleLinks } from '../../contracts/console-links';
import { requireEnv, requireJsonEnv } from '../shared/env';
import { RequestRejectedError, errorMessage, parseEventWith } from '../../contracts/errors';
import { addCatalogMetric, type Metrics } from '../shared/powertools';
import { METRICS } from '../../contracts/metric-catalog';
import {
  DRILL_NAME_INFIX,
  DRILL_TAG,
  RESTORE_ENV,
  drillRecordKey,
  rdsDrillIdentifier,
  rdsDrillTargetName,
  rdsDrillSettingsSchema,
  type DrillRecord,
  type RdsDrillSettings,
  type RestoreTarget,
} from '../../contracts/restore-command';
import { withThrottlingRetry, type RetryOptions } from '../shared/retry';
import { chooseBackup, loadRestoreJobSettings, pinnedOrder, sendRestore, type RestoreJobDeps, type RestoreJobSettings } from '../shared/restore-job';
import type { ChosenInstance } from '../shared/restore-instance';

/**
 * The restore drills. Monthly (`{ "action": "drill" }`) it sends every drilled target's newest
 * verified backup to the restore document in scratch mode with the drill flag (the instance
 * checks the copy against the manifest, removes it and reports; the result function records
 * the outcome), and starts a point-in-time restore of each opted-in RDS instance into a small
 * temporary instance. RDS events for those instances finish the RDS drills: checked available,
 * recorded, deleted. Daily (`{ "action": "report" }`) it publishes the days since each target's
 * last successful drill, which the alarm watches.
 */

// ------------------------------------------------------------------ events

export const drillEventSchema = z.union([
  z.strictObject({
    action: z.literal('drill'),
    /** One EC2 target or RDS identifier to drill now; omit for all. */
    target: z.optional(z.string().check(z.minLength(1), z.maxLength(63))),
    /** Show what each drill would do (backup, instance, database user), and start nothing. */
    dryRun: z.optional(z.boolean()),
  }),
  z.strictObject({ action: z.literal('report') }),
]);

const rdsEventSchema = z.object({
  source: z.literal('aws.rds'),
  'detail-type': z.literal('RDS DB Instance Event'),
  region: z.string().check(z.minLength(1)),
  time: z.string().check(z.minLength(1)),
  detail: z.object({ SourceIdentifier: z.string().check(z.minLength(1)), EventID: z.optional(z.string()), Message: z.optional(z.string()) }),
});

export type DrillEvent = z.infer<typeof drillEventSchema> | ({ action: 'rds-event' } & z.infer<typeof rdsEventSchema>);

export function parseDrillEvent(event: unknown): DrillEvent {
  const rds = rdsEventSchema.safeParse(event);
  if (rds.success) return { action: 'rds-event', ...rds.data };
  return parseEventWith(drillEventSchema, event);
}

// ------------------------------------------------------------------ settings and deps

export interface DrillSettings extends RestoreJobSettings {
  readonly alertTopicArn: string;
  readonly rdsDrills: RdsDrillSettings;
  /** Days without a successful drill after which a target is late (the alarm's threshold). */
  readonly alarmAfterDays: number;
}

export function loadDrillSettings(env: NodeJS.ProcessEnv): DrillSettings {
  const rds = rdsDrillSettingsSchema.safeParse(requireJsonEnv(RESTORE_ENV.rdsDrills, env));
  if (!rds.success) throw new Error(`environment variable ${RESTORE_ENV.rdsDrills} is invalid: ${rds.error.message}`);
  const alarmAfterDays = Number(requireEnv(RESTORE_ENV.drillAlarmAfterDays, env));
  if (!Number.isInteger(alarmAfterDays) || alarmAfterDays < 1) throw new Error(`environment variable ${RESTORE_ENV.drillAlarmAfterDays} is invalid: a whole number of days is expected`);
  return { ...loadRestoreJobSettings(env), alertTopicArn: requireEnv(RESTORE_ENV.alertTopicArn, env), rdsDrills: rds.data, alarmAfterDays };
}

export interface DrillDeps extends Omit<RestoreJobDeps, 'settings'> {
  readonly rds: RDSClient;
  readonly sns: SNSClient;
  /** Metrics with service `drill`. */
  readonly metrics: Metrics;
  readonly settings: DrillSettings;
}

export type DrillStart =
  | { readonly target: string; readonly started: 'ec2'; readonly commandId: string; readonly key: string; readonly instanceId: string }
  | { readonly target: string; readonly plan: 'ec2'; readonly key: string; readonly versionId: string; readonly instanceId: string; readonly restoresAs: string; readonly notes: readonly string[] }
  | { readonly target: string; readonly plan: 'rds'; readonly source: string; readonly instanceClass: string; readonly notes: readonly string[] }
  | { readonly target: string; readonly started: 'rds'; readonly instance: string }
  | { readonly target: string; readonly skipped: string }
  | { readonly target: string; readonly failed: string };

export function backoff(deps: Pick<DrillDeps, 'retry'>): RetryOptions {
  return { attempts: 6, baseDelayMs: 500, maxDelayMs: 8000, ...deps.retry };
}

export async function alert(deps: DrillDeps, subject: string, lines: readonly string[]): Promise<void> {
  await withThrottlingRetry(
    () => deps.sns.send(new PublishCommand({ TopicArn: deps.settings.alertTopicArn, Subject: subject.slice(0, 100), Message: lines.join('\n') })),
    backoff(deps),
  );
}

function recordFailure(deps: DrillDeps, target: string): void {
  deps.metrics.addDimensions({ Target: target });
  addCatalogMetric(deps.metrics, METRICS.drillFailed, 1);
  deps.metrics.publishStoredMetrics();
}

async function recordSuccess(deps: DrillDeps, record: DrillRecord): Promise<void> {
  await withThrottlingRetry(
    () =>
      deps.s3.send(
        new PutObjectCommand({
          Bucket: deps.settings.site.bucket,
          Key: drillRecordKey(record.target),
          Body: JSON.stringify(record),
          ContentType: 'application/json',
          // The bucket is Object Locked: S3 refuses a write without a checksum.
          ChecksumAlgorithm: 'SHA256',
        }),
      ),
    backoff(deps),
  );
  deps.metrics.addDimensions({ Target: record.target });
  addCatalogMetric(deps.metrics, METRICS.drillSucceeded, 1);
  addCatalogMetric(deps.metrics, METRICS.drillSeconds, record.restoreSeconds);
  addCatalogMetric(deps.metrics, METRICS.daysSinceLastSuccessfulDrill, 0);
  deps.metrics.publishStoredMetrics();
}

// ------------------------------------------------------------------ EC2 targets

/** Any one online instance of the target: a scratch restore touches nothing live, so which one does not matter. */
async function drillInstance(target: RestoreTarget, deps: DrillDeps): Promise<ChosenInstance | undefined> {
  const filters =
    'instanceIds' in target.backup.instances
      ? [{ Key: 'InstanceIds', Values: [...target.backup.instances.instanceIds] }]
      : [{ Key: `tag:${target.backup.instances.tag.key}`, Values: [target.backup.instances.tag.value] }];
  const page = await withThrottlingRetry(() => deps.ssm.send(new DescribeInstanceInformationCommand({ Filters: filters, MaxResults: 50 })), backoff(deps));
  const online = (page.InstanceInformationList ?? [])
    .filter((instance) => instance.PingStatus === 'Online' && instance.InstanceId)
    .sort((a, b) => (a.InstanceId ?? '').localeCompare(b.InstanceId ?? ''));
  const first = online[0];
  return first ? { instanceId: first.InstanceId ?? '', pingStatus: 'Online' } : undefined;
}

/** Who the drill restores as, and what that needs. */
export function restoreIdentity(target: RestoreTarget): { restoresAs: string; notes: string[] } {
  const database = target.backup.database;
  if (!database) return { restoresAs: 'root, into the target\'s scratch root', notes: [] };
  if (target.restore.user !== undefined) return { restoresAs: `the restore user '${target.restore.user}'`, notes: [] };
  const privilege = target.backup.kind === 'postgres' ? 'CREATEDB' : 'the CREATE and DROP privileges on new databases';
  return {
    restoresAs: `the backup user '${database.user}'`,
    notes: [`no restore user is configured: the drill creates its scratch database as the backup user '${database.user}', which needs ${privilege}, or the drill fails (restore.targets.${target.backup.name}.user)`],
  };
}

async function drillEc2Target(target: RestoreTarget, deps: DrillDeps, dryRun = false): Promise<DrillStart> {
  const name = target.backup.name;
  try {
    const backup = await chooseBackup(target, {}, deps);
    const instance = await drillInstance(target, deps);
    if (!instance) throw new RequestRejectedError(`no online managed instance of '${name}' to restore on`);
    if (dryRun) {
      const order = pinnedOrder(backup);
      return { target: name, plan: 'ec2', key: backup.key, versionId: order.versionId, instanceId: instance.instanceId, ...restoreIdentity(target) };
    }
    const { commandId } = await sendRestore(target, { mode: 'scratch', ...pinnedOrder(backup), drill: true }, instance.instanceId, `backup-kit restore drill of ${name}`, deps);
    deps.logger.info('drill sent', { target: name, key: backup.key, instanceId: instance.instanceId, commandId });
    return { target: name, started: 'ec2', commandId, key: backup.key, instanceId: instance.instanceId };
  } catch (error) {
    const reason = errorMessage(error);
    if (dryRun) return { target: name, failed: reason };
    deps.logger.error('drill not started', { target: name, reason });
    recordFailure(deps, name);
    await alert(deps, `backup-kit restore drill NOT STARTED: ${name}`, [
      `The restore drill of ${name} could not start: ${reason}`,
      '',
      'Next step: fix the cause (a target without a verified backup is already failing its verification alarms), then drill it from the drill function with {"action": "drill", "target": "' + name + '"}.',
    ]);
    return { target: name, failed: reason };
  }
}

// ------------------------------------------------------------------ RDS sources

const READY = new Set(['available', 'backing-up']);
const FAILED = new Set(['failed', 'incompatible-restore', 'incompatible-parameters', 'incompatible-network', 'inaccessible-encryption-credentials', 'storage-full']);
/** A drill instance still not available after this long counts as failed (and is deleted). */
const RDS_DRILL_GIVE_UP_HOURS = 24;

async function describeInstance(identifier: string, deps: DrillDeps): Promise<DBInstance | undefined> {
  try {
    const described = await withThrottlingRetry(() => deps.rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: identifier })), backoff(deps));
    return described.DBInstances?.[0];
  } catch (error) {
    if ((error as { name?: string }).name === 'DBInstanceNotFoundFault') return undefined;
    throw error;
  }
}

export async function drillInstancesOf(source: string, deps: DrillDeps): Promise<DBInstance[]> {
  const found: DBInstance[] = [];
  let marker: string | undefined;
  do {
    const page = await withThrottlingRetry(() => deps.rds.send(new DescribeDBInstancesCommand({ Marker: marker })), backoff(deps));
    found.push(
      ...(page.DBInstances ?? []).filter(
        (instance) => (instance.DBInstanceIdentifier ?? '').startsWith(`${source}${DRILL_NAME_INFIX}`) && tagOf(instance, DRILL_TAG) === source,
      ),
    );
    marker = page.Marker;
  } while (marker);
  return found;
}

function tagOf(instance: DBInstance, key: string): string | undefined {
  return instance.TagList?.find((tag) => tag.Key === key)?.Value;
}

async function drillRdsSource(drill: RdsDrillSettings[number], deps: DrillDeps, dryRun = false): Promise<DrillStart> {
  const source = drill.identifier;
  if (dryRun) {
    return { target: rdsDrillTargetName(source), plan: 'rds', source, instanceClass: drill.instanceClass, notes: ['restores the latest restorable time into a temporary instance in the source network, checks it, then deletes it'] };
  }
  try {
    const running = await drillInstancesOf(source, deps);
    if (running.length > 0) return { target: rdsDrillTargetName(source), skipped: `drill instance ${running.map((i) => i.DBInstanceIdentifier).join(', ')} is still in progress` };
    const instance = await describeInstance(source, deps);
    if (!instance) throw new RequestRejectedError(`source ${source} does not exist`);
    const subnetGroup = instance.DBSubnetGroup?.DBSubnetGroupName;
    const securityGroups = (instance.VpcSecurityGroups ?? []).flatMap((group) => (group.VpcSecurityGroupId && (group.Status ?? 'active') === 'active' ? [group.VpcSecurityGroupId] : []));
    if (!subnetGroup || securityGroups.length === 0) throw new RequestRejectedError(`source ${source} reports no subnet group or security group; refusing to restore into the default VPC`);
    const now = deps.now();
    const identifier = rdsDrillIdentifier(source, now);
    await withThrottlingRetry(
      () =>
        deps.rds.send(
          new RestoreDBInstanceToPointInTimeCommand({
            SourceDBInstanceIdentifier: source,
            TargetDBInstanceIdentifier: identifier,
            UseLatestRestorableTime: true,
            DBInstanceClass: drill.instanceClass,
            MultiAZ: false,
            PubliclyAccessible: false,
            DBSubnetGroupName: subnetGroup,
            VpcSecurityGroupIds: securityGroups,
            DBParameterGroupName: instance.DBParameterGroups?.[0]?.DBParameterGroupName,
            OptionGroupName: instance.OptionGroupMemberships?.[0]?.OptionGroupName,
            DeletionProtection: false,
            AutoMinorVersionUpgrade: false,
            BackupRetentionPeriod: 0,
            CopyTagsToSnapshot: false,
            Tags: [
              { Key: DRILL_TAG, Value: source },
              { Key: 'backup-kit:drill-started', Value: now.toISOString() },
            ],
          }),
        ),
      backoff(deps),
    );
    deps.logger.info('RDS drill started', { source, identifier, instanceClass: drill.instanceClass });
    return { target: rdsDrillTargetName(source), started: 'rds', instance: identifier };
  } catch (error) {
    const reason = errorMessage(error);
    recordFailure(deps, rdsDrillTargetName(source));
    await alert(deps, `backup-kit RDS restore drill NOT STARTED: ${source}`, [`The point-in-time restore drill of ${source} could not start: ${reason}`]);
    return { target: rdsDrillTargetName(source), failed: reason };
  }
}

/** Finishes an RDS drill from an RDS event (or the daily sweep): record, then delete the temporary instance. */
export async function finishRdsDrill(identifier: string, deps: DrillDeps): Promise<'succeeded' | 'failed' | 'waiting' | 'ignored'> {
  const source = deps.settings.rdsDrills.find((drill) => identifier.startsWith(`${drill.identifier}${DRILL_NAME_INFIX}`))?.identifier;
  if (!source) return 'ignored';
  const instance = await describeInstance(identifier, deps);
  // Only instances the drill created (tagged with their source) are ever deleted.
  if (!instance || tagOf(instance, DRILL_TAG) !== source) return 'ignored';
  const status = instance.DBInstanceStatus ?? 'unknown';
  if (status === 'deleting') return 'ignored';
  const startedTag = tagOf(instance, 'backup-kit:drill-started');
  const started = startedTag ? Date.parse(startedTag) : instance.InstanceCreateTime?.getTime() ?? deps.now().getTime();
  const seconds = Math.max(0, Math.round((deps.now().getTime() - started) / 1000));
  let outcome: 'succeeded' | 'failed' | 'waiting';
  if (READY.has(status) && instance.Endpoint?.Address) {
    await recordSuccess(deps, { target: rdsDrillTargetName(source), succeededAt: deps.now().toISOString(), key: identifier, restoreSeconds: seconds });
    deps.logger.info('RDS drill succeeded', { source, identifier, seconds });
    outcome = 'succeeded';
  } else if (FAILED.has(status) || seconds > RDS_DRILL_GIVE_UP_HOURS * 3600) {
    recordFailure(deps, rdsDrillTargetName(source));
    await alert(deps, `backup-kit RDS restore drill FAILED: ${source}`, [
      `The point-in-time restore drill of ${source} FAILED: ${identifier} is '${status}' after ${Math.round(seconds / 60)} minutes.`,
      `Instance: ${consoleLinks.rdsInstance(deps.settings.region, identifier)} (being deleted)`,
      'Next step: read the RDS events of the instance; a source whose point-in-time restore fails cannot be recovered that way in an incident.',
    ]);
    outcome = 'failed';
  } else {
    return 'waiting';
  }
  await withThrottlingRetry(
    () => deps.rds.send(new DeleteDBInstanceCommand({ DBInstanceIdentifier: identifier, SkipFinalSnapshot: true, DeleteAutomatedBackups: true })),
    backoff(deps),
  );
  return outcome;
}

// ------------------------------------------------------------------ the actions

export async function runDrills(target: string | undefined, deps: DrillDeps, options: { readonly dryRun?: boolean } = {}): Promise<DrillStart[]> {
  const { settings } = deps;
  const ec2 = settings.targets.filter((candidate) => candidate.restore.drill && (target === undefined || candidate.backup.name === target));
  const rds = settings.rdsDrills.filter((drill) => target === undefined || drill.identifier === target || rdsDrillTargetName(drill.identifier) === target);
  if (target !== undefined && ec2.length === 0 && rds.length === 0) {
    const known = [...settings.targets.filter((candidate) => candidate.restore.drill).map((candidate) => candidate.backup.name), ...settings.rdsDrills.map((drill) => rdsDrillTargetName(drill.identifier))];
    throw new RequestRejectedError(`target: '${target}' is not drilled (drilled: ${known.join(', ') || 'none'})`);
  }
  const results: DrillStart[] = [];
  for (const candidate of ec2) results.push(await drillEc2Target(candidate, deps, options.dryRun ?? false));
  for (const drill of rds) results.push(await drillRdsSource(drill, deps, options.dryRun ?? false));
  return results;
}
