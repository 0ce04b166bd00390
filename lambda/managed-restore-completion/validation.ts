import { PutRestoreValidationResultCommand, type BackupClient, type DescribeRestoreJobCommandOutput } from '@aws-sdk/client-backup';
import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import type { DBInstance, RDSClient } from '@aws-sdk/client-rds';
import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { isoSeconds } from '../../contracts/rds';
import { probeProtocolOf, probeResultSchema, type ProbeRequest, type ProbeResult } from '../../contracts/database-probe';
import { errorMessage, parseEventWith } from '../../contracts/errors';
import { RESTORE_TEST_PREFIX, type RestorableResource } from '../../contracts/managed-restore';
import { describeDbClusterIfExists, describeDbInstanceIfExists } from '../shared/rds-instances';
import { awsCall, type RetryOptions } from '../shared/retry';

/**
 * The validation of an AWS Backup restore test: what the restored copy holds, checked before AWS
 * Backup deletes it, and the verdict stamped on the restore job (PutRestoreValidationResult), where
 * the AWS Backup console and its reports show it.
 *
 * A bucket: every object of the live bucket older than the recovery point (less an hour of slack,
 * as a backup is not instantaneous) is in the copy with the same size, and a copy of a non-empty
 * bucket is not empty. A database: the copy exists, is available, encrypted when the source was,
 * and not publicly accessible; and when the config gives it probes, an RDS instance's copy answers
 * them (the database probe function, in the copies' VPC, signs in with an IAM token and runs the
 * configured SQL read-only; this function holds no credentials and sends no SQL).
 */

/** Objects written this close before the recovery point may or may not be in it. */
const SLACK_MS = 3_600_000;
/** The most keys listed per bucket: a larger bucket is compared on its first keys, in key order. */
const LISTING_LIMIT = 200_000;
/** PutRestoreValidationResult takes a short message. */
const MESSAGE_LIMIT = 1000;

export interface ValidationDependencies {
  readonly backup: BackupClient;
  /** S3 of the region the copy is in, and of the primary region where the live bucket is. */
  readonly s3: { readonly copy: S3Client; readonly live: S3Client };
  readonly rds: RDSClient;
  /**
   * Runs the configured probes of a database on its copy (the database probe function).
   * @default - none: a probed database's copy fails validation, saying the probe cannot be reached
   */
  readonly probe?: (request: ProbeRequest) => Promise<ProbeResult>;
  readonly retry?: RetryOptions;
}

export interface Verdict {
  readonly status: 'SUCCESSFUL' | 'FAILED';
  readonly summary: string;
  readonly problems: readonly string[];
}

export async function validateRestoreTest(job: DescribeRestoreJobCommandOutput, resource: RestorableResource, deps: ValidationDependencies): Promise<Verdict> {
  const created = job.CreatedResourceArn ?? '';
  const name = created.slice(Math.max(created.lastIndexOf(':'), created.lastIndexOf('/')) + 1);
  // Only AWS Backup's own test copies are read, whatever the job says it created.
  if (!name.startsWith(RESTORE_TEST_PREFIX)) {
    return verdict(`${resource.name}: the restore test created '${name || 'nothing'}', not a ${RESTORE_TEST_PREFIX}-* copy; nothing was read`, [`unexpected copy '${name || 'none'}'`]);
  }
  if (resource.kind === 's3') return validateBucket(job, resource, name, deps);
  return validateDatabase(resource, name, deps);
}

function verdict(summary: string, problems: readonly string[]): Verdict {
  return { status: problems.length > 0 ? 'FAILED' : 'SUCCESSFUL', summary, problems };
}

async function listSizes(client: S3Client, bucket: string, deps: ValidationDependencies): Promise<{ objects: Map<string, { size: number; modified: number }>; complete: boolean }> {
  const objects = new Map<string, { size: number; modified: number }>();
  let token: string | undefined;
  do {
    const page = await awsCall('s3:ListBucket', () => client.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token })), deps.retry);
    for (const entry of page.Contents ?? []) {
      if (entry.Key !== undefined) objects.set(entry.Key, { size: entry.Size ?? 0, modified: entry.LastModified?.getTime() ?? 0 });
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token && objects.size < LISTING_LIMIT);
  return { objects, complete: token === undefined };
}

