import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
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
