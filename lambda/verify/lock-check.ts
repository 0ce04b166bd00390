import { EXECUTION_TIMEOUT_PARAMETER, type ObjectLockModeName } from '../../contracts/backup-command';
import type { CheckResult } from '../../contracts/verdict';

/** What HeadObject says of a version's lock (it says it only to a caller allowed s3:GetObjectRetention), and when S3 stored it. */
export interface StoredLock {
  readonly mode?: string;
  readonly retainUntil?: Date;
  readonly storedAt?: Date;
}

/** What the version's tier and manifest ask of its lock. */
export interface WantedLock {
  /** The tier's mode; undefined for a tier the settings do not name. */
  readonly mode: ObjectLockModeName | undefined;
  /** The tier's retention in days; undefined for a tier the settings do not name. */
  readonly retentionDays: number | undefined;
  /** The date the manifest says the script asked for; undefined without a manifest. */
  readonly manifestRetainUntil: string | undefined;
}

/**
 * How much earlier than S3's own time of storing the script may have taken the date it locks
 * until: a backup runs at most the document's longest execution timeout (48 hours), plus an hour
 * for the instance's clock.
 */
export const LOCK_DATE_ALLOWANCE_MS = (EXECUTION_TIMEOUT_PARAMETER.maxSeconds + 3600) * 1000;
const DAY_MS = 86_400_000;

/**
 * Whether the stored version is locked as its tier requires: in the tier's mode, until at least the
 * date its manifest states (the date the script asked for with the upload), and for the tier's
 * retention counted from when S3 stored it. The bucket's default retention would otherwise stand in
 * silently for a lock that a proxy or an S3-compatible store dropped; and the manifest is the
 * instance's word, so a compromised instance that asked for a one-day lock and wrote the same date
 * in the manifest is caught by the last rule, which rests on S3's clock and the deployed config.
 */
export function checkLock(stored: StoredLock, wanted: WantedLock): Pick<CheckResult, 'status' | 'detail'> {
  if (!stored.mode || !stored.retainUntil) {
    return { status: 'failed', detail: 'the version has no Object Lock retention: nothing stops its deletion (was the lock stripped on the way, or the bucket created without Object Lock?)' };
  }
  const held = `${stored.mode} until ${stored.retainUntil.toISOString()}`;
  if (wanted.mode !== undefined && stored.mode !== wanted.mode) {
    return { status: 'failed', detail: `the version is locked ${held}, not in ${wanted.mode} mode as its tier requires` };
  }
  if (wanted.manifestRetainUntil !== undefined) {
    const asked = Date.parse(wanted.manifestRetainUntil);
    if (Number.isNaN(asked)) return { status: 'failed', detail: `the manifest's retainUntil '${wanted.manifestRetainUntil}' is not a date` };
    if (stored.retainUntil.getTime() < asked) {
      return { status: 'failed', detail: `the version is locked ${held}, earlier than the ${new Date(asked).toISOString()} its manifest states: it can be deleted before the tier's retention ends` };
    }
  }
  if (wanted.retentionDays !== undefined && stored.storedAt !== undefined) {
    const due = stored.storedAt.getTime() + wanted.retentionDays * DAY_MS - LOCK_DATE_ALLOWANCE_MS;
    if (stored.retainUntil.getTime() < due) {
      return {
        status: 'failed',
        detail: `the version is locked ${held}, short of its tier's ${wanted.retentionDays} days from when S3 stored it (${stored.storedAt.toISOString()}): its writer asked for a shorter lock, and it can be deleted before the tier's retention ends`,
      };
    }
  }
  return { status: 'passed', detail: wanted.manifestRetainUntil === undefined ? `locked ${held} (no manifest states the date asked for)` : `locked ${held}` };
}
