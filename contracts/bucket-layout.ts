import { REPORT_PREFIX } from './evidence-report';
import { EXPECTED_SINCE_PREFIX, VERDICT_PREFIX } from './manifest';
import { REBUILD_RECORD_PREFIX } from './rebuild';
import { DRILL_RECORD_PREFIX } from './restore-command';

/**
 * The backup bucket's prefixes that the kit's functions write and no instance may: an instance
 * role writes only `<tier>/<target>/`, so a tier named like one of these would let an instance
 * forge what they hold (a verdict, a drill success, a report). The config refuses such tier names.
 */
export const RESERVED_PREFIXES: Readonly<Record<string, string>> = {
  [VERDICT_PREFIX]: 'the verification verdicts',
  [EXPECTED_SINCE_PREFIX]: "the markers since when each target's backups are expected",
  [DRILL_RECORD_PREFIX]: "each target's last successful drill",
  [REBUILD_RECORD_PREFIX]: 'the records of server rebuilds',
  [REPORT_PREFIX]: 'the monthly evidence reports',
};
