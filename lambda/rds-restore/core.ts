import {
  DescribeDBInstancesCommand,
  RestoreDBInstanceToPointInTimeCommand,
  type DBInstance,
  type RDSClient,
  type RestoreDBInstanceToPointInTimeCommandInput,
  type Tag,
} from '@aws-sdk/client-rds';
import { consoleLinks } from '../../contracts/console-links';
import { RequestRejectedError } from '../../contracts/errors';
import {
  RDS_MAX_TAGS,
  RESTORE_TAGS,
  RESTORE_TAG_KEYS,
  defaultRestoreTarget,
  isoSeconds,
  rdsIdentifierProblem,
  type RestoreSettings,
  type RestoreSourceSettings,
} from '../../contracts/rds';
import { describeDbInstanceIfExists } from '../shared/rds-instances';
import { awsCall, type RetryOptions } from '../shared/retry';
import type { RestoreRequest } from '../../contracts/rds-restore-event';
import { drBasis, primaryBasis } from './basis';
/** RDS clients for the two regions a restore can run in. */
export interface RestoreClients {
  readonly primary: RDSClient;
  readonly dr: RDSClient;
}

/** What the invocation knows about itself; the Lambda context does not carry the console user. */
export interface Invocation {
  /** The Lambda request ID (CloudTrail's Invoke record carries the same ID). */
  readonly requestId: string;
  /** When the function was invoked. */
  readonly now: Date;
}

export interface RestoreDependencies {
  readonly rds: RestoreClients;
  /** Backoff of throttled calls (tests pass one that does not wait). */
  readonly retry?: RetryOptions;
}

/** The restorable window the request was checked against (ISO 8601, UTC). */
export interface RestorableWindow {
  readonly earliest: string;
  readonly latest: string;
}

export type RestoreOutcome = 'started' | 'already-in-progress' | 'already-restored' | 'dry-run';

/** `RestoreDBInstanceToPointInTime` parameters as the answer shows them (times as strings). */
export type RestorePlan = Omit<RestoreDBInstanceToPointInTimeCommandInput, 'RestoreTime'> & { RestoreTime?: string };

/**
 * Encryption of the copy. RestoreDBInstanceToPointInTime takes no key: the copy is encrypted
 * with the key of the source (or, in the DR region, of the replicated backups).
 */
export interface Encryption {
  readonly encrypted: boolean;
  readonly kmsKeyId?: string;
}

/** What the engineer reads in the console after an invocation. */
export interface RestoreResult {
  readonly outcome: RestoreOutcome;
  readonly summary: string;
  readonly target: string;
  readonly status: string;
  readonly source: string;
  readonly region: string;
  readonly regionRole: 'primary' | 'dr';
  /** What was asked: `latest` or the time, in UTC. */
  readonly restoreTime: string;
  /** The point the data is restored to (for `latest`, the latest restorable time when checked). */
  readonly restorePoint: string;
  readonly window: RestorableWindow;
  readonly consoleLink: string;
  readonly next: readonly string[];
  /** Every parameter of the restore call (for an existing restore, the call this request would have made). */
  readonly plan: RestorePlan;
  readonly encryption: Encryption;
  readonly requestedBy: string;
  readonly requestId: string;
  readonly warnings: readonly string[];
}

/** Statuses of an instance whose restore RDS is still carrying out. */
const RESTORE_IN_PROGRESS = new Set([
  'creating',
  'configuring-enhanced-monitoring',
  'configuring-iam-database-auth',
  'configuring-log-exports',
]);

/** Statuses in which a restored instance will never become usable. */
const RESTORE_FAILED = new Set([
  'failed',
  'incompatible-restore',
  'incompatible-parameters',
  'incompatible-network',
  'inaccessible-encryption-credentials',
  'inaccessible-encryption-credentials-recoverable',
  'storage-full',
]);

/** The resolved request: which source, where, to which point and under which name. */
export interface Resolved {
  readonly source: RestoreSourceSettings;
  readonly regionRole: 'primary' | 'dr';
  readonly region: string;
  readonly client: RDSClient;
  readonly window: RestorableWindow;
  readonly restoreTimeTag: string;
  readonly restorePoint: Date;
  readonly target: string;
}

