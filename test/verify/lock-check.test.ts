import { describe, expect, it } from 'vitest';
import { checkLock } from '../../lambda/verify/lock-check';

const ASKED = '2027-01-02T03:04:05Z';
const at = (iso: string) => new Date(iso);

describe('checkLock', () => {
  it('GIVEN a version locked in the tier mode until the date its manifest states THEN it passes naming the lock', () => {
    expect(checkLock({ mode: 'GOVERNANCE', retainUntil: at(ASKED) }, 'GOVERNANCE', ASKED)).toEqual({ status: 'passed', detail: 'locked GOVERNANCE until 2027-01-02T03:04:05.000Z' });
    // S3 keeps the date to the millisecond; a later date only keeps the backup longer
    expect(checkLock({ mode: 'COMPLIANCE', retainUntil: at('2027-01-02T03:04:05.900Z') }, 'COMPLIANCE', ASKED).status).toBe('passed');
  });

  it('GIVEN no retention on the version (a lock dropped on the way, a bucket without Object Lock) THEN it fails', () => {
    for (const stored of [{}, { mode: 'GOVERNANCE' }, { retainUntil: at(ASKED) }]) {
      const result = checkLock(stored, 'GOVERNANCE', ASKED);
      expect(result.status).toBe('failed');
      expect(result.detail).toMatch(/has no Object Lock retention: nothing stops its deletion/);
    }
  });

  it("GIVEN a retain-until earlier than the manifest's (the bucket's default retention stood in) THEN it fails naming both dates", () => {
    const result = checkLock({ mode: 'GOVERNANCE', retainUntil: at('2026-12-04T03:04:05Z') }, 'GOVERNANCE', ASKED);
    expect(result).toEqual({
      status: 'failed',
      detail: "the version is locked GOVERNANCE until 2026-12-04T03:04:05.000Z, earlier than the 2027-01-02T03:04:05.000Z its manifest states: it can be deleted before the tier's retention ends",
    });
  });

  it('GIVEN another mode than the tier requires THEN it fails, whichever way round', () => {
    expect(checkLock({ mode: 'GOVERNANCE', retainUntil: at(ASKED) }, 'COMPLIANCE', ASKED)).toEqual({
      status: 'failed',
      detail: 'the version is locked GOVERNANCE until 2027-01-02T03:04:05.000Z, not in COMPLIANCE mode as its tier requires',
    });
    expect(checkLock({ mode: 'COMPLIANCE', retainUntil: at(ASKED) }, 'GOVERNANCE', ASKED).status).toBe('failed');
  });

  it('GIVEN no manifest, or a tier the settings do not name THEN it checks what it can: a lock, and its mode when known', () => {
    expect(checkLock({ mode: 'GOVERNANCE', retainUntil: at(ASKED) }, 'GOVERNANCE', undefined)).toEqual({ status: 'passed', detail: 'locked GOVERNANCE until 2027-01-02T03:04:05.000Z (no manifest states the date asked for)' });
    expect(checkLock({ mode: 'COMPLIANCE', retainUntil: at(ASKED) }, undefined, ASKED).status).toBe('passed');
    expect(checkLock({ mode: 'COMPLIANCE', retainUntil: at(ASKED) }, undefined, 'not a date')).toEqual({ status: 'failed', detail: "the manifest's retainUntil 'not a date' is not a date" });
  });
});
