import { describe, expect, it } from 'vitest';
import { invalidRestoreParameters, restoreParametersFor, type RestoreSite, type RestoreTarget } from '../../contracts/restore-command';
import { whatWouldChange } from '../../lambda/restore/core';

/**
 * The restore function's side of a files target with several paths: the document parameters it
 * sends, and the plan a dry run shows (what restore.sh does with them is tested in
 * restore-file-set.test.ts).
 */

const paths = ['/srv/app/.env.production', '/srv/app/core/config.py', '/etc/nginx/sites-available/drishti'];
const target: RestoreTarget = {
  backup: { name: 'app-config', kind: 'files', instances: { instanceIds: ['i-0123456789abcdef0'] }, tiers: ['daily'], paths, executionTimeoutSeconds: 3600, maxConcurrency: '1', maxErrors: '100%' },
  restore: { drill: true, probes: [] },
};
const site: RestoreSite = {
  bucket: 'backup-kit-backups',
  kmsKeyArn: 'arn:aws:kms:eu-west-1:123456789012:key/0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b',
  region: 'eu-west-1',
  safetyTier: 'predeploy',
  safetyRetentionDays: 7,
  safetyObjectLockMode: 'GOVERNANCE',
};
const order = { mode: 'replace' as const, key: 'daily/app-config/2026/11/20/app-config_20261120T020000Z.tar.gz', versionId: 'v1', manifestVersionId: 'm1', drill: false, confirm: 'app-config' };

describe('a files target with several paths, in the restore function', () => {
  it('sends them joined by colons with the scratch root, and every parameter passes its allowed pattern', () => {
    const parameters = restoreParametersFor(target, site, order);
    expect(parameters).toMatchObject({ paths: [paths.join(':')], scratchRoot: ['/var/tmp/backup-kit-restore/app-config'] });
    expect(parameters).not.toHaveProperty('path');
    expect(invalidRestoreParameters(parameters)).toEqual([]);
  });

  it('shows a replace as: safety backup of what exists, extract and check, then each path to its own place, nothing else written', () => {
    const plan = whatWouldChange(target, site, order, { instanceId: 'i-0123456789abcdef0' }).join('\n');
    expect(plan).toMatch(/safety backup of those of the paths that exist/);
    expect(plan).toMatch(/a backup that lacks one of the paths stops the restore before anything changes/);
    expect(plan).toContain(paths.join(', '));
    expect(plan).toMatch(/creating missing directories above it, root's and 0755/);
    expect(plan).toMatch(/only these paths are written/);
  });

  it('shows a scratch restore as every path below one private copy, the live paths untouched', () => {
    const plan = whatWouldChange(target, site, { ...order, mode: 'scratch' }, { instanceId: 'i-0123456789abcdef0' }).join('\n');
    expect(plan).toMatch(/writes the restored paths below \/var\/tmp\/backup-kit-restore\/app-config\/app-config\.restore-<UTC stamp of the run> on i-0123456789abcdef0 \(each at .*\/<its path>\), readable by root only/);
    expect(plan).toContain(`${paths.join(', ')} are not touched`);
  });
});