/**
 * Restores an allowlisted RDS DB instance to a point in time as a new instance, checked
 * against the real restorable window, in the source's network and settings, tagged with
 * where it came from and who asked. Never modifies or deletes anything; with `dryRun`
 * it makes no mutating call at all; the same request while its restore runs returns it.
 */
export async function restoreToPointInTime(
  request: RestoreRequest,
  settings: RestoreSettings,
  deps: RestoreDependencies,
  invocation: Invocation,
): Promise<RestoreResult> {
  const source = settings.sources.find((candidate) => candidate.identifier === request.source);
  if (!source) {
    const allowed = settings.sources.map((candidate) => candidate.identifier);
    throw new RequestRejectedError(
      `source '${request.source}' is not in the restore allowlist (${allowed.length > 0 ? allowed.join(', ') : 'no sources are configured'}). Add it to rds.instances in the config and deploy the jobs stack`,
      { source: request.source, allowed },
    );
  }
  const warnings: string[] = [];
  const requestedBy = request.requestedBy ?? 'unspecified';
  if (request.requestedBy === undefined) {
    warnings.push(`requestedBy was not given: the instance is tagged requested-by=unspecified (request ID ${invocation.requestId} identifies the call in CloudTrail)`);
  }

  const basis =
    request.region === 'dr'
      ? await drBasis(request, source, settings, deps, warnings)
      : await primaryBasis(request, source, settings, deps);

  const restorePoint = request.restoreTime === 'latest' ? new Date(basis.window.latest) : request.restoreTime;
  const restoreTimeTag = request.restoreTime === 'latest' ? 'latest' : isoSeconds(request.restoreTime);
  const target = request.target ?? defaultRestoreTarget(source.identifier, restorePoint);
  const targetProblem = rdsIdentifierProblem(target);
  if (targetProblem) {
    throw new RequestRejectedError(`target '${target}' is not a valid RDS identifier: ${targetProblem}`);
  }
  const resolved: Resolved = { ...basis, source, restoreTimeTag, restorePoint, target };

  const tags = restoreTags(basis.sourceTags, resolved, requestedBy, invocation, warnings);
  const plan = { TargetDBInstanceIdentifier: target, ...restorePointParameters(request), ...basis.parameters, Tags: tags };
  const answer = (outcome: RestoreOutcome, instanceTarget: string, status: string, summary: string, next: string[]): RestoreResult => ({
    outcome,
    summary,
    target: instanceTarget,
    status,
    source: source.identifier,
    region: resolved.region,
    regionRole: resolved.regionRole,
    restoreTime: restoreTimeTag,
    restorePoint: isoSeconds(restorePoint),
    window: basis.window,
    consoleLink: consoleLinks.rdsInstance(resolved.region, instanceTarget),
    next,
    plan: displayPlan(plan),
    encryption: basis.encryption,
    requestedBy,
    requestId: invocation.requestId,
    warnings,
  });

  // Idempotency first: a repeated request answers with its restore even if the window moved on.
  const existing = await findExistingRestore(resolved, deps);
  if (existing) {
    const status = existing.DBInstanceStatus ?? 'unknown';
    const name = existing.DBInstanceIdentifier ?? target;
    const inProgress = RESTORE_IN_PROGRESS.has(status);
    if (request.dryRun) {
      return answer('dry-run', name, status, `Dry run: nothing was changed. This request was already made: ${name} (${status}) restores ${source.identifier} to ${restoreTimeTag}; a real run would return it rather than start another.`, [
        `Open ${name} in the console: ${consoleLinks.rdsInstance(resolved.region, name)}`,
      ]);
    }
    return inProgress
      ? answer('already-in-progress', name, status, `This restore is already running: ${name} is being restored from ${source.identifier} to ${restoreTimeTag} (status ${status}). No second instance was started.`, inProgressNext(name, resolved))
      : answer('already-restored', name, status, `This restore already happened: ${name} holds ${source.identifier} as of ${restoreTimeTag} (status ${status}). No second instance was started.`, restoredNext(name, resolved));
  }

  checkInsideWindow(request, resolved);

  if (request.dryRun) {
    return answer(
      'dry-run',
      target,
      'not started (dry run)',
      `Dry run: nothing was changed. A real run restores ${source.identifier} (${resolved.region}) to ${describePoint(request, restorePoint)} as ${target} with the plan below.`,
      [
        'Check the plan: subnet group, security groups, parameter group and instance class are those the copy will get.',
        'Run the same event without "dryRun" (or with "dryRun": false) to start the restore.',
      ],
    );
  }

  const instance = await startRestore(plan, resolved, deps);
  const status = instance?.DBInstanceStatus ?? 'creating';
  return answer(
    'started',
    target,
    status,
    `Restoring ${source.identifier} (${resolved.region}) to ${describePoint(request, restorePoint)} as ${target}. RDS is creating it now.`,
    inProgressNext(target, resolved),
  );
}