async function validateBucket(job: DescribeRestoreJobCommandOutput, resource: RestorableResource, copy: string, deps: ValidationDependencies): Promise<Verdict> {
  const restored = await listSizes(deps.s3.copy, copy, deps);
  let live: Awaited<ReturnType<typeof listSizes>> | undefined;
  try {
    live = await listSizes(deps.s3.live, resource.identifier, deps);
  } catch (error) {
    if ((error as { name?: string }).name !== 'NoSuchBucket') throw error;
  }
  // Without the recovery point's time no live object is known to belong in the copy: only the count is then meaningful.
  const cutoff = job.RecoveryPointCreationDate ? job.RecoveryPointCreationDate.getTime() - SLACK_MS : Number.NEGATIVE_INFINITY;
  const problems: string[] = [];
  if (!live) {
    if (restored.objects.size === 0) problems.push('the copy is empty');
    return verdict(`${resource.name}: ${restored.objects.size} objects restored; the live bucket no longer exists, so only the count was checked`, problems);
  }
  if (restored.objects.size === 0 && live.objects.size > 0) problems.push(`the copy is empty while the live bucket holds ${live.objects.size} objects`);
  const missing: string[] = [];
  const differing: string[] = [];
  let compared = 0;
  const bothComplete = restored.complete && live.complete;
  for (const [key, object] of live.objects) {
    if (object.modified >= cutoff) continue;
    const copyOfIt = restored.objects.get(key);
    if (!copyOfIt) {
      // A partial listing of the copy may simply not have reached the key.
      if (bothComplete) missing.push(key);
      continue;
    }
    compared += 1;
    if (copyOfIt.size !== object.size) differing.push(`${key} (${copyOfIt.size} bytes, live ${object.size})`);
  }
  if (missing.length > 0) problems.push(`${missing.length} objects older than the recovery point are missing from the copy, e.g. ${missing.slice(0, 3).join(', ')}`);
  if (differing.length > 0) problems.push(`${differing.length} objects differ in size from the live bucket, e.g. ${differing.slice(0, 3).join(', ')}`);
  const partial = bothComplete ? '' : ` (the first ${LISTING_LIMIT} keys of each)`;
  const point = job.RecoveryPointCreationDate ? ` of ${isoSeconds(job.RecoveryPointCreationDate)}` : '';
  return verdict(`${resource.name}: ${restored.objects.size} objects restored from the recovery point${point}; ${compared} older objects of the live bucket compared by key and size${partial}`, problems);
}

async function validateDatabase(resource: RestorableResource, copy: string, deps: ValidationDependencies): Promise<Verdict> {
  const problems: string[] = [];
  if (resource.kind === 'rds') {
    const instance = await describeDbInstanceIfExists(deps.rds, copy, deps.retry);
    if (!instance) return verdict(`${resource.name}: the copy ${copy} does not exist`, ['the copy does not exist']);
    if (instance.DBInstanceStatus !== 'available') problems.push(`the copy is ${instance.DBInstanceStatus ?? 'in an unknown state'}, not available`);
    if (!instance.StorageEncrypted) problems.push('the copy is not encrypted');
    if (instance.PubliclyAccessible) problems.push('the copy is publicly accessible');
    const probed = resource.probed && instance.DBInstanceStatus === 'available' ? await probeCopy(resource, instance, deps) : undefined;
    problems.push(...(probed?.problems ?? []));
    return verdict(`${resource.name}: the copy ${copy} (${instance.Engine ?? '?'} ${instance.EngineVersion ?? ''}, ${instance.DBInstanceClass ?? '?'}) is ${instance.DBInstanceStatus ?? '?'}${probed?.summary ?? ''}`.replace(' )', ')'), problems);
  }
  const cluster = await describeDbClusterIfExists(deps.rds, copy, deps.retry);
  if (!cluster) return verdict(`${resource.name}: the copy ${copy} does not exist`, ['the copy does not exist']);
  if (cluster.Status !== 'available') problems.push(`the copy is ${cluster.Status ?? 'in an unknown state'}, not available`);
  if (!cluster.StorageEncrypted) problems.push('the copy is not encrypted');
  return verdict(`${resource.name}: the copy ${copy} (${cluster.Engine ?? '?'} ${cluster.EngineVersion ?? ''}) is ${cluster.Status ?? '?'}`.replace(' )', ')'), problems);
}

