import {
  GetBucketVersioningCommand,
  ListObjectVersionsCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import type { MediaBucketEntry, S3VersionRestoreEvent } from '../../contracts/s3-version-restore';
import { PermissionError, RequestRejectedError, errorMessage, isAccessDenied } from '../../contracts/errors';
import { applyChange } from './apply';

/**
 * Brings a key or a prefix of a versioned media bucket back to its state at a time T, using
 * versions only: the version current at T is copied onto the key (a new current version with
 * the same content, metadata and tags), objects deleted after T come back the same way, and
 * objects created after T stay unless the caller asks, with confirmation, to hide them behind
 * a delete marker. No version is ever deleted, so every step can itself be undone.
 */

// ---------------------------------------------------------------- versions and plan

/** One entry of a key's history: an object version or a delete marker. */
export interface VersionEntry {
  readonly key: string;
  readonly versionId: string;
  readonly lastModified: Date;
  readonly isDeleteMarker: boolean;
  readonly isLatest: boolean;
  readonly eTag?: string;
  readonly size?: number;
  readonly storageClass?: string;
}

export type ChangeAction =
  /** The key exists but its content changed after T: the version of T is copied back. */
  | 'restore'
  /** The key was deleted after T: the version of T is copied back on top of the delete marker. */
  | 'undelete'
  /** The key was created after T: a delete marker hides it (only with removeCreatedAfter). */
  | 'remove-created-after';

export interface PlannedChange {
  readonly key: string;
  readonly action: ChangeAction;
  /** The current version (or delete marker) the key shows now. */
  readonly fromVersion: string;
  /** The version that becomes current; null for a removal (a new delete marker). */
  readonly toVersion: string | null;
  /** Size of the version that becomes current. */
  readonly bytes?: number;
}

export type KeptReason = 'unchanged' | 'created-after' | 'absent-at-time';

/** Why a key that differs from T cannot be brought back by this job. */
export interface SkippedKey {
  readonly key: string;
  readonly reason: string;
}

export type KeyDecision =
  | { readonly kind: 'change'; readonly change: PlannedChange }
  | { readonly kind: 'keep'; readonly key: string; readonly reason: KeptReason }
  | { readonly kind: 'skip'; readonly skipped: SkippedKey };

/** Storage classes whose versions S3 must restore (RestoreObject) before they can be copied. */
const ARCHIVED_CLASSES = new Set(['GLACIER', 'DEEP_ARCHIVE']);

/** Newest first; S3 times have second precision, so at equal times the latest entry wins. */
function newestFirst(a: VersionEntry, b: VersionEntry): number {
  const byTime = b.lastModified.getTime() - a.lastModified.getTime();
  if (byTime !== 0) return byTime;
  return Number(b.isLatest) - Number(a.isLatest);
}

/**
 * Decides what one key needs, from its whole history. Pure: the plan of a dry run and of a
 * real run are the same function of the same listing.
 */
export function decideKey(
  history: readonly VersionEntry[],
  restoreTo: Date,
  options: { readonly removeCreatedAfter: boolean },
): KeyDecision {
  const sorted = [...history].sort(newestFirst);
  const key = sorted[0]?.key ?? '';
  const current = sorted.find((entry) => entry.isLatest) ?? sorted[0];
  if (!current) return { kind: 'keep', key, reason: 'absent-at-time' };
  const atTime = sorted.find((entry) => entry.lastModified.getTime() <= restoreTo.getTime());
  const existedAtTime = atTime !== undefined && !atTime.isDeleteMarker;
  const existsNow = !current.isDeleteMarker;

  if (!existedAtTime) {
    if (!existsNow) return { kind: 'keep', key, reason: 'absent-at-time' };
    if (!options.removeCreatedAfter) return { kind: 'keep', key, reason: 'created-after' };
    return {
      kind: 'change',
      change: { key, action: 'remove-created-after', fromVersion: current.versionId, toVersion: null },
    };
  }
  if (current.versionId === atTime.versionId) return { kind: 'keep', key, reason: 'unchanged' };
  // A copy restored by an earlier run has the same content (ETag) as the version of T: done already.
  if (existsNow && current.eTag !== undefined && current.eTag === atTime.eTag && current.size === atTime.size) {
    return { kind: 'keep', key, reason: 'unchanged' };
  }
  if (atTime.storageClass !== undefined && ARCHIVED_CLASSES.has(atTime.storageClass)) {
    return {
      kind: 'skip',
      skipped: {
        key,
        reason: `version ${atTime.versionId} is archived in ${atTime.storageClass}: restore it first (S3 RestoreObject with that VersionId), then run again`,
      },
    };
  }
  return {
    kind: 'change',
    change: {
      key,
      action: existsNow ? 'restore' : 'undelete',
      fromVersion: current.versionId,
      toVersion: atTime.versionId,
      ...(atTime.size !== undefined ? { bytes: atTime.size } : {}),
    },
  };
}

/**
 * Pages through ListObjectVersions and yields each key's complete history. S3 lists keys in
 * order and a key's versions may span pages, so a key is yielded once a later key appears.
 */
export async function* keyHistories(
  s3: S3Client,
  bucket: string,
  prefix: string,
  pageSize = 1000,
): AsyncGenerator<VersionEntry[]> {
  let keyMarker: string | undefined;
  let versionIdMarker: string | undefined;
  let pending: VersionEntry[] = [];
  // Entries are ordered as S3 orders keys (UTF-8 bytes) so that versions and delete markers of a key meet.
  for (;;) {
    const page = await s3.send(
      new ListObjectVersionsCommand({
        Bucket: bucket,
        Prefix: prefix,
        MaxKeys: pageSize,
        ...(keyMarker !== undefined ? { KeyMarker: keyMarker } : {}),
        ...(versionIdMarker !== undefined ? { VersionIdMarker: versionIdMarker } : {}),
      }),
    );
    const entries: VersionEntry[] = [
      ...(page.Versions ?? []).map((version) => ({
        key: version.Key ?? '',
        versionId: version.VersionId ?? 'null',
        lastModified: version.LastModified ?? new Date(0),
        isDeleteMarker: false,
        isLatest: version.IsLatest ?? false,
        ...(version.ETag !== undefined ? { eTag: version.ETag } : {}),
        ...(version.Size !== undefined ? { size: version.Size } : {}),
        ...(version.StorageClass !== undefined ? { storageClass: version.StorageClass } : {}),
      })),
      ...(page.DeleteMarkers ?? []).map((marker) => ({
        key: marker.Key ?? '',
        versionId: marker.VersionId ?? 'null',
        lastModified: marker.LastModified ?? new Date(0),
        isDeleteMarker: true,
        isLatest: marker.IsLatest ?? false,
      })),
    ].sort((a, b) => Buffer.compare(Buffer.from(a.key), Buffer.from(b.key)));
    for (const entry of entries) {
      if (pending.length > 0 && pending[0]?.key !== entry.key) {
        yield pending;
        pending = [];
      }
      pending.push(entry);
    }
    if (!page.IsTruncated) break;
    if (page.NextKeyMarker === undefined) {
      throw new Error(`ListObjectVersions of ${bucket} said the listing is truncated but gave no NextKeyMarker`);
    }
    keyMarker = page.NextKeyMarker;
    versionIdMarker = page.NextVersionIdMarker;
  }
  if (pending.length > 0) yield pending;
}

// ---------------------------------------------------------------- the job

export interface S3VersionRestoreResult {
  readonly bucket: string;
  readonly scope: { readonly key: string } | { readonly prefix: string };
  /** T, in UTC. */
  readonly restoreTo: string;
  readonly dryRun: boolean;
  readonly keysScanned: number;
  /** How many keys change (or would), by action. */
  readonly changeCounts: Readonly<Record<ChangeAction, number>>;
  /** The changes, up to `listLimit` of them (all of them are in the function's log). */
  readonly changes: readonly PlannedChange[];
  readonly changesListed: number;
  /** Keys left as they are, by reason. */
  readonly kept: Readonly<Record<KeptReason, number>>;
  /** Keys that differ from T but this job cannot bring back, and why. */
  readonly skipped: readonly SkippedKey[];
  /** Real runs: changes applied, and those that failed with the error. */
  readonly applied: number;
  readonly failed: readonly { readonly key: string; readonly action: ChangeAction; readonly error: string }[];
  /** False when the run stopped before the Lambda deadline; the same event again continues. */
  readonly complete: boolean;
  readonly next: string;
}

export interface S3VersionRestoreDeps {
  /** S3 client for a bucket's region. */
  readonly s3For: (region: string) => S3Client;
  readonly mediaBuckets: readonly MediaBucketEntry[];
  readonly now: () => Date;
  /** Milliseconds left before the function must answer. */
  readonly remainingMs: () => number;
  /** Every planned change, for the log (the answer lists only the first `listLimit`). */
  readonly onChange?: (change: PlannedChange) => void;
  /** @default 1000 */
  readonly listLimit?: number;
  /** Copies in flight at once. @default 8 */
  readonly concurrency?: number;
  /** Time kept in reserve to answer before the deadline. @default 30 s */
  readonly reserveMs?: number;
}

function inScope(entry: MediaBucketEntry, keyOrPrefix: string): boolean {
  return entry.allowedPrefixes === undefined || entry.allowedPrefixes.some((allowed) => keyOrPrefix.startsWith(allowed));
}

/** Checks the request against the allowlist and the bucket itself; throws before any change. */
async function admit(event: S3VersionRestoreEvent, deps: S3VersionRestoreDeps): Promise<MediaBucketEntry> {
  const entry = deps.mediaBuckets.find((candidate) => candidate.bucket === event.bucket);
  if (!entry) {
    const known = deps.mediaBuckets.map((candidate) => candidate.bucket);
    throw new RequestRejectedError(
      `bucket: '${event.bucket}' is not a media bucket of this app (config mediaBuckets: ${known.length > 0 ? known.join(', ') : 'none'})`,
      { known },
    );
  }
  const scope = event.key ?? event.prefix ?? '';
  if (!inScope(entry, scope)) {
    const field = event.key !== undefined ? 'key' : 'prefix';
    throw new RequestRejectedError(
      `${field}: '${scope}' is outside the prefixes allowed for ${entry.bucket} (${(entry.allowedPrefixes ?? []).join(', ')})`,
    );
  }
  const restoreTo = new Date(event.restoreTo);
  if (restoreTo.getTime() > deps.now().getTime()) {
    throw new RequestRejectedError(`restoreTo: ${restoreTo.toISOString()} is in the future`);
  }
  const s3 = deps.s3For(entry.region);
  let status: string | undefined;
  try {
    status = (await s3.send(new GetBucketVersioningCommand({ Bucket: entry.bucket }))).Status;
  } catch (error) {
    if (isAccessDenied(error)) throw new PermissionError(`s3:GetBucketVersioning on ${entry.bucket}`, error);
    throw error;
  }
  if (status !== 'Enabled') {
    throw new RequestRejectedError(
      `bucket: versioning of ${entry.bucket} is ${status ?? 'not enabled'}; without versions there is no earlier state to restore`,
    );
  }
  return entry;
}

/** Runs up to `concurrency` tasks at once, in order of arrival. */
async function inPool<T>(items: AsyncIterable<T>, concurrency: number, shouldStart: () => boolean, task: (item: T) => Promise<void>): Promise<boolean> {
  const running = new Set<Promise<void>>();
  for await (const item of items) {
    if (!shouldStart()) {
      await Promise.all(running);
      return false;
    }
    const promise = task(item).finally(() => running.delete(promise));
    running.add(promise);
    if (running.size >= concurrency) await Promise.race(running);
  }
  await Promise.all(running);
  return true;
}

export async function restoreVersions(event: S3VersionRestoreEvent, deps: S3VersionRestoreDeps): Promise<S3VersionRestoreResult> {
  // S3 times have second precision: one second before the start is before every copy of this run.
  const undoTime = new Date(Math.floor(deps.now().getTime() / 1000) * 1000 - 1000).toISOString();
  const entry = await admit(event, deps);
  const s3 = deps.s3For(entry.region);
  const restoreTo = new Date(event.restoreTo);
  const listLimit = deps.listLimit ?? 1000;
  const reserveMs = deps.reserveMs ?? 30_000;
  const changeCounts: Record<ChangeAction, number> = { restore: 0, undelete: 0, 'remove-created-after': 0 };
  const kept: Record<KeptReason, number> = { unchanged: 0, 'created-after': 0, 'absent-at-time': 0 };
  const changes: PlannedChange[] = [];
  const skipped: SkippedKey[] = [];
  const failed: { key: string; action: ChangeAction; error: string }[] = [];
  let keysScanned = 0;
  let applied = 0;

  async function* planned(): AsyncGenerator<PlannedChange> {
    // A single key is listed by prefix, which also returns longer keys that start with it.
    for await (const history of keyHistories(s3, entry.bucket, event.key ?? event.prefix ?? '')) {
      if (event.key !== undefined && history[0]?.key !== event.key) continue;
      keysScanned += 1;
      const decision = decideKey(history, restoreTo, { removeCreatedAfter: event.removeCreatedAfter });
      if (decision.kind === 'keep') kept[decision.reason] += 1;
      else if (decision.kind === 'skip') skipped.push(decision.skipped);
      else {
        changeCounts[decision.change.action] += 1;
        if (changes.length < listLimit) changes.push(decision.change);
        deps.onChange?.(decision.change);
        yield decision.change;
      }
    }
  }

  let complete: boolean;
  try {
    complete = await inPool(
      planned(),
      event.dryRun ? 1 : deps.concurrency ?? 8,
      () => deps.remainingMs() > reserveMs,
      async (change) => {
        if (event.dryRun) return;
        try {
          await applyChange(s3, entry, change);
          applied += 1;
        } catch (error) {
          failed.push({ key: change.key, action: change.action, error: errorMessage(error) });
        }
      },
    );
  } catch (error) {
    if (isAccessDenied(error)) throw new PermissionError(`s3:ListBucketVersions on ${entry.bucket}`, error);
    throw error;
  }

  const total = changeCounts.restore + changeCounts.undelete + changeCounts['remove-created-after'];
  const next = !complete
    ? 'Stopped before the Lambda deadline. Run the same event again: keys already back at T are skipped.'
    : event.dryRun
      ? total === 0
        ? `Nothing to change: ${entry.bucket} under '${event.key ?? event.prefix}' already matches ${restoreTo.toISOString()}.`
        : `Dry run: nothing changed. To apply, run again with "dryRun": false and "confirm": "${entry.bucket}".`
      : failed.length > 0
        ? `${failed.length} change(s) failed (see failed); run the same event again to retry them.`
        : `Done. Every replaced version is still in the bucket; to undo, restore to ${undoTime} (just before this run).`;
  return {
    bucket: entry.bucket,
    scope: event.key !== undefined ? { key: event.key } : { prefix: event.prefix ?? '' },
    restoreTo: restoreTo.toISOString(),
    dryRun: event.dryRun,
    keysScanned,
    changeCounts,
    changes,
    changesListed: changes.length,
    kept,
    skipped,
    applied,
    failed,
    complete,
    next,
  };
}
