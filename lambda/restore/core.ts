import { GetObjectCommand, HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import {
  DescribeInstanceInformationCommand,
  SendCommandCommand,
  type InstanceInformation,
  type SSMClient,
} from '@aws-sdk/client-ssm';
import { z } from 'zod';
import { pinnedDocumentVersion } from '../backup-trigger/core';
import { ABSOLUTE_PATH_PATTERN, DB_NAME_PATTERN, TARGET_NAME_PATTERN } from '../shared/backup-command';
import { consoleLinks } from '../shared/console-links';
import { isWithin, pathsOverlap, plainPathProblem, withoutTrailingSlash } from '../shared/paths';
import { requireEnv, requireJsonEnv } from '../shared/env';
import { PermissionError, RequestRejectedError, isAccessDenied, parseEventWith } from '../shared/errors';
import { manifestKeyFor, manifestSchema, parseBackupKey, verdictPrefixFor, type BackupManifest } from '../shared/manifest';
import { backupVersions, firstVersion, overwrittenProblem } from '../shared/versions';
import type { Logger } from '../shared/powertools';
import {
  BACKUP_KEY_PATTERN,
  RESTORE_ENV,
  defaultScratchRoot,
  scratchNameProblem,
  invalidRestoreParameters,
  restoreParametersFor,
  restoreSiteSchema,
  restoreTargetSchema,
  type RestoreOrder,
  type RestoreSite,
  type RestoreTarget,
} from '../shared/restore-command';
import { withThrottlingRetry, type RetryOptions } from '../shared/retry';
import { listBackups, newestVerdictKey, readVerdict, type ListedBackup } from '../verify/history';
import type { Verdict } from '../verify/verdict';

/**
 * Restores one EC2 target's backup on its instance, from the Lambda console: picks the backup
 * (a given key, the newest before a time, or the newest verified one), the instance (exactly
 * one), says what would change, and sends the restore document. The instance script checks
 * the backup against its manifest before it touches anything.
 */

// ------------------------------------------------------------------ event

const INSTANCE_ID = /^i-([0-9a-f]{8}|[0-9a-f]{17})$/;

export const restoreEventSchema = z
  .strictObject({
    /** A configured target. */
    target: z.string().regex(new RegExp(TARGET_NAME_PATTERN), 'must be the name of a configured target (lowercase letters, digits, hyphens)'),
    /** scratch: a new database or side path, live data untouched; replace: safety backup, restore, swap. */
    mode: z.enum(['scratch', 'replace'], { message: "must be 'scratch' or 'replace'" }).default('scratch'),
    /** A backup key of this target; omit for the newest verified backup. */
    key: z.string().regex(new RegExp(BACKUP_KEY_PATTERN), 'must be a backup object key (<tier>/<target>/YYYY/MM/DD/<target>_<stamp>.<ext>)').optional(),
    /** The newest backup that started at or before this time (ISO 8601 with a zone). */
    before: z.iso.datetime({ offset: true, message: 'must be an ISO 8601 time with a zone, e.g. 2026-11-21T14:06:00Z' }).optional(),
    /** Required when the target's instances (IDs or tag) are more than one. */
    instanceId: z.string().regex(INSTANCE_ID, "must be an EC2 instance ID like 'i-0123456789abcdef0'").optional(),
    /** scratch, postgres/mysql: the new database's name (default <database>_restore_<stamp>). */
    scratchName: z.string().regex(new RegExp(DB_NAME_PATTERN), 'must be 1-63 letters, digits, _ and -').optional(),
    /** scratch, sqlite/files: where the copy goes (default <path>.restore-<stamp>). */
    scratchPath: z
      .string()
      .regex(new RegExp(ABSOLUTE_PATH_PATTERN), 'must be an absolute path of letters, digits, spaces and . _ / @ + = , : -')
      .superRefine((path, ctx) => {
        const problem = plainPathProblem(path);
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      })
      .optional(),
    /** Show the backup, instance and changes, and send nothing. */
    dryRun: z.boolean().default(false),
    /** replace: must equal the target name. */
    confirm: z.string().max(100).optional(),
    /** Who asks (recorded in the command's comment and the alert). */
    requestedBy: z.string().min(1).max(60).regex(/^[\p{L}\p{N} ._@+-]+$/u, 'letters, digits, spaces and . _ @ + - only').optional(),
  })
  .superRefine((event, ctx) => {
    if (event.key !== undefined && event.before !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['before'], message: 'give key or before, not both' });
    }
    if (event.mode === 'replace' && !event.dryRun && event.confirm !== event.target) {
      ctx.addIssue({
        code: 'custom',
        path: ['confirm'],
        message: `replace overwrites live data: must equal the target name ('${event.target}'); run with dryRun: true first to see what would change`,
      });
    }
    if (event.mode === 'replace' && event.scratchName !== undefined) ctx.addIssue({ code: 'custom', path: ['scratchName'], message: "applies to mode 'scratch' only" });
    if (event.mode === 'replace' && event.scratchPath !== undefined) ctx.addIssue({ code: 'custom', path: ['scratchPath'], message: "applies to mode 'scratch' only" });
  });
