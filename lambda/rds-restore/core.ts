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
  CLUSTER_INSTANCE_SUFFIX_LENGTH,
  RDS_IDENTIFIER_MAX_LENGTH,
  defaultRestoreTarget,
  isoSeconds,
  rdsIdentifierProblem,
  type RestoreSettings,
  type RestoreSourceSettings,
} from '../../contracts/rds';
import { describeDbInstanceIfExists } from '../shared/rds-instances';
import { awsCall, type RetryOptions } from '../shared/retry';
import type { RestoreRequest } from '../../contracts/rds-restore-event';
import { drBasis, primaryBasis, type Basis } from './basis';
import { clusterEngine } from './cluster';
import { RESTORE_FAILED, RESTORE_IN_PROGRESS, displayPlan, isSameRequest } from './restored';
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
export type RestorePlan = Record<string, unknown>;

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

/** What a restore of one kind (a DB instance, an Aurora cluster) brings to the common flow below. */
export interface RestoreEngine {
  readonly basis: Omit<Basis, 'parameters'>;
  /** 'instance' or 'cluster', for the answer's sentences. */
  readonly noun: string;
  /** Every parameter of the restore call(s), as the answer shows them. */
  plan(resolved: Resolved, tags: Tag[]): RestorePlan;
  /** The restore that already answers this request, or undefined; refuses a target that exists and is not this request. */
  findExisting(resolved: Resolved): Promise<{ readonly name: string; readonly status: string } | undefined>;
  /** Starts the restore; answers RDS's status of what it created. */
  start(resolved: Resolved, tags: Tag[]): Promise<string>;
  /** For an existing restore of this request: finishes what a previous run left undone; answers what it did. */
  resume?(resolved: Resolved, tags: Tag[]): Promise<string[]>;
  link(region: string, name: string): string;
  /** What RDS does now and where to watch it. */
  creating(target: string, region: string): string;
}