/** The configured probes run on an available copy: a summary to append, and what failed. */
async function probeCopy(resource: RestorableResource, instance: DBInstance, deps: ValidationDependencies): Promise<{ summary: string; problems: string[] }> {
  const protocol = probeProtocolOf(instance.Engine);
  const host = instance.Endpoint?.Address;
  const port = instance.Endpoint?.Port;
  if (!protocol) return { summary: '; not probed', problems: [`the copy's engine ${instance.Engine ?? '(unknown)'} is not one the probes speak (PostgreSQL, MySQL, MariaDB)`] };
  if (!instance.IAMDatabaseAuthenticationEnabled) {
    return { summary: '; not probed', problems: ["IAM database authentication is off on the copy, so the probes could not sign in: turn it on in the source database (its snapshots, and so the copies, carry it)"] };
  }
  if (!host || port === undefined) return { summary: '; not probed', problems: ['RDS gives the copy no endpoint to probe'] };
  if (!deps.probe) return { summary: '; not probed', problems: ['the copy has probes in the config, but the database probe function cannot be reached from here (restore tests run in the primary region)'] };
  let result: ProbeResult;
  try {
    result = await deps.probe({ resource: resource.name, protocol, host, port });
  } catch (error) {
    return { summary: '; not probed', problems: [`the database probe failed: ${errorMessage(error).slice(0, 300)}`] };
  }
  if (!result.connected) return { summary: '; not probed', problems: [`the probe ${result.error ?? 'could not sign in'} (are the copies' security groups open to the probe function's on port ${port}, and does the probe user exist in the source with IAM authentication?)`] };
  const failed = result.checks.filter((check) => !check.held);
  return {
    summary: `; ${result.checks.length - failed.length} of ${result.checks.length} probes held`,
    problems: failed.map((check) => `probe '${check.statement.replace(/\s+/g, ' ').slice(0, 80)}' ${check.detail}`),
  };
}

/** Calls the database probe function and reads its answer; an error it threw is thrown here with its message. */
export async function invokeProbe(lambda: LambdaClient, functionName: string, request: ProbeRequest, retry?: RetryOptions): Promise<ProbeResult> {
  const answer = await awsCall('lambda:InvokeFunction', () => lambda.send(new InvokeCommand({ FunctionName: functionName, Payload: new TextEncoder().encode(JSON.stringify(request)) })), retry);
  const text = answer.Payload ? new TextDecoder().decode(answer.Payload) : '';
  let payload: unknown;
  try {
    payload = JSON.parse(text);
  } catch {
    throw new Error(`the probe function answered no JSON: ${text.slice(0, 200)}`);
  }
  if (answer.FunctionError) {
    const message = (payload as { errorMessage?: unknown } | null)?.errorMessage;
    throw new Error(`the probe function failed (${answer.FunctionError}): ${typeof message === 'string' ? message : text.slice(0, 200)}`);
  }
  try {
    return parseEventWith(probeResultSchema, payload);
  } catch (error) {
    throw new Error(`the probe function answered in an unknown form: ${errorMessage(error).slice(0, 200)}`);
  }
}

/** Stamps the verdict on the restore job; a verdict already stamped (a repeated event) stays. */
export async function stampVerdict(jobId: string, found: Verdict, deps: Pick<ValidationDependencies, 'backup' | 'retry'>): Promise<'stamped' | 'already-stamped'> {
  const message = [found.summary, ...found.problems].join('; ').slice(0, MESSAGE_LIMIT);
  try {
    await awsCall('backup:PutRestoreValidationResult', () => deps.backup.send(new PutRestoreValidationResultCommand({ RestoreJobId: jobId, ValidationStatus: found.status, ValidationStatusMessage: message })), deps.retry);
    return 'stamped';
  } catch (error) {
    if ((error as { name?: string }).name === 'InvalidRequestException' && /already/i.test((error as Error).message)) return 'already-stamped';
    throw error;
  }
}
