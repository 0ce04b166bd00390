import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * vitest global setup, listed first: one temporary directory for the whole run, as TMPDIR for this
 * process and every worker and program started after it, removed when the run ends. Each CDK App
 * synthesizes into a directory of its own under TMPDIR, as do the tests' scratch directories and the
 * scripts' work directories, and not all of them can be removed where they are made (an App's
 * assembly outlives the test that reads it): without this a run left about 500 directories and
 * gigabytes in /tmp, every run.
 */
export default function setup(): () => void {
  if (process.env.BACKUP_KIT_RUN_TMPDIR) return () => undefined;
  const dir = mkdtempSync(join(tmpdir(), 'backup-kit-test-run-'));
  // Traversable by the database servers' own users (PostgreSQL runs as postgres), not listable.
  chmodSync(dir, 0o711);
  process.env.TMPDIR = dir;
  process.env.BACKUP_KIT_RUN_TMPDIR = dir;
  return () => {
    try {
      rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
    } catch (error) {
      console.warn(`run-tmpdir: could not remove ${dir}: ${(error as Error).message}`);
    }
  };
}