/**
 * Restores an allowlisted RDS DB instance (or Aurora cluster) to a point in time as a new one,
 * checked against the real restorable window, in the source's network and settings, tagged with
 * where it came from and who asked. Never modifies or deletes anything; with `dryRun` it makes no
 * mutating call at all; the same request while its restore runs returns it.
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
      `source '${request.source}' is not in the restore allowlist (${allowed.length > 0 ? allowed.join(', ') : 'no sources are configured'}). Add it to rds.instances (or rds.clusters) in the config and deploy the jobs stack`,
      { source: request.source, allowed },
    );
  }
  const warnings: string[] = [];
  const requestedBy = request.requestedBy ?? 'unspecified';
  if (request.requestedBy === undefined) {
    warnings.push(`requestedBy was not given: the restore is tagged requested-by=unspecified (request ID ${invocation.requestId} identifies the call in CloudTrail)`);
  }

  const engine = source.kind === 'cluster' ? await clusterEngine(request, source, settings, deps) : instanceEngine(request, request.region === 'dr' ? await drBasis(request, source, settings, deps, warnings) : await primaryBasis(request, source, settings, deps), deps);
  const basis = engine.basis;
  const restorePoint = request.restoreTime === 'latest' ? new Date(basis.window.latest) : request.restoreTime;
  const restoreTimeTag = request.restoreTime === 'latest' ? 'latest' : isoSeconds(request.restoreTime);
  const target = request.target ?? defaultRestoreTarget(source.identifier, restorePoint);
  const targetProblem = rdsIdentifierProblem(target, source.kind === 'cluster' ? RDS_IDENTIFIER_MAX_LENGTH - CLUSTER_INSTANCE_SUFFIX_LENGTH : RDS_IDENTIFIER_MAX_LENGTH);
  if (targetProblem) {
    throw new RequestRejectedError(`target '${target}' is not a valid RDS identifier${source.kind === 'cluster' ? ' for a cluster (its instances add -<n>)' : ''}: ${targetProblem}`);
  }
  const resolved: Resolved = { ...basis, source, restoreTimeTag, restorePoint, target };

  const tags = restoreTags(basis.sourceTags, resolved, requestedBy, invocation, warnings);
  const answer = (outcome: RestoreOutcome, name: string, status: string, summary: string, next: string[]): RestoreResult => ({
    outcome,
    summary,
    target: name,
    status,
    source: source.identifier,
    region: resolved.region,
    regionRole: resolved.regionRole,
    restoreTime: restoreTimeTag,
    restorePoint: isoSeconds(restorePoint),
    window: basis.window,
    consoleLink: engine.link(resolved.region, name),
    next,
    plan: engine.plan(resolved, tags),
    encryption: basis.encryption,
    requestedBy,
    requestId: invocation.requestId,
    warnings,
  });

  // Idempotency first: a repeated request answers with its restore even if the window moved on.
  const existing = await engine.findExisting(resolved);
  if (existing) {
    const { name, status } = existing;
    if (request.dryRun) {
      return answer('dry-run', name, status, `Dry run: nothing was changed. This request was already made: ${name} (${status}) restores ${source.identifier} to ${restoreTimeTag}; a real run would return it rather than start another.`, [
        `Open ${name} in the console: ${engine.link(resolved.region, name)}`,
      ]);
    }
    const resumed = (await engine.resume?.(resolved, tags)) ?? [];
    const also = resumed.length > 0 ? ` ${resumed.join(' ')}` : '';
    return RESTORE_IN_PROGRESS.has(status)
      ? answer('already-in-progress', name, status, `This restore is already running: ${name} is being restored from ${source.identifier} to ${restoreTimeTag} (status ${status}). No second ${engine.noun} was started.${also}`, inProgressNext(engine, name, resolved))
      : answer('already-restored', name, status, `This restore already happened: ${name} holds ${source.identifier} as of ${restoreTimeTag} (status ${status}). No second ${engine.noun} was started.${also}`, restoredNext(engine, name, resolved));
  }

  checkInsideWindow(request, resolved);

  if (request.dryRun) {
    return answer(
      'dry-run',
      target,
      'not started (dry run)',
      `Dry run: nothing was changed. A real run restores ${source.identifier} (${resolved.region}) to ${describePoint(request, restorePoint)} as ${target} with the plan below.`,
      [
        `Check the plan: subnet group, security groups, parameter group and instance class${engine.noun === 'cluster' ? 'es' : ''} are those the copy will get.`,
        'Run the same event without "dryRun" (or with "dryRun": false) to start the restore.',
      ],
    );
  }

  const status = await engine.start(resolved, tags);
  return answer(
    'started',
    target,
    status,
    `Restoring ${source.identifier} (${resolved.region}) to ${describePoint(request, restorePoint)} as ${target}. RDS is creating it now.`,
    inProgressNext(engine, target, resolved),
  );
}

/** A DB instance's restore: RestoreDBInstanceToPointInTime from the source or its replicated backups. */
function instanceEngine(request: RestoreRequest, basis: Basis, deps: RestoreDependencies): RestoreEngine {
  const call = (resolved: Resolved, tags: Tag[]): RestoreDBInstanceToPointInTimeCommandInput => ({ TargetDBInstanceIdentifier: resolved.target, ...restorePointParameters(request), ...basis.parameters, Tags: tags });
  return {
    basis,
    noun: 'instance',
    plan: (resolved, tags) => displayPlan(call(resolved, tags)),
    findExisting: async (resolved) => {
      const instance = await findExistingRestore(resolved, deps);
      return instance && { name: instance.DBInstanceIdentifier ?? resolved.target, status: instance.DBInstanceStatus ?? 'unknown' };
    },
    start: async (resolved, tags) => (await startRestore(call(resolved, tags), resolved, deps))?.DBInstanceStatus ?? 'creating',
    link: consoleLinks.rdsInstance,
    creating: (target, region) => `RDS is creating ${target}; this usually takes 10-40 minutes, more for large databases or many logs to replay. Watch it: ${consoleLinks.rdsInstance(region, target)}`,
  };
}

function restorePointParameters(request: RestoreRequest): Pick<RestoreDBInstanceToPointInTimeCommandInput, 'RestoreTime' | 'UseLatestRestorableTime'> {
  return request.restoreTime === 'latest' ? { UseLatestRestorableTime: true } : { RestoreTime: request.restoreTime };
}

function describePoint(request: RestoreRequest, restorePoint: Date): string {
  return request.restoreTime === 'latest' ? `its latest restorable time (${isoSeconds(restorePoint)} when checked)` : isoSeconds(restorePoint);
}

export function checkInsideWindow(request: RestoreRequest, resolved: Resolved): void {
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


function inProgressNext(engine: RestoreEngine, target: string, resolved: Resolved): string[] {
  const settings =
    resolved.regionRole === 'primary'
      ? "It has the source's network (subnet group, security groups), parameter and option groups, port and encryption"
      : `It is in the DR network from the config (subnet group ${resolved.source.dr?.subnetGroupName ?? '?'}), with the port and encryption of the replicated backups`;
  return [
    engine.creating(target, resolved.region),
    'When it is available, the alert topic receives a message with its endpoint, port and the minutes it took.',
    `${settings}; log in with the source's credentials as they were at ${resolved.restoreTimeTag === 'latest' ? 'the restore point' : resolved.restoreTimeTag}.`,
    'Deletion protection is on. To point the application at it or to remove it, follow the runbook docs/runbooks/rds-point-in-time.md.',
  ];
}

function restoredNext(engine: RestoreEngine, target: string, resolved: Resolved): string[] {
  return [
    `Use ${target}: ${engine.link(resolved.region, target)}`,
    'To point the application at it or to remove it, follow the runbook docs/runbooks/rds-point-in-time.md.',
  ];
}