function restorePointParameters(request: RestoreRequest): Pick<RestoreDBInstanceToPointInTimeCommandInput, 'RestoreTime' | 'UseLatestRestorableTime'> {
  return request.restoreTime === 'latest' ? { UseLatestRestorableTime: true } : { RestoreTime: request.restoreTime };
}

function describePoint(request: RestoreRequest, restorePoint: Date): string {
  return request.restoreTime === 'latest' ? `its latest restorable time (${isoSeconds(restorePoint)} when checked)` : isoSeconds(restorePoint);
}

function checkInsideWindow(request: RestoreRequest, resolved: Resolved): void {
  if (request.restoreTime === 'latest') return;
  const time = request.restoreTime.getTime();
  const { earliest, latest } = resolved.window;
  if (time >= Date.parse(earliest) && time <= Date.parse(latest)) return;
  const side = time < Date.parse(earliest) ? 'before the earliest' : 'after the latest';
  throw new RequestRejectedError(
    `restoreTime ${isoSeconds(request.restoreTime)} is outside the restorable window of ${resolved.source.identifier} in ${resolved.region}: ${earliest} to ${latest} (UTC); it is ${side} restorable time. Pick a time inside the window, or "latest"`,
    { window: resolved.window },
  );
}

/** The source's tags (bar AWS's and this function's own), then the restore's tags, within RDS's 50. */
function restoreTags(sourceTags: readonly Tag[], resolved: Resolved, requestedBy: string, invocation: Invocation, warnings: string[]): Tag[] {
  const own: Tag[] = [
    { Key: RESTORE_TAGS.restoredFrom, Value: resolved.source.identifier },
    { Key: RESTORE_TAGS.restoreTime, Value: resolved.restoreTimeTag },
    { Key: RESTORE_TAGS.restorePoint, Value: isoSeconds(resolved.restorePoint) },
    { Key: RESTORE_TAGS.requestedBy, Value: requestedBy },
    { Key: RESTORE_TAGS.requestedAt, Value: isoSeconds(invocation.now) },
    { Key: RESTORE_TAGS.requestId, Value: invocation.requestId },
  ];
  const inherited = sourceTags.filter((tag) => tag.Key && !tag.Key.startsWith('aws:') && !RESTORE_TAG_KEYS.has(tag.Key));
  const room = RDS_MAX_TAGS - own.length;
  if (inherited.length > room) {
    warnings.push(`the source has ${inherited.length} tags; RDS allows ${RDS_MAX_TAGS}, so these were not copied: ${inherited.slice(room).map((tag) => tag.Key).join(', ')}`);
  }
  return [...inherited.slice(0, room).map((tag) => ({ Key: tag.Key, Value: tag.Value ?? '' })), ...own];
}

function tagValue(instance: DBInstance, key: string): string | undefined {
  return instance.TagList?.find((tag) => tag.Key === key)?.Value;
}

function isSameRequest(instance: DBInstance, resolved: Resolved): boolean {
  return (
    tagValue(instance, RESTORE_TAGS.restoredFrom) === resolved.source.identifier &&
    tagValue(instance, RESTORE_TAGS.restoreTime) === resolved.restoreTimeTag
  );
}

/**
 * An instance that already answers this request: the target itself carrying this request's
 * tags, or any instance still being restored from the same source to the same time. An
 * existing target that is not this request is refused, never reused or overwritten.
 */