export type RestoreRequest = z.infer<typeof restoreEventSchema>;
export type RestoreEventInput = z.input<typeof restoreEventSchema>;

export function parseRestoreEvent(event: unknown): RestoreRequest {
  return parseEventWith(restoreEventSchema, event);
}

// ------------------------------------------------------------------ settings

export interface RestoreJobSettings {
  readonly region: string;
  readonly documentName: string;
  readonly documentSha256: string;
  readonly site: RestoreSite;
  readonly targets: readonly RestoreTarget[];
  readonly commandLogGroupName: string;
  readonly deliveryTimeoutSeconds: number;
}

export function loadRestoreJobSettings(env: NodeJS.ProcessEnv): RestoreJobSettings {
  const parse = <T>(name: string, schema: z.ZodType<T>): T => {
    const parsed = schema.safeParse(requireJsonEnv(name, env));
    if (!parsed.success) throw new Error(`environment variable ${name} is invalid: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    return parsed.data;
  };
  const deliveryTimeoutSeconds = Number(requireEnv(RESTORE_ENV.deliveryTimeoutSeconds, env));
  if (!Number.isInteger(deliveryTimeoutSeconds) || deliveryTimeoutSeconds < 30) {
    throw new Error(`environment variable ${RESTORE_ENV.deliveryTimeoutSeconds} must be a whole number of seconds >= 30`);
  }
  return {
    region: requireEnv('AWS_REGION', env),
    documentName: requireEnv(RESTORE_ENV.documentName, env),
    documentSha256: requireEnv(RESTORE_ENV.documentSha256, env),
    site: parse(RESTORE_ENV.site, restoreSiteSchema),
    targets: parse(RESTORE_ENV.targets, z.array(restoreTargetSchema)),
    commandLogGroupName: requireEnv(RESTORE_ENV.commandLogGroupName, env),
    deliveryTimeoutSeconds,
  };
}

export interface RestoreJobDeps {
  readonly s3: S3Client;
  readonly ssm: SSMClient;
  readonly logger: Logger;
  readonly settings: RestoreJobSettings;
  readonly now: () => Date;
  readonly retry?: Pick<RetryOptions, 'sleep' | 'random' | 'attempts'>;
}

// ------------------------------------------------------------------ choosing the backup

/**
 * Exactly what a restore reads: the versions of the backup and of its manifest, and the SHA-256
 * the backup must have. From a passing verdict they are what was verified; otherwise the first
 * version of each (backups are written once; a later version was written over it).
 */
export interface PinnedBackup {
  readonly versionId: string;
  readonly manifestVersionId: string;
  readonly sha256?: string;
  readonly from: 'verdict' | 'first version';
  /** Later versions written over the backup or its manifest, when there are any. */
  readonly overwritten?: string;
}

export interface ChosenBackup {
  readonly key: string;
  readonly how: 'given key' | 'newest before the given time' | 'newest verified';
  readonly tier: string;
  readonly takenAt: string;
  readonly pinned: PinnedBackup;
  readonly manifest: Pick<BackupManifest, 'bytes' | 'sha256' | 'startedAt' | 'finishedAt' | 'instance'> & Partial<Pick<BackupManifest, 'database' | 'files'>>;
  readonly verification: { readonly passed: boolean; readonly verifiedAt: string; readonly reasons: readonly string[] } | 'not verified';
  readonly storageClass?: string;
}

/** Classes S3 must restore before the object can be read. */
const ARCHIVED = new Set(['GLACIER', 'DEEP_ARCHIVE']);

function backoff(deps: Pick<RestoreJobDeps, 'retry'>): RetryOptions {
  return { attempts: 6, baseDelayMs: 500, maxDelayMs: 8000, ...deps.retry };
}

async function s3Call<T>(action: string, call: () => Promise<T>, deps: Pick<RestoreJobDeps, 'retry'>): Promise<T> {
  try {
    return await withThrottlingRetry(call, backoff(deps));
  } catch (error) {
    if (isAccessDenied(error)) throw new PermissionError(action, error);
    throw error;
  }
}

async function readManifest(key: string, versionId: string, deps: Pick<RestoreJobDeps, 's3' | 'settings' | 'retry'>): Promise<BackupManifest> {
  const bucket = deps.settings.site.bucket;
  const text = await s3Call(
    `s3:GetObjectVersion on ${bucket}/${manifestKeyFor(key)}`,
    async () => (await deps.s3.send(new GetObjectCommand({ Bucket: bucket, Key: manifestKeyFor(key), VersionId: versionId }))).Body?.transformToString() ?? '',
    deps,
  ).catch((error: unknown) => {
    const name = (error as { name?: string }).name;
    if (name === 'NoSuchKey' || name === 'NoSuchVersion') throw new RequestRejectedError(`key: ${key} has no manifest (version ${versionId}); a backup without one is incomplete and is never restored`);
    throw error;
  });
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new RequestRejectedError(`key: the manifest of ${key} is not JSON; restore another backup`);
  }
  const parsed = manifestSchema.safeParse(json);
  if (!parsed.success) throw new RequestRejectedError(`key: the manifest of ${key} is not valid (${parsed.error.issues[0]?.message ?? 'unknown'}); restore another backup`);
  if (parsed.data.key !== key) throw new RequestRejectedError(`key: the manifest of ${key} describes another backup (${parsed.data.key})`);
  return parsed.data;
}

async function allBackups(target: RestoreTarget, deps: Pick<RestoreJobDeps, 's3' | 'settings' | 'retry'>): Promise<ListedBackup[]> {
  const lists = await Promise.all(
    target.backup.tiers.map((tier) =>
      s3Call(`s3:ListBucket on ${deps.settings.site.bucket}/${tier}/${target.backup.name}/`, () => listBackups(deps.s3, deps.settings.site.bucket, tier, target.backup.name), deps),
    ),
  );
  return lists.flat().sort((a, b) => b.parsed.at.getTime() - a.parsed.at.getTime());
}

function verificationOf(verdict: Verdict | undefined): ChosenBackup['verification'] {
  return verdict ? { passed: verdict.passed, verifiedAt: verdict.verifiedAt, reasons: verdict.reasons } : 'not verified';
}

/** The versions a restore of `key` reads (see PinnedBackup). */
async function pinVersions(key: string, verdict: Verdict | undefined, deps: Pick<RestoreJobDeps, 's3' | 'settings' | 'retry'>): Promise<PinnedBackup> {
  const bucket = deps.settings.site.bucket;
  const versions = await s3Call(`s3:ListBucketVersions on ${bucket} (prefix ${key})`, () => backupVersions(deps.s3, bucket, key), deps);
  const overwritten = overwrittenProblem(versions);
  if (verdict?.passed && verdict.versionId !== undefined && verdict.manifestVersionId !== undefined) {
    return { versionId: verdict.versionId, manifestVersionId: verdict.manifestVersionId, ...(verdict.sha256 ? { sha256: verdict.sha256 } : {}), from: 'verdict', ...(overwritten ? { overwritten } : {}) };
  }
  const backup = firstVersion(versions.backup);
  const manifest = firstVersion(versions.manifest);
  if (!backup) throw new RequestRejectedError(`key: no object ${key} in ${bucket}`);
  if (!manifest) throw new RequestRejectedError(`key: ${key} has no manifest; a backup without one is incomplete and is never restored`);
  return { versionId: backup.versionId, manifestVersionId: manifest.versionId, from: 'first version', ...(overwritten ? { overwritten } : {}) };
}

/** How many verdicts, newest first, are read looking for a passing one. */
const VERDICTS_SEARCHED = 20;

/** The backup a request names, checked to exist, to be complete and to be readable now, with the versions to read. */
export async function chooseBackup(
  target: RestoreTarget,
  request: { readonly key?: string | undefined; readonly before?: string | undefined },
  deps: Pick<RestoreJobDeps, 's3' | 'settings' | 'retry'>,
): Promise<ChosenBackup> {
  const bucket = deps.settings.site.bucket;
  const verdictOf = (key: string, verdictKey: string | undefined) => s3Call(`s3:GetObject on ${bucket}/${verdictKey ?? ''}`, () => readVerdict(deps.s3, bucket, key, verdictKey), deps);
  let key: string;
  let how: ChosenBackup['how'];
  let verdict: Verdict | undefined;
  if (request.key !== undefined) {
    const parsed = parseBackupKey(request.key);
    if (!parsed || parsed.target !== target.backup.name || parsed.kind !== target.backup.kind) {
      throw new RequestRejectedError(`key: ${request.key} is not a ${target.backup.kind} backup of target '${target.backup.name}'`);
    }
    key = request.key;
    how = 'given key';
    const verdictKey = await s3Call(`s3:ListBucket on ${bucket}/${verdictPrefixFor(key)}`, () => newestVerdictKey(deps.s3, bucket, key), deps);
    verdict = await verdictOf(key, verdictKey);
  } else {
    const backups = (await allBackups(target, deps)).filter((backup) => backup.hasManifest);
    let chosen: ListedBackup | undefined;
    if (request.before !== undefined) {
      const limit = new Date(request.before).getTime();
      chosen = backups.find((backup) => backup.parsed.at.getTime() <= limit);
      if (!chosen) throw new RequestRejectedError(`before: no complete backup of '${target.backup.name}' started at or before ${new Date(limit).toISOString()} (tiers ${target.backup.tiers.join(', ')})`);
      how = 'newest before the given time';
      verdict = await verdictOf(chosen.key, chosen.verdictKey);
    } else {
      for (const backup of backups.filter((candidate) => candidate.verdictKey !== undefined).slice(0, VERDICTS_SEARCHED)) {
        const candidate = await verdictOf(backup.key, backup.verdictKey);
        if (candidate?.passed) {
          chosen = backup;
          verdict = candidate;
          break;
        }
      }
      if (!chosen) {
        throw new RequestRejectedError(
          `no verified backup of '${target.backup.name}' among its ${backups.length} complete backup(s); give "key" to restore an unverified one (the instance still checks it against its manifest)`,
        );
      }
      how = 'newest verified';
    }
    key = chosen.key;
  }
  const pinned = await pinVersions(key, verdict, deps);
  const storageClass = await headStorageClass(key, pinned.versionId, deps);
  if (storageClass !== undefined && ARCHIVED.has(storageClass)) {
    throw new RequestRejectedError(
      `key: ${key} is in ${storageClass}; restore the object first (S3 console: Initiate restore, or aws s3api restore-object with --version-id ${pinned.versionId}), then run this again`,
    );
  }
  const manifest = await readManifest(key, pinned.manifestVersionId, deps);
  if (pinned.sha256 !== undefined && manifest.sha256 !== pinned.sha256) {
    throw new RequestRejectedError(`key: the manifest version ${pinned.manifestVersionId} of ${key} does not state the SHA-256 that was verified; restore another backup and report this one`);
  }
  const parsedKey = parseBackupKey(key);
  return {
    key,
    how,
    tier: parsedKey?.tier ?? manifest.tier,
    takenAt: parsedKey?.at.toISOString() ?? manifest.startedAt,
    pinned: { ...pinned, sha256: pinned.sha256 ?? manifest.sha256 },
    manifest: {
      bytes: manifest.bytes,
      sha256: manifest.sha256,
      startedAt: manifest.startedAt,
      finishedAt: manifest.finishedAt,
      instance: manifest.instance,
      ...(manifest.database ? { database: manifest.database } : {}),
      ...(manifest.files ? { files: manifest.files } : {}),
    },
    verification: verificationOf(verdict),
    ...(storageClass !== undefined ? { storageClass } : {}),
  };
}

async function headStorageClass(key: string, versionId: string, deps: Pick<RestoreJobDeps, 's3' | 'settings' | 'retry'>): Promise<string | undefined> {
  const bucket = deps.settings.site.bucket;
  try {
    const head = await withThrottlingRetry(() => deps.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key, VersionId: versionId })), backoff(deps));
    return head.StorageClass;
  } catch (error) {
    const name = (error as { name?: string }).name;
    if (name === 'NotFound' || name === 'NoSuchKey' || name === 'NoSuchVersion') throw new RequestRejectedError(`key: no version ${versionId} of ${key} in ${bucket}`);
    if (isAccessDenied(error)) throw new PermissionError(`s3:GetObjectVersion on ${bucket}/${key}`, error);
    throw error;
  }
}

/** The parts of a restore order that say exactly which backup to read. */
export function pinnedOrder(backup: ChosenBackup): Pick<RestoreOrder, 'key' | 'versionId' | 'manifestVersionId' | 'sha256'> {
  return { key: backup.key, versionId: backup.pinned.versionId, manifestVersionId: backup.pinned.manifestVersionId, ...(backup.pinned.sha256 ? { sha256: backup.pinned.sha256 } : {}) };
}

// ------------------------------------------------------------------ choosing the instance

export interface ChosenInstance {
  readonly instanceId: string;
  readonly pingStatus: string;
  readonly computerName?: string;
  readonly platform?: string;
}

function describe(information: InstanceInformation): ChosenInstance {
  return {
    instanceId: information.InstanceId ?? '',
    pingStatus: information.PingStatus ?? 'Unknown',
    ...(information.ComputerName ? { computerName: information.ComputerName } : {}),
    ...(information.PlatformName ? { platform: `${information.PlatformName} ${information.PlatformVersion ?? ''}`.trim() } : {}),
  };
}

/** The managed instances of a target, as SSM knows them (IDs, or a tag). */
async function managedInstances(target: RestoreTarget, deps: Pick<RestoreJobDeps, 'ssm' | 'retry'>): Promise<ChosenInstance[]> {
  const filters =
    'instanceIds' in target.backup.instances
      ? [{ Key: 'InstanceIds', Values: [...target.backup.instances.instanceIds] }]
      : [{ Key: `tag:${target.backup.instances.tag.key}`, Values: [target.backup.instances.tag.value] }];
  const found: ChosenInstance[] = [];
  let nextToken: string | undefined;
  do {
    const page = await withThrottlingRetry(
      () => deps.ssm.send(new DescribeInstanceInformationCommand({ Filters: filters, MaxResults: 50, NextToken: nextToken })),
      backoff(deps),
    ).catch((error: unknown) => {
      if (isAccessDenied(error)) throw new PermissionError('ssm:DescribeInstanceInformation', error);
      throw error;
    });
    found.push(...(page.InstanceInformationList ?? []).map(describe));
    nextToken = page.NextToken;
  } while (nextToken);
  return found;
}

function selectorOf(target: RestoreTarget): string {
  return 'instanceIds' in target.backup.instances
    ? `instance IDs ${target.backup.instances.instanceIds.join(', ')}`
    : `tag ${target.backup.instances.tag.key}=${target.backup.instances.tag.value}`;
}

/** An instance named by ID must be one of the target's configured IDs (checked before any call). */
function checkInstanceOfTarget(target: RestoreTarget, instanceId: string | undefined): void {
  if (instanceId !== undefined && 'instanceIds' in target.backup.instances && !target.backup.instances.instanceIds.includes(instanceId)) {
    throw new RequestRejectedError(`instanceId: ${instanceId} is not an instance of '${target.backup.name}' (${selectorOf(target)})`);
  }
}

/**
 * Exactly one instance: the one asked for (which must belong to the target), or the target's
 * only one. A restore never goes to several instances at once.
 */
export async function chooseInstance(target: RestoreTarget, instanceId: string | undefined, deps: Pick<RestoreJobDeps, 'ssm' | 'retry'>): Promise<ChosenInstance> {
  const selector = selectorOf(target);
  checkInstanceOfTarget(target, instanceId);
  const instances = await managedInstances(target, deps);
  if (instanceId !== undefined) {
    const match = instances.find((instance) => instance.instanceId === instanceId);
    if (!match) throw new RequestRejectedError(`instanceId: ${instanceId} is not a managed instance of '${target.backup.name}' (${selector}); check it runs and its SSM agent is online`);
    return match;
  }
  if (instances.length === 0) {
    throw new RequestRejectedError(`no managed instance matches '${target.backup.name}' (${selector}): check the instances run and their SSM agent is online (Fleet Manager)`);
  }
  if (instances.length > 1) {
    throw new RequestRejectedError(
      `instanceId: '${target.backup.name}' matches ${instances.length} instances (${instances.map((instance) => instance.instanceId).join(', ')}); a restore goes to exactly one, so name it with "instanceId"`,
    );
  }
  return instances[0] as ChosenInstance;
}

// ------------------------------------------------------------------ where a scratch copy may go

/** The directory a sqlite or files target's scratch copies go to. */
export function scratchRootOf(target: RestoreTarget): string {
  return withoutTrailingSlash(target.restore.scratchRoot ?? defaultScratchRoot(target.backup.name));
}

/**
 * A scratch path must lie strictly inside the target's scratch root and clear of every
 * configured target's live path (restore.sh checks it again on the instance, links resolved).
 */
function checkScratchPath(path: string, target: RestoreTarget, targets: readonly RestoreTarget[]): void {
  const root = scratchRootOf(target);
  const plain = withoutTrailingSlash(path);
  if (!isWithin(plain, root) || plain === root) {
    throw new RequestRejectedError(`scratchPath: '${path}' is not inside the scratch root ${root} of '${target.backup.name}'; scratch copies go there only (omit scratchPath for ${root}/<name>.restore-<stamp>)`);
  }
  const live = targets.find((candidate) => candidate.backup.path !== undefined && pathsOverlap(plain, candidate.backup.path));
  if (live) throw new RequestRejectedError(`scratchPath: '${path}' overlaps the live path ${live.backup.path ?? ''} of target '${live.backup.name}'`);
}

// ------------------------------------------------------------------ what would change

export function whatWouldChange(
  target: RestoreTarget,
  site: RestoreSite,
  order: Pick<RestoreOrder, 'mode' | 'scratchName' | 'scratchPath' | 'versionId' | 'manifestVersionId'>,
  instanceId: string,
): string[] {
  const plan = target.backup;
  const stamp = '<UTC stamp of the run>';
  const where = `on ${instanceId}`;
  const safety = `takes a safety backup of the live data through the backup script, in tier '${site.safetyTier}' (kept ${site.safetyRetentionDays} days); if it fails, nothing else happens`;
  const check = `downloads version ${order.versionId} of the backup and version ${order.manifestVersionId} of its manifest (never a later one written over them), and checks SHA-256 and size before touching anything; a mismatch stops the restore`;
  if (plan.database) {
    const live = `${plan.database.name} on ${plan.database.host}:${plan.database.port}`;
    if (order.mode === 'scratch') {
      return [check, `creates a new database ${order.scratchName ?? `${plan.database.name}_restore_${stamp}`} ${where} and loads the backup into it`, `the live database ${live} is not touched`];
    }
    const swap =
      plan.kind === 'postgres'
        ? `ends the sessions on ${plan.database.name} and, in one transaction, renames ${plan.database.name} to ${plan.database.name}_pre_restore_${stamp} and the new database to ${plan.database.name}`
        : `moves every table of ${plan.database.name} into ${plan.database.name}_pre_restore_${stamp} and the restored tables into ${plan.database.name} with one RENAME TABLE statement (all or none)`;
    return [check, safety, `restores into a new database ${plan.database.name}_rs_${stamp}; live ${live} keeps serving meanwhile`, swap, 'the previous data is kept, never dropped: drop it yourself once the restore is confirmed'];
  }
  const path = plan.path ?? '';
  if (order.mode === 'scratch') {
    const root = scratchRootOf(target);
    const destination = order.scratchPath ?? `${root}/${path.split('/').pop() ?? ''}.restore-${stamp}`;
    return [check, `writes the restored ${plan.kind === 'sqlite' ? 'file' : 'directory'} to ${destination} ${where}, readable by root only (scratch root ${root}, created 0700 if missing)`, `${path} is not touched`];
  }
  return [
    check,
    safety,
    `restores into a temporary ${plan.kind === 'sqlite' ? 'file' : 'directory'} beside ${path} (same file system)${plan.kind === 'sqlite' ? '; refuses if a process has the database open' : ''}`,
    `swaps it in with an atomic rename and keeps the previous one as ${path}.pre-restore-${stamp}`,
  ];
}

// ------------------------------------------------------------------ the job

export interface RestorePlan {
  readonly target: string;
  readonly kind: string;
  readonly mode: 'scratch' | 'replace';
  readonly backup: ChosenBackup;
  readonly instance: ChosenInstance;
  readonly whatWouldChange: readonly string[];
  readonly document: string;
}

export type RestoreAnswer =
  | ({ readonly outcome: 'dry-run'; readonly next: string } & RestorePlan)
  | ({ readonly outcome: 'started'; readonly commandId: string; readonly documentVersion: string; readonly consoleLink: string; readonly next: string } & RestorePlan);

export function findTarget(settings: Pick<RestoreJobSettings, 'targets'>, name: string): RestoreTarget {
  const target = settings.targets.find((candidate) => candidate.backup.name === name);
  if (!target) {
    const known = settings.targets.map((candidate) => candidate.backup.name);
    throw new RequestRejectedError(`target: '${name}' is not a configured target (targets: ${known.join(', ') || 'none'})`, { known });
  }
  return target;
}

/** Sends the restore document to one instance, pinned to the deployed document version. */
export async function sendRestore(
  target: RestoreTarget,
  order: RestoreOrder,
  instanceId: string,
  comment: string,
  deps: Pick<RestoreJobDeps, 'ssm' | 'logger' | 'settings' | 'retry'>,
): Promise<{ commandId: string; documentVersion: string }> {
  const { settings } = deps;
  const documentVersion = await pinnedDocumentVersion({ ...deps, settings: { documentName: settings.documentName, documentSha256: settings.documentSha256 } });
  const parameters = restoreParametersFor(target, settings.site, order, settings.targets);
  const invalid = invalidRestoreParameters(parameters);
  if (invalid.length > 0) throw new RequestRejectedError(`the restore settings of '${target.backup.name}' do not pass the document's patterns: ${invalid.join('; ')}`);
  const sent = await withThrottlingRetry(
    () =>
      deps.ssm.send(
        new SendCommandCommand({
          DocumentName: settings.documentName,
          DocumentVersion: documentVersion,
          InstanceIds: [instanceId],
          Parameters: parameters,
          Comment: comment.slice(0, 100),
          TimeoutSeconds: settings.deliveryTimeoutSeconds,
          CloudWatchOutputConfig: { CloudWatchLogGroupName: settings.commandLogGroupName, CloudWatchOutputEnabled: true },
        }),
      ),
    backoff(deps),
  ).catch((error: unknown) => {
    if (isAccessDenied(error)) throw new PermissionError(`ssm:SendCommand of ${settings.documentName} to ${instanceId}`, error);
    throw error;
  });
  const commandId = sent.Command?.CommandId;
  if (!commandId) throw new Error('SendCommand returned no command ID');
  return { commandId, documentVersion };
}

export async function startRestore(request: RestoreRequest, deps: RestoreJobDeps): Promise<RestoreAnswer> {
  const { settings } = deps;
  const target = findTarget(settings, request.target);
  const database = target.backup.database !== undefined;
  if (request.scratchName !== undefined && !database) {
    throw new RequestRejectedError(`scratchName: '${target.backup.name}' is ${target.backup.kind}; use scratchPath`);
  }
  if (request.scratchPath !== undefined && database) {
    throw new RequestRejectedError(`scratchPath: '${target.backup.name}' is ${target.backup.kind}; use scratchName`);
  }
  if (request.scratchName !== undefined) {
    const problem = scratchNameProblem(request.scratchName, target, settings.targets);
    if (problem) throw new RequestRejectedError(`scratchName: ${problem}; a scratch restore only creates a new database`);
  }
  if (request.scratchPath !== undefined) checkScratchPath(request.scratchPath, target, settings.targets);
  checkInstanceOfTarget(target, request.instanceId);
  if (request.mode === 'replace' && settings.site.safetyRetentionDays === 0) {
    throw new RequestRejectedError(
      `mode: replace needs its safety backup tier '${settings.site.safetyTier}', which the config does not define (restore.safetyTier); restore in 'scratch' mode, or add the tier and deploy`,
    );
  }
  const backup = await chooseBackup(target, request, deps);
  const instance = await chooseInstance(target, request.instanceId, deps);
  const order: RestoreOrder = {
    mode: request.mode,
    ...pinnedOrder(backup),
    drill: false,
    ...(request.scratchName !== undefined ? { scratchName: request.scratchName } : {}),
    ...(request.scratchPath !== undefined ? { scratchPath: request.scratchPath } : {}),
    ...(request.mode === 'replace' ? { confirm: request.target } : {}),
  };
  const plan: RestorePlan = {
    target: target.backup.name,
    kind: target.backup.kind,
    mode: request.mode,
    backup,
    instance,
    whatWouldChange: whatWouldChange(target, settings.site, order, instance.instanceId),
    document: settings.documentName,
  };
  if (request.dryRun) {
    const run = request.mode === 'replace' ? `"dryRun": false, "confirm": "${target.backup.name}"` : '"dryRun": false';
    const pin = request.key === undefined ? ` and "key": "${backup.key}" (so that a newer backup cannot slip in)` : '';
    return { outcome: 'dry-run', ...plan, next: `Nothing was sent. To run this restore, invoke again with ${run}${pin}.` };
  }
  if (instance.pingStatus !== 'Online') {
    throw new RequestRejectedError(`instanceId: ${instance.instanceId} is ${instance.pingStatus} in SSM; start it (or its agent) and run again`);
  }
  const comment = `backup-kit ${request.mode} restore of ${target.backup.name}${request.requestedBy ? ` by ${request.requestedBy}` : ''}`;
  const { commandId, documentVersion } = await sendRestore(target, order, instance.instanceId, comment, deps);
  deps.logger.info('restore sent', { target: target.backup.name, mode: request.mode, key: backup.key, instanceId: instance.instanceId, commandId, documentVersion, requestedBy: request.requestedBy });
  return {
    outcome: 'started',
    ...plan,
    commandId,
    documentVersion,
    consoleLink: consoleLinks.runCommandInvocation(settings.region, commandId, instance.instanceId),
    next: 'The restore runs on the instance; the alert topic gets a message with the outcome and its duration when it finishes. Follow it live with the console link.',
  };
}
