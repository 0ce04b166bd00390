import { GetObjectCommand, HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { SendCommandCommand, type SSMClient } from '@aws-sdk/client-ssm';
import * as z from '../../contracts/zod';
import { pinnedDocumentVersion } from './document-version';
import { requireEnv, requireJsonEnv } from './env';
import { PermissionError, RequestRejectedError, isAccessDenied } from '../../contracts/errors';
import { manifestKeyFor, manifestSchema, parseBackupKey, verdictPrefixFor, type BackupManifest } from '../../contracts/manifest';
import { backupVersions, firstVersion, overwrittenProblem } from './versions';
import type { Logger } from './powertools';
import {
  RESTORE_ENV,
  invalidRestoreParameters,
  restoreParametersFor,
  restoreSiteSchema,
  restoreTargetSchema,
  type RestoreOrder,
  type RestoreSite,
  type RestoreTarget,
} from '../../contracts/restore-command';
import { withThrottlingRetry, type RetryOptions } from './retry';
import { listBackups, newestVerdictKey, readVerdict, type ListedBackup } from './backup-history';
import type { Verdict } from '../../contracts/verdict';
import { restoreServersSchema, type RestoreServers } from '../../contracts/rebuild';

/**
 * What the restore and drill functions share: their settings, choosing the backup (verified,
 * pinned to its versions), and sending the restore document. Choosing the instance:
 * restore-instance.ts.
 */

// ------------------------------------------------------------------ settings

export interface RestoreJobSettings {
  readonly region: string;
  readonly documentName: string;
  readonly documentSha256: string;
  readonly site: RestoreSite;
  readonly targets: readonly RestoreTarget[];
  readonly commandLogGroupName: string;
  readonly deliveryTimeoutSeconds: number;
  /** Servers that can be rebuilt in one call: name → targets (restore.servers). */
  readonly servers: RestoreServers;
}

export function loadRestoreJobSettings(env: NodeJS.ProcessEnv): RestoreJobSettings {
  const parse = <T>(name: string, schema: z.ZodMiniType<T>): T => {
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
    servers: parse(RESTORE_ENV.servers, restoreServersSchema),
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
  /** Newest verified: the newer backups passed over because their verification failed, newest first. */
  readonly newerFailed?: readonly { readonly key: string; readonly reasons: readonly string[] }[];
}

/** Classes S3 must restore before the object can be read. */
const ARCHIVED = new Set(['GLACIER', 'DEEP_ARCHIVE']);

/** The retries of the restore jobs' AWS calls. */
export function backoff(deps: Pick<RestoreJobDeps, 'retry'>): RetryOptions {
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
  const newerFailed: { key: string; reasons: readonly string[] }[] = [];
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
        if (candidate) newerFailed.push({ key: backup.key, reasons: candidate.reasons });
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
    ...(newerFailed.length > 0 ? { newerFailed } : {}),
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

export function findTarget(settings: Pick<RestoreJobSettings, 'targets'>, name: string): RestoreTarget {
  const target = settings.targets.find((candidate) => candidate.backup.name === name);
  if (!target) {
    const known = settings.targets.map((candidate) => candidate.backup.name);
    throw new RequestRejectedError(`target: '${name}' is not a configured target (targets: ${known.join(', ') || 'none'})`, { known });
  }
  return target;
}

/** The version of the restore document that holds the content this function was deployed with. */
export function pinDocumentVersion(deps: Pick<RestoreJobDeps, 'ssm' | 'logger' | 'settings' | 'retry'>): Promise<string> {
  return pinnedDocumentVersion({ ...deps, settings: { documentName: deps.settings.documentName, documentSha256: deps.settings.documentSha256 } });
}

/** Sends the restore document to one instance, pinned to the deployed document version. */
export async function sendRestore(
  target: RestoreTarget,
  order: RestoreOrder,
  instanceId: string,
  comment: string,
  deps: Pick<RestoreJobDeps, 'ssm' | 'logger' | 'settings' | 'retry'>,
  /** The document version, when the caller pinned it already (several sends in one run). */
  pinned?: string,
): Promise<{ commandId: string; documentVersion: string }> {
  const { settings } = deps;
  const documentVersion = pinned ?? (await pinDocumentVersion(deps));
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