async function findExistingRestore(resolved: Resolved, deps: RestoreDependencies): Promise<DBInstance | undefined> {
  const instances = await listInstances(resolved.client, deps);
  const atTarget = instances.find((instance) => instance.DBInstanceIdentifier === resolved.target);
  if (atTarget) {
    const status = atTarget.DBInstanceStatus ?? 'unknown';
    if (!isSameRequest(atTarget, resolved)) {
      throw new RequestRejectedError(
        `target '${resolved.target}' already exists in ${resolved.region} (status ${status}) and is not this restore: it is never overwritten. Give another name in "target" (starting with '${resolved.source.identifier}-pitr-')`,
        { target: resolved.target, status },
      );
    }
    if (status === 'deleting') {
      throw new RequestRejectedError(`target '${resolved.target}' from this same request is being deleted; wait until it is gone, or give another name in "target"`);
    }
    if (RESTORE_FAILED.has(status)) {
      throw new RequestRejectedError(
        `target '${resolved.target}' from this same request exists but its restore failed (status ${status}); see its events in the console, delete it (runbook: Clean up) or give another name in "target"`,
        { target: resolved.target, status },
      );
    }
    return atTarget;
  }
  return instances.find((instance) => isSameRequest(instance, resolved) && RESTORE_IN_PROGRESS.has(instance.DBInstanceStatus ?? ''));
}

async function startRestore(plan: RestoreDBInstanceToPointInTimeCommandInput, resolved: Resolved, deps: RestoreDependencies): Promise<DBInstance | undefined> {
  try {
    const output = await awsCall('rds:RestoreDBInstanceToPointInTime', () => resolved.client.send(new RestoreDBInstanceToPointInTimeCommand(plan)), deps.retry);
    return output.DBInstance;
  } catch (error) {
    // A retried or concurrent identical request may have won the race: answer with its instance.
    if ((error as { name?: string }).name === 'DBInstanceAlreadyExistsFault') {
      const winner = await describeInstance(resolved.client, resolved.target, deps);
      if (winner && isSameRequest(winner, resolved)) return winner;
      throw new RequestRejectedError(`target '${resolved.target}' was created by someone else meanwhile; it is not overwritten. Give another name in "target"`);
    }
    throw error;
  }
}

function describeInstance(client: RDSClient, identifier: string, deps: RestoreDependencies): Promise<DBInstance | undefined> {
  return describeDbInstanceIfExists(client, identifier, deps.retry);
}

async function listInstances(client: RDSClient, deps: RestoreDependencies): Promise<DBInstance[]> {
  const instances: DBInstance[] = [];
  let marker: string | undefined;
  do {
    const page = await awsCall('rds:DescribeDBInstances', () => client.send(new DescribeDBInstancesCommand({ Marker: marker, MaxRecords: 100 })), deps.retry);
    instances.push(...(page.DBInstances ?? []));
    marker = page.Marker;
  } while (marker);
  return instances;
}

function displayPlan(plan: RestoreDBInstanceToPointInTimeCommandInput): RestorePlan {
  return Object.fromEntries(
    Object.entries(plan)
      .filter(([, value]) => value !== undefined)
      .map(([key, value]) => [key, value instanceof Date ? isoSeconds(value) : value]),
  ) as RestorePlan;
}

function inProgressNext(target: string, resolved: Resolved): string[] {
  const settings =
    resolved.regionRole === 'primary'
      ? "It has the source's network (subnet group, security groups), parameter and option groups, port and encryption"
      : `It is in the DR network from the config (subnet group ${resolved.source.dr?.subnetGroupName ?? '?'}), with the port and encryption of the replicated backups`;
  return [
    `RDS is creating ${target}; this usually takes 10-40 minutes, more for large databases or many logs to replay. Watch it: ${consoleLinks.rdsInstance(resolved.region, target)}`,
    'When it is available, the alert topic receives a message with its endpoint, port and the minutes it took.',
    `${settings}; log in with the source's credentials as they were at ${resolved.restoreTimeTag === 'latest' ? 'the restore point' : resolved.restoreTimeTag}.`,
    'Deletion protection is on. To point the application at it or to remove it, follow the runbook docs/runbooks/rds-point-in-time.md.',
  ];
}

function restoredNext(target: string, resolved: Resolved): string[] {
  return [
    `Use ${target}: ${consoleLinks.rdsInstance(resolved.region, target)}`,
    'To point the application at it or to remove it, follow the runbook docs/runbooks/rds-point-in-time.md.',
  ];
}
