import {
  GetRecoveryPointRestoreMetadataCommand,
  ListRecoveryPointsByBackupVaultCommand,
  StartRestoreJobCommand,
  type BackupClient,
  type RecoveryPointByBackupVault,
} from '@aws-sdk/client-backup';
import type { RDSClient } from '@aws-sdk/client-rds';
import { GetBucketVersioningCommand, HeadBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { consoleLinks } from '../../contracts/console-links';
import { RequestRejectedError } from '../../contracts/errors';
import {
  defaultRestoredName,
  restoredNamePrefix,
  type ManagedRestoreRequest,
  type ManagedRestoreSettings,
  type RecoveryPointChoice,
  type RestorableResource,
} from '../../contracts/managed-restore';
import { isoSeconds, rdsIdentifierProblem } from '../../contracts/rds';
import { describeDbClusterIfExists, describeDbInstanceIfExists } from '../shared/rds-instances';
import { awsCall, type RetryOptions } from '../shared/retry';

/**
 * Restores data AWS Backup protects from a recovery point in the kit's vault: an RDS instance,
 * an Aurora cluster or an S3 bucket (whole, or up to five keys or prefixes), always into a new
 * resource named `<source>-restored-…` that does not exist yet. The recovery point is resolved
 * and shown before anything starts; with `dryRun` no mutating call is made at all.
 */

type Regional<T> = { readonly primary: T; readonly dr: T };

export interface ManagedRestoreDependencies {
  readonly backup: Regional<BackupClient>;
  readonly rds: Regional<RDSClient>;
  readonly s3: Regional<S3Client>;
  readonly retry?: RetryOptions;
}

export interface Invocation {
  readonly requestId: string;
  readonly now: Date;
}

export interface ChosenRecoveryPoint {
  readonly arn: string;
  /** What the event asked for: `latest`, `latest-before:…` or the ARN. */
  readonly asked: string;
  readonly vault: string;
  readonly createdAt: string;
  readonly completedAt?: string;
  readonly sizeBytes?: number;
  readonly storage?: string;
}

export interface ManagedRestoreResult {
  readonly outcome: 'dry-run' | 'started';
  readonly summary: string;
  /** `<kind>:<identifier>`. */
  readonly source: string;
  readonly region: string;
  readonly regionRole: 'primary' | 'dr';
  readonly recoveryPoint: ChosenRecoveryPoint;
  /** The new instance, cluster or bucket. */
  readonly target: string;
  readonly restoreJobId?: string;
  /** Every key AWS Backup receives (for a dry run, what it would receive). */
  readonly metadata: Readonly<Record<string, string>>;
  readonly consoleLink: string;
  readonly next: readonly string[];
  readonly warnings: readonly string[];
  readonly requestedBy: string;
  readonly requestId: string;
}

/** Recovery point states that hold restorable data. */
const GOOD_STATES = new Set(['COMPLETED', 'AVAILABLE']);
const RESOURCE_TYPES = { rds: 'RDS', aurora: 'Aurora', s3: 'S3' } as const;
const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

export async function restoreFromRecoveryPoint(
  request: ManagedRestoreRequest,
  settings: ManagedRestoreSettings,
  deps: ManagedRestoreDependencies,
  invocation: Invocation,
): Promise<ManagedRestoreResult> {
  const resource = resolveSource(request.source, settings);
  checkFieldsFitKind(request, resource);
  const regionRole = request.region;
  const region = regionRole === 'dr' ? settings.drRegion : settings.primaryRegion;
  if (regionRole === 'dr' && !resource.copiedToDr) {
    throw new RequestRejectedError(`region: ${resource.name} is in class '${resource.className}', whose rules do not copy to ${settings.drRegion} (copyToDr), so the DR vault holds none of its recovery points; restore in the primary region`);
  }
  if (regionRole === 'dr' && resource.kind !== 's3' && !resource.drNetwork) {
    throw new RequestRejectedError(
      `region: the kit knows no network in ${settings.drRegion} for ${resource.name} and will not restore a database into the default VPC: ${resource.kind === 'rds' ? `list ${resource.identifier} in rds.instances with drReplication (subnetGroupName, securityGroupIds) and deploy, or ` : ''}restore it from the AWS Backup console in ${settings.drRegion}, choosing the subnet group and security groups there`,
    );
  }
  const warnings: string[] = [];
  const requestedBy = request.requestedBy ?? 'unspecified';
  if (request.requestedBy === undefined) warnings.push(`requestedBy was not given: the restore is logged as requested by 'unspecified' (request ID ${invocation.requestId} identifies the call in CloudTrail)`);

  const backup = deps.backup[regionRole];
  const point = await chooseRecoveryPoint(request.recoveryPoint, resource, settings.vaultName, region, backup, deps, invocation.now);
  const target = request.target ?? defaultRestoredName(resource.identifier, point.created);
  checkTargetName(target, resource);
  await refuseExistingTarget(target, resource, region, regionRole, deps);
  if (resource.kind === 's3') warnings.push(...(await sourceVersioningWarnings(resource, settings.primaryRegion, deps)));

  const stored = await awsCall('backup:GetRecoveryPointRestoreMetadata', () =>
    backup.send(new GetRecoveryPointRestoreMetadataCommand({ BackupVaultName: settings.vaultName, RecoveryPointArn: point.summary.arn })),
    deps.retry,
  );
  const token = idempotencyToken(point.summary.arn, target, request.items);
  const metadata = restoreMetadata(stored.RestoreMetadata ?? {}, request, resource, target, token, regionRole);
  const next = nextSteps(request, resource, target, region, metadata);
  const answer = (outcome: ManagedRestoreResult['outcome'], summary: string, restoreJobId?: string): ManagedRestoreResult => ({
    outcome,
    summary,
    source: resource.name,
    region,
    regionRole,
    recoveryPoint: point.summary,
    target,
    ...(restoreJobId ? { restoreJobId } : {}),
    metadata,
    consoleLink: restoreJobId ? consoleLinks.backupRestoreJob(region, restoreJobId) : consoleLinks.backupVault(region, settings.vaultName),
    next:
      outcome === 'dry-run'
        ? ['Check the recovery point and the metadata: they are exactly what AWS Backup will receive.', 'Run the same event without "dryRun" (or with "dryRun": false) to start the restore. Then:', ...next]
        : next,
    warnings,
    requestedBy,
    requestId: invocation.requestId,
  });
  const what = request.items ? `${request.items.length} key(s) or prefix(es) of ${resource.name}` : resource.name;
  if (request.dryRun) {
    return answer('dry-run', `Dry run: nothing was changed. A real run restores ${what} from the recovery point of ${point.summary.createdAt} (${regionRole} vault, ${region}) into the new ${kindNoun(resource)} ${target}.`);
  }
  const started = await awsCall('backup:StartRestoreJob', () =>
    backup.send(new StartRestoreJobCommand({ RecoveryPointArn: point.summary.arn, Metadata: metadata, IamRoleArn: settings.restoreRoleArn, IdempotencyToken: token, ResourceType: RESOURCE_TYPES[resource.kind] })),
    deps.retry,
  );
  const jobId = started.RestoreJobId ?? 'unknown';
  return answer('started', `Restoring ${what} from the recovery point of ${point.summary.createdAt} into the new ${kindNoun(resource)} ${target} (${region}): AWS Backup restore job ${jobId}.`, jobId);
}

/** A bare name, or `<kind>:<name>`, among the resources the config protects by ARN or bucket name. */
export function resolveSource(source: string, settings: ManagedRestoreSettings): RestorableResource {
  const matches = settings.resources.filter((resource) => resource.name === source || resource.identifier === source);
  const [only] = matches;
  if (only && matches.length === 1) return only;
  if (matches.length > 1) {
    throw new RequestRejectedError(`source: '${source}' names ${matches.length} protected resources (${matches.map((resource) => resource.name).join(', ')}): give the one you mean with its kind`);
  }
  const known = settings.resources.map((resource) => resource.name);
  throw new RequestRejectedError(
    `source: '${source}' is not a resource the config protects through AWS Backup by ARN or bucket name (${known.length > 0 ? known.join(', ') : 'none is'}). Add it to awsBackup.classes.<class>.resources and deploy`,
    { source, allowed: known },
  );
}

function checkFieldsFitKind(request: ManagedRestoreRequest, resource: RestorableResource): void {
  if (request.items !== undefined && resource.kind !== 's3') throw new RequestRejectedError(`items: only a bucket's restore takes keys or prefixes; ${resource.name} is restored whole`);
  if (request.instanceClass !== undefined && resource.kind === 's3') throw new RequestRejectedError(`instanceClass: ${resource.name} is a bucket; only a database restore takes an instance class`);
}

function kindNoun(resource: RestorableResource): string {
  return { rds: 'DB instance', aurora: 'Aurora cluster', s3: 'bucket' }[resource.kind];
}

function isContinuous(point: RecoveryPointByBackupVault): boolean {
  return (point.RecoveryPointArn ?? '').includes(':recovery-point:continuous:');
}

async function chooseRecoveryPoint(
  choice: RecoveryPointChoice,
  resource: RestorableResource,
  vaultName: string,
  region: string,
  backup: BackupClient,
  deps: ManagedRestoreDependencies,
  now: Date,
): Promise<{ summary: ChosenRecoveryPoint; created: Date }> {
  const points: RecoveryPointByBackupVault[] = [];
  let token: string | undefined;
  do {
    const page = await awsCall('backup:ListRecoveryPointsByBackupVault', () =>
      backup.send(new ListRecoveryPointsByBackupVaultCommand({ BackupVaultName: vaultName, ByResourceArn: resource.arn, NextToken: token })),
      deps.retry,
    );
    points.push(...(page.RecoveryPoints ?? []).filter((point) => point.ResourceArn === resource.arn));
    token = page.NextToken;
  } while (token);
  const asked = choice.kind === 'arn' ? choice.arn : choice.kind === 'latest' ? 'latest' : `latest-before:${choice.asked}`;
  const where = `vault ${vaultName} in ${region}`;
  const good = points.filter((point) => GOOD_STATES.has(point.Status ?? '') && point.CreationDate instanceof Date && point.RecoveryPointArn);

  let chosen: RecoveryPointByBackupVault | undefined;
  if (choice.kind === 'arn') {
    const named = points.find((point) => point.RecoveryPointArn === choice.arn);
    if (!named) throw new RequestRejectedError(`recoveryPoint: ${choice.arn} is not a recovery point of ${resource.name} in ${where}${range(good)}`);
    if (!good.includes(named)) throw new RequestRejectedError(`recoveryPoint: ${choice.arn} is ${named.Status ?? 'in an unknown state'}${named.StatusMessage ? ` (${named.StatusMessage})` : ''}, not a completed recovery point; pick another${range(good)}`);
    if (isContinuous(named)) throw new RequestRejectedError(`recoveryPoint: ${choice.arn} is a continuous backup, which restores to its latest time, not to a point you chose here: pick a snapshot recovery point${range(good)}, or restore the continuous one to a time from the AWS Backup console`);
    chosen = named;
  } else {
    // A snapshot has finished; a continuous point still running has no completion, whatever its ARN says.
    const snapshots = good.filter((point) => !isContinuous(point) && point.CompletionDate instanceof Date);
    const eligible = choice.kind === 'latest' ? snapshots : snapshots.filter((point) => (point.CreationDate as Date).getTime() < choice.before.getTime());
    chosen = eligible.sort((a, b) => (b.CreationDate as Date).getTime() - (a.CreationDate as Date).getTime())[0];
    if (!chosen) {
      const before = choice.kind === 'latest-before' ? ` created before ${isoSeconds(choice.before)}` : '';
      throw new RequestRejectedError(`recoveryPoint: ${where} holds no completed snapshot recovery point of ${resource.name}${before}${range(snapshots)}`);
    }
  }
  const created = chosen.CreationDate as Date;
  return {
    created,
    summary: {
      arn: chosen.RecoveryPointArn as string,
      asked,
      vault: vaultName,
      createdAt: isoSeconds(created),
      ...(chosen.CompletionDate ? { completedAt: isoSeconds(chosen.CompletionDate) } : {}),
      ...(chosen.BackupSizeInBytes !== undefined ? { sizeBytes: chosen.BackupSizeInBytes } : {}),
      ...(chosen.CalculatedLifecycle?.MoveToColdStorageAt && chosen.CalculatedLifecycle.MoveToColdStorageAt.getTime() <= now.getTime()
        ? { storage: 'cold (a restore from cold storage takes hours longer)' }
        : {}),
    },
  };
}

/** `; the vault holds N from <oldest> to <newest>` so the engineer can pick again. */
function range(points: readonly RecoveryPointByBackupVault[]): string {
  const times = points.map((point) => point.CreationDate).filter((time): time is Date => time instanceof Date).sort((a, b) => a.getTime() - b.getTime());
  const [oldest] = times;
  const newest = times[times.length - 1];
  if (!oldest || !newest) return ' (it holds none: see the resource\'s backup jobs in the AWS Backup console)';
  return ` (it holds ${times.length}, created from ${isoSeconds(oldest)} to ${isoSeconds(newest)})`;
}

function checkTargetName(target: string, resource: RestorableResource): void {
  if (!target.startsWith(restoredNamePrefix(resource.identifier))) {
    throw new RequestRejectedError(`target: must start with '${restoredNamePrefix(resource.identifier)}': a restore creates only resources named after their source, so it can never write into another`);
  }
  const problem =
    resource.kind === 's3'
      ? BUCKET_NAME.test(target) && !target.includes('..') && !/^\d+\.\d+\.\d+\.\d+$/.test(target)
        ? undefined
        : 'must be 3-63 lowercase letters, digits, dots or hyphens, starting and ending with a letter or digit'
      : rdsIdentifierProblem(target);
  if (problem) throw new RequestRejectedError(`target: '${target}' is not a valid ${resource.kind === 's3' ? 'bucket name' : 'RDS identifier'}: ${problem}`);
}

/** A restore never writes into something that exists: the target is refused if it does, in any state. */
async function refuseExistingTarget(target: string, resource: RestorableResource, region: string, regionRole: 'primary' | 'dr', deps: ManagedRestoreDependencies): Promise<void> {
  const refuse = (detail: string) => {
    throw new RequestRejectedError(`target: '${target}' already exists in ${region} (${detail}); a restore never writes into an existing ${kindNoun(resource)}. If it is the result of this same request, the restore is done: use it. Otherwise give another name in "target" (starting with '${restoredNamePrefix(resource.identifier)}')`);
  };
  if (resource.kind === 'rds') {
    const instance = await describeDbInstanceIfExists(deps.rds[regionRole], target, deps.retry);
    if (instance) refuse(`status ${instance.DBInstanceStatus ?? 'unknown'}`);
    return;
  }
  if (resource.kind === 'aurora') {
    const cluster = await describeDbClusterIfExists(deps.rds[regionRole], target, deps.retry);
    if (cluster) refuse(`status ${cluster.Status ?? 'unknown'}`);
    return;
  }
  try {
    await awsCall('s3:ListBucket', () => deps.s3[regionRole].send(new HeadBucketCommand({ Bucket: target })), deps.retry);
    refuse('in this account');
  } catch (error) {
    const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    const name = (error as { name?: string }).name;
    if (name === 'NotFound' || name === 'NoSuchBucket' || status === 404) return;
    // 403 from HeadBucket is another account's bucket; 301 one in another region: both exist.
    if (status === 403 || status === 301) refuse(status === 403 ? 'owned by another account' : 'in another region');
    throw error;
  }
}

/** AWS Backup backs up only versioned buckets: say so when the source's versioning is off, or when it is gone. */
async function sourceVersioningWarnings(resource: RestorableResource, primaryRegion: string, deps: ManagedRestoreDependencies): Promise<string[]> {
  try {
    const versioning = await awsCall('s3:GetBucketVersioning', () => deps.s3.primary.send(new GetBucketVersioningCommand({ Bucket: resource.identifier })), deps.retry);
    if (versioning.Status === 'Enabled') return [];
    return [`the source bucket ${resource.identifier} has versioning ${versioning.Status ?? 'never enabled'}: AWS Backup backs up only versioned buckets, so it has made no new recovery point since; turn versioning on (aws s3api put-bucket-versioning --bucket ${resource.identifier} --versioning-configuration Status=Enabled)`];
  } catch (error) {
    if ((error as { name?: string }).name === 'NoSuchBucket') return [`the source bucket ${resource.identifier} no longer exists in ${primaryRegion}: the restore does not need it. Do not recreate it under its old name until the restored copy is checked`];
    throw error;
  }
}

function idempotencyToken(recoveryPointArn: string, target: string, items: readonly string[] | undefined): string {
  return createHash('sha256').update(JSON.stringify([recoveryPointArn, target, items ?? []])).digest('hex').slice(0, 32);
}

/** Metadata of a recovery point that names things of the primary region only (RDS uses the engine's defaults and the copy's own key without them). */
const PRIMARY_REGION_ONLY_KEYS = new Set(['AvailabilityZone', 'AvailabilityZones', 'DBParameterGroupName', 'DBClusterParameterGroupName', 'OptionGroupName', 'KmsKeyId']);

/** The recovery point's own metadata, with what makes the restore new, safe and where it was asked. */
export function restoreMetadata(
  stored: Readonly<Record<string, string>>,
  request: ManagedRestoreRequest,
  resource: RestorableResource,
  target: string,
  token: string,
  regionRole: 'primary' | 'dr',
): Record<string, string> {
  if (resource.kind === 's3') {
    return {
      ...stored,
      DestinationBucketName: target,
      NewBucket: 'true',
      CreationToken: token,
      ...(request.items ? { ItemsToRestore: JSON.stringify(request.items.map((item) => `s3://${resource.identifier}/${item}`)) } : {}),
    };
  }
  const dr = regionRole === 'dr' ? resource.drNetwork : undefined;
  // A DR copy's metadata still names the primary region's zones, groups and key: none of them exists there.
  const kept = dr ? Object.fromEntries(Object.entries(stored).filter(([key]) => !PRIMARY_REGION_ONLY_KEYS.has(key))) : stored;
  const network: Record<string, string> = dr
    ? {
        DBSubnetGroupName: dr.subnetGroupName,
        VpcSecurityGroupIds: securityGroupList(stored.VpcSecurityGroupIds, dr.securityGroupIds),
        ...(dr.parameterGroupName ? { DBParameterGroupName: dr.parameterGroupName } : {}),
        ...(dr.optionGroupName ? { OptionGroupName: dr.optionGroupName } : {}),
      }
    : {};
  const merged: Record<string, string> = {
    ...kept,
    ...network,
    ...(resource.kind === 'rds' ? { DBInstanceIdentifier: target, PubliclyAccessible: 'false' } : { DBClusterIdentifier: target }),
    ...(resource.kind === 'rds' && request.instanceClass ? { DBInstanceClass: request.instanceClass } : {}),
    DeletionProtection: 'true',
  };
  if (!merged.DBSubnetGroupName) {
    // Without one RDS would place the copy in the default VPC.
    throw new RequestRejectedError(`recoveryPoint: its restore metadata names no DB subnet group; refusing to restore ${resource.name} into the default VPC. Restore it from the AWS Backup console, choosing the network there`);
  }
  return merged;
}

/** In the format the recovery point's own metadata uses: a JSON list, or comma-separated. */
function securityGroupList(stored: string | undefined, groups: readonly string[]): string {
  return stored?.trim().startsWith('[') ? JSON.stringify(groups) : groups.join(',');
}

function nextSteps(request: ManagedRestoreRequest, resource: RestorableResource, target: string, region: string, metadata: Readonly<Record<string, string>>): string[] {
  const follow = 'AWS Backup mails the alert topic if the job fails; follow it in the console link above (Jobs → Restore jobs).';
  if (resource.kind === 's3') {
    return [
      follow,
      `When it completes, check the objects in ${target} (aws s3 ls s3://${target}/ --recursive --summarize); it is a new bucket: copy back what you need, or point the application at it.`,
      'Runbook: docs/aws-backup.md, "A bucket was deleted, or objects in it".',
    ];
  }
  if (resource.kind === 'rds') {
    return [follow, `When it completes, ${target} is a new DB instance with deletion protection on: log in with the credentials of the time of the recovery point (${consoleLinks.rdsInstance(region, target)}).`, 'Runbook: docs/aws-backup.md, "A database must go back further than 35 days".'];
  }
  const instanceClass = request.instanceClass ?? "<the source writer's class>";
  return [
    follow,
    `AWS Backup restores an Aurora cluster without instances. When the job completes, add one: aws rds create-db-instance --region ${region} --db-cluster-identifier ${target} --db-instance-identifier ${target}-1 --db-instance-class ${instanceClass} --engine ${metadata.Engine ?? "<the cluster's engine>"}`,
    'Runbook: docs/aws-backup.md, "A database must go back further than 35 days".',
  ];
}
