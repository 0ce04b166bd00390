import { describe, expect, it } from 'vitest';
import { checkLock, LOCK_DATE_ALLOWANCE_MS } from '../../lambda/verify/lock-check';

const ASKED = '2027-01-02T03:04:05Z';
const STORED = new Date('2026-12-03T03:10:00Z');
const at = (iso: string) => new Date(iso);
const DAY = 86_400_000;
/** A daily tier of 30 days, and the date the script asked for. */
const wanted = { mode: 'GOVERNANCE' as const, retentionDays: 30, manifestRetainUntil: ASKED };

describe('checkLock', () => {
  it('GIVEN a version locked in the tier mode until the date its manifest states THEN it passes naming the lock', () => {
    expect(checkLock({ mode: 'GOVERNANCE', retainUntil: at(ASKED), storedAt: STORED }, wanted)).toEqual({ status: 'passed', detail: 'locked GOVERNANCE until 2027-01-02T03:04:05.000Z' });
    // S3 keeps the date to the millisecond; a later date only keeps the backup longer
    expect(checkLock({ mode: 'COMPLIANCE', retainUntil: at('2027-01-02T03:04:05.900Z'), storedAt: STORED }, { ...wanted, mode: 'COMPLIANCE' }).status).toBe('passed');
  });

  it('GIVEN no retention on the version (a lock dropped on the way, a bucket without Object Lock) THEN it fails', () => {
    for (const stored of [{}, { mode: 'GOVERNANCE' }, { retainUntil: at(ASKED) }]) {
      const result = checkLock({ ...stored, storedAt: STORED }, wanted);
      expect(result.status).toBe('failed');
      expect(result.detail).toMatch(/has no Object Lock retention: nothing stops its deletion/);
    }
  });

  it("GIVEN a retain-until earlier than the manifest's (the bucket's default retention stood in) THEN it fails naming both dates", () => {
    expect(checkLock({ mode: 'GOVERNANCE', retainUntil: at('2026-12-04T03:04:05Z'), storedAt: STORED }, wanted)).toEqual({
      status: 'failed',
      detail: "the version is locked GOVERNANCE until 2026-12-04T03:04:05.000Z, earlier than the 2027-01-02T03:04:05.000Z its manifest states: it can be deleted before the tier's retention ends",
    });
  });

  it('GIVEN a compromised instance that asked for a one-day lock and wrote the same date in the manifest THEN the tier retention from S3 time catches it', () => {
    const oneDay = new Date(STORED.getTime() + DAY).toISOString();
    expect(checkLock({ mode: 'GOVERNANCE', retainUntil: at(oneDay), storedAt: STORED }, { ...wanted, manifestRetainUntil: oneDay })).toEqual({
      status: 'failed',
      detail: `the version is locked GOVERNANCE until ${oneDay}, short of its tier's 30 days from when S3 stored it (2026-12-03T03:10:00.000Z): its writer asked for a shorter lock, and it can be deleted before the tier's retention ends`,
    });
  });

  it('GIVEN a backup that ran up to the longest execution timeout (its date taken at its start) THEN it passes; a minute shorter still fails', () => {
    const due = STORED.getTime() + 30 * DAY - LOCK_DATE_ALLOWANCE_MS;
    const started = new Date(due).toISOString();
    expect(checkLock({ mode: 'GOVERNANCE', retainUntil: new Date(due), storedAt: STORED }, { ...wanted, manifestRetainUntil: started }).status).toBe('passed');
    expect(checkLock({ mode: 'GOVERNANCE', retainUntil: new Date(due - 60_000), storedAt: STORED }, { ...wanted, manifestRetainUntil: undefined }).status).toBe('failed');
    // 48 hours of execution and an hour of clock: not a week
    expect(LOCK_DATE_ALLOWANCE_MS).toBe(49 * 3_600_000);
  });

  it('GIVEN another mode than the tier requires THEN it fails, whichever way round', () => {
    expect(checkLock({ mode: 'GOVERNANCE', retainUntil: at(ASKED), storedAt: STORED }, { ...wanted, mode: 'COMPLIANCE' })).toEqual({
      status: 'failed',
      detail: 'the version is locked GOVERNANCE until 2027-01-02T03:04:05.000Z, not in COMPLIANCE mode as its tier requires',
    });
    expect(checkLock({ mode: 'COMPLIANCE', retainUntil: at(ASKED), storedAt: STORED }, wanted).status).toBe('failed');
  });

  it('GIVEN no manifest, or a tier the settings do not name THEN it checks what it can: a lock, its mode and its length when known', () => {
    expect(checkLock({ mode: 'GOVERNANCE', retainUntil: at(ASKED), storedAt: STORED }, { ...wanted, manifestRetainUntil: undefined })).toEqual({
      status: 'passed',
      detail: 'locked GOVERNANCE until 2027-01-02T03:04:05.000Z (no manifest states the date asked for)',
    });
    expect(checkLock({ mode: 'COMPLIANCE', retainUntil: at('2026-12-04T00:00:00Z'), storedAt: STORED }, { mode: undefined, retentionDays: undefined, manifestRetainUntil: undefined }).status).toBe('passed');
    expect(checkLock({ mode: 'COMPLIANCE', retainUntil: at(ASKED), storedAt: STORED }, { ...wanted, mode: undefined, manifestRetainUntil: 'not a date' })).toEqual({
      status: 'failed',
      detail: "the manifest's retainUntil 'not a date' is not a date",
    });
  });
});
