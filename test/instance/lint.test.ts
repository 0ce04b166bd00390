import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BACKUP_SCRIPT_FILES } from '../../lib/constructs/backup-command-document';
import { RESTORE_SCRIPT_FILES } from '../../lib/constructs/restore-command-document';
import { INSTANCE_SCRIPTS_DIR } from '../support/backup-script';

const scripts = readdirSync(INSTANCE_SCRIPTS_DIR)
  .filter((name) => name.endsWith('.sh'));

describe('instance scripts', () => {
  it('include the backup script and its shared functions', () => {
    expect(scripts).toEqual(expect.arrayContaining(['backup.sh', 'common.sh']));
  });

  it.each(scripts)('%s parses with bash -n', (script) => {
    const result = spawnSync('bash', ['-n', join(INSTANCE_SCRIPTS_DIR, script)], { encoding: 'utf8' });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
  });

  it.each(scripts)('%s is shellcheck-clean (following sourced files)', (script) => {
    const result = spawnSync('shellcheck', ['-x', '--severity=style', join(INSTANCE_SCRIPTS_DIR, script)], { encoding: 'utf8', cwd: join(INSTANCE_SCRIPTS_DIR, '../..') });
    expect(result.error).toBeUndefined();
    expect(result.stdout).toBe('');
    expect(result.status).toBe(0);
  });
});

describe('the instance-command documents', () => {
  /** The scripts `entry` needs on the instance: itself, what it sources and what it runs, transitively. */
  function needed(entry: string, found = new Set<string>()): Set<string> {
    found.add(entry);
    const text = readFileSync(join(INSTANCE_SCRIPTS_DIR, entry), 'utf8');
    for (const match of text.matchAll(/^\s*(?:source|\.|.*\bbash) "\$(?:SCRIPT_DIR|script_dir)\/([a-z0-9-]+\.sh)"/gm)) {
      if (match[1] && !found.has(match[1])) needed(match[1], found);
    }
    return found;
  }

  it.each([
    ['backup.sh', BACKUP_SCRIPT_FILES],
    ['restore.sh', RESTORE_SCRIPT_FILES],
  ] as const)('embed exactly %s and the scripts it sources or runs', (entry, files) => {
    expect([...needed(entry)].sort()).toEqual([...files].sort());
  });
});
