import type { ObjectLockModeName } from '../../contracts/backup-command';
import type { CheckResult } from '../../contracts/verdict';

/** What HeadObject says of a version's lock (it says it only to a caller allowed s3:GetObjectRetention). */
export interface StoredLock {
  readonly mode?: string;
  readonly retainUntil?: Date;
}

/**
 * Whether the stored version is locked as its tier requires: in the tier's mode, until at least the
 * date its manifest states (the date the script asked for with the upload). The bucket's default
 * retention would otherwise stand in silently for a lock that a proxy or an S3-compatible store
 * dropped, and a backup deletable after a day would pass for one kept for the tier's months.
 */
export function checkLock(stored: StoredLock, expectedMode: ObjectLockModeName | undefined, manifestRetainUntil: string | undefined): Pick<CheckResult, 'status' | 'detail'> {
  if (!stored.mode || !stored.retainUntil) {
    return { status: 'failed', detail: 'the version has no Object Lock retention: nothing stops its deletion (was the lock stripped on the way, or the bucket created without Object Lock?)' };
  }
  const held = `${stored.mode} until ${stored.retainUntil.toISOString()}`;
  if (expectedMode !== undefined && stored.mode !== expectedMode) {
    return { status: 'failed', detail: `the version is locked ${held}, not in ${expectedMode} mode as its tier requires` };
  }
  if (manifestRetainUntil === undefined) return { status: 'passed', detail: `locked ${held} (no manifest states the date asked for)` };
  const asked = Date.parse(manifestRetainUntil);
  if (Number.isNaN(asked)) return { status: 'failed', detail: `the manifest's retainUntil '${manifestRetainUntil}' is not a date` };
  if (stored.retainUntil.getTime() < asked) {
    return { status: 'failed', detail: `the version is locked ${held}, earlier than the ${new Date(asked).toISOString()} its manifest states: it can be deleted before the tier's retention ends` };
  }
  return { status: 'passed', detail: `locked ${held}` };
}
