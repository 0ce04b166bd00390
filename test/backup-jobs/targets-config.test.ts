import { describe, expect, it } from 'vitest';
import { exampleConfig } from '../../config/example';
import { documentParametersFor, invalidDocumentParameters } from '../../contracts/backup-command';
import { loadConfig, type BackupKitConfigInput } from '../../lib/config/config';
import { configErrorOf } from '../support/config-errors';
import { looksLikeSecretValue } from '../../lib/config/sections/targets';
import { backupJobsTiers, targetPlans } from '../../lib/stacks/backup-jobs-settings';
import { restoreTargets } from '../../lib/stacks/restore-settings';

type TargetInput = NonNullable<BackupKitConfigInput['targets']>[number];

const postgres: TargetInput = {
  name: 'orders-db',
  kind: 'postgres',
  instances: { instanceIds: ['i-0123456789abcdef0'] },
  host: '127.0.0.1',
  database: 'orders',
  user: 'backup',
  password: { ssmParameter: '/orders/prod/db-password' },
};

function configWith(...targets: unknown[]): unknown {
  return { ...exampleConfig, targets };
}

describe('targets config: accepted', () => {
  it('GIVEN the example THEN all four kinds load with their defaults resolved', () => {
    const { config } = loadConfig(exampleConfig);
    expect(config.targets.map((target) => target.kind)).toEqual(['postgres', 'mysql', 'sqlite', 'files']);
    const billing = config.targets.find((target) => target.name === 'billing-db');
    expect(billing).toMatchObject({ port: 3306, timeoutMinutes: 120, rateControl: { maxConcurrency: '1', maxErrors: '100%' } });
    expect(config.targets.find((target) => target.name === 'orders-db')).toMatchObject({ port: 5432 });
  });

  it('GIVEN a target without tiers THEN it takes part in every configured tier', () => {
    const { config } = loadConfig(configWith(postgres));
    expect(targetPlans(config)[0]?.tiers).toEqual(Object.keys(config.tiers));
  });

  it('GIVEN a target with its own tiers THEN only those are planned', () => {
    const { config } = loadConfig(configWith({ ...postgres, tiers: ['daily', 'manual'] }));
    expect(targetPlans(config)[0]?.tiers).toEqual(['daily', 'manual']);
  });

  it('GIVEN a Secrets Manager ARN THEN it is accepted as the password source', () => {
    const arn = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:orders/db-AbCdEf';
    const { config } = loadConfig(configWith({ ...postgres, password: { secretId: arn } }));
    expect(targetPlans(config)[0]?.database?.password).toEqual({ secretId: arn });
  });

  it('GIVEN a files target with excludes THEN the plan carries the path and the excludes', () => {
    const { config } = loadConfig(
      configWith({ name: 'media', kind: 'files', instances: { tag: { key: 'app', value: 'web' } }, path: '/srv/media dir', excludes: ['cache/*', '[!a]*.tmp'] }),
    );
    expect(targetPlans(config)[0]).toMatchObject({ path: '/srv/media dir', excludes: ['cache/*', '[!a]*.tmp'], instances: { tag: { key: 'app', value: 'web' } } });
  });

  it('GIVEN the default tiers THEN retention and schedules carry over to the jobs', () => {
    const { config } = loadConfig(exampleConfig);
    const tiers = backupJobsTiers(config);
    expect(tiers.daily?.retention.toDays()).toBe(30);
    expect(tiers.daily?.schedule).toBe('cron(0 2 * * ? *)');
    expect(tiers.manual?.schedule).toBeUndefined();
  });
});

describe('targets config: rejected with the field named', () => {
  it('GIVEN a name with capitals THEN the name is rejected as an S3 prefix part', () => {
    expect(configErrorOf(configWith({ ...postgres, name: 'Orders_DB' }))).toMatch(/targets\.0\.name: target names are 1-40 lowercase letters/);
  });

  it('GIVEN two targets with the same name THEN the second is named', () => {
    expect(configErrorOf(configWith(postgres, { ...postgres }))).toMatch(/targets\.1\.name: 'orders-db' is already the name of targets\.0/);
  });

  it('GIVEN an unknown tier THEN the tier entry is named with the configured tiers', () => {
    expect(configErrorOf(configWith({ ...postgres, tiers: ['daily', 'hourly'] }))).toMatch(
      /targets\.0\.tiers\.1: unknown tier 'hourly' \(configured tiers: daily, weekly, monthly, manual, predeploy\)/,
    );
  });

  it('GIVEN an empty tier list THEN it asks for a tier or no field', () => {
    expect(configErrorOf(configWith({ ...postgres, tiers: [] }))).toMatch(/targets\.0\.tiers: list at least one tier, or omit the field/);
  });

  it('GIVEN both instance IDs and a tag THEN exactly one is asked for', () => {
    expect(configErrorOf(configWith({ ...postgres, instances: { instanceIds: ['i-0123456789abcdef0'], tag: { key: 'a', value: 'b' } } }))).toMatch(
      /targets\.0\.instances: give exactly one of instanceIds: \[\.\.\.\] or tag: \{ key, value \}/,
    );
  });

  it('GIVEN neither instance IDs nor a tag THEN exactly one is asked for', () => {
    expect(configErrorOf(configWith({ ...postgres, instances: {} }))).toMatch(/targets\.0\.instances: give exactly one of instanceIds/);
  });

  it('GIVEN a malformed instance ID THEN the entry is named', () => {
    expect(configErrorOf(configWith({ ...postgres, instances: { instanceIds: ['i-123'] } }))).toMatch(/targets\.0\.instances\.instanceIds\.0: must be an EC2 instance ID/);
  });

  it("GIVEN a tag key reserved by AWS THEN the key is named", () => {
    expect(configErrorOf(configWith({ ...postgres, instances: { tag: { key: 'aws:autoscaling:groupName', value: 'x' } } }))).toMatch(
      /targets\.0\.instances\.tag\.key: tag keys starting with 'aws:' are reserved/,
    );
  });

  it('GIVEN an unknown kind THEN the kind is named with the four kinds', () => {
    expect(configErrorOf(configWith({ ...postgres, kind: 'oracle' }))).toMatch(/targets\.0\.kind: kind must be one of 'postgres', 'mysql', 'sqlite', 'files'/);
  });

  it('GIVEN a port out of range THEN the port is named', () => {
    expect(configErrorOf(configWith({ ...postgres, port: 70000 }))).toMatch(/targets\.0\.port/);
  });

  it('GIVEN a host with shell characters THEN the host is named', () => {
    expect(configErrorOf(configWith({ ...postgres, host: 'db;rm -rf /' }))).toMatch(/targets\.0\.host: must be a host name or IP address/);
  });

  it('GIVEN a relative or dotted path THEN the path is named', () => {
    const sqlite = { name: 'app', kind: 'sqlite', instances: { instanceIds: ['i-0123456789abcdef0'] } };
    expect(configErrorOf(configWith({ ...sqlite, path: 'var/app/db.sqlite3' }))).toMatch(/targets\.0\.path: must be an absolute path/);
    expect(configErrorOf(configWith({ ...sqlite, path: '/var/app/../etc/shadow' }))).toMatch(/targets\.0\.path: must not contain '\.' or '\.\.' segments/);
    expect(configErrorOf(configWith({ ...sqlite, path: "/var/app/it's.db" }))).toMatch(/targets\.0\.path: must be an absolute path/);
  });

  it('GIVEN a files target on / THEN it refuses to archive the whole file system', () => {
    expect(configErrorOf(configWith({ name: 'all', kind: 'files', instances: { instanceIds: ['i-0123456789abcdef0'] }, path: '/' }))).toMatch(
      /targets\.0\.path: refusing to archive the whole file system/,
    );
  });

  it('GIVEN a files target with several paths THEN the plan, the backup command and the restore command carry them joined by colons', () => {
    const paths = ['/srv/app/.env.production', '/etc/nginx/sites-available/drishti', '/srv/app/config.py'];
    const { config } = loadConfig(configWith({ name: 'app-config', kind: 'files', instances: { instanceIds: ['i-0123456789abcdef0'] }, paths }));
    const plan = targetPlans(config)[0];
    expect(plan).toMatchObject({ paths });
    expect(plan).not.toHaveProperty('path');
    const parameters = documentParametersFor(plan!, 'daily', { retentionDays: 7, objectLockMode: 'GOVERNANCE' }, { bucket: 'backup-kit-backups', kmsKeyArn: 'arn:aws:kms:eu-west-1:123456789012:key/0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b', region: 'eu-west-1' });
    expect(parameters).toMatchObject({ paths: [paths.join(':')] });
    expect(parameters).not.toHaveProperty('path');
    expect(invalidDocumentParameters(parameters)).toEqual([]);
    expect(restoreTargets(config)[0]?.restore.scratchRoot).toBe('/var/tmp/backup-kit-restore/app-config');
  });

  it.each([
    [{}, /targets\.0\.path: 'app-config' must name the directory to archive \(path\) or several files and directories \(paths\), not neither/],
    [{ path: '/srv/app', paths: ['/srv/app/.env'] }, /not both/],
    [{ paths: [] }, /targets\.0\.paths: Too small/],
    [{ paths: ['/srv/app', '/srv/app/.env'] }, /targets\.0\.paths\.1: '\/srv\/app\/\.env' overlaps paths\.0 \('\/srv\/app'\): name each file or directory once/],
    [{ paths: ['/srv/a:b'] }, /targets\.0\.paths\.0: must not contain ':'/],
    [{ paths: ['/'] }, /targets\.0\.paths\.0: refusing to archive the whole file system/],
    [{ paths: ['/srv/app/../../etc/shadow'] }, /targets\.0\.paths\.0: must not contain '\.' or '\.\.' segments/],
    [{ paths: Array.from({ length: 65 }, (_, index) => `/srv/app/file-${index}`) }, /targets\.0\.paths: at most 64 paths/],
  ])('GIVEN files paths %j THEN synth fails naming the field', (fields, message) => {
    expect(configErrorOf(configWith({ name: 'app-config', kind: 'files', instances: { instanceIds: ['i-0123456789abcdef0'] }, ...fields }))).toMatch(message);
  });

  it("GIVEN an exclude with ':' THEN the exclude is named (':' separates excludes)", () => {
    expect(
      configErrorOf(configWith({ name: 'media', kind: 'files', instances: { instanceIds: ['i-0123456789abcdef0'] }, path: '/srv/media', excludes: ['a:b'] })),
    ).toMatch(/targets\.0\.excludes\.0: exclude patterns are letters/);
  });

  it('GIVEN a sqlite target with database fields THEN the unknown fields are named', () => {
    expect(
      configErrorOf(configWith({ name: 'app', kind: 'sqlite', instances: { instanceIds: ['i-0123456789abcdef0'] }, path: '/var/app/db.sqlite3', database: 'x' })),
    ).toMatch(/targets\.0: unknown field 'database'/);
  });

  it('GIVEN a timeout over 48 hours THEN timeoutMinutes is named', () => {
    expect(configErrorOf(configWith({ ...postgres, timeoutMinutes: 3000 }))).toMatch(/targets\.0\.timeoutMinutes: Run Command stops a command after at most 48 hours/);
  });

  it('GIVEN a bad maxErrors THEN rateControl.maxErrors is named', () => {
    expect(configErrorOf(configWith({ ...postgres, rateControl: { maxErrors: 'all' } }))).toMatch(/targets\.0\.rateControl\.maxErrors: must be a number/);
  });
});

describe('targets config: passwords never go in the config', () => {
  it('GIVEN the password itself as a string THEN it is refused, saying what to give instead', () => {
    expect(configErrorOf(configWith({ ...postgres, password: 'S3cr3t!pass' }))).toMatch(
      /targets\.0\.password: must name where the password is kept \(\{ ssmParameter: '\/name' \} or \{ secretId: 'name-or-arn' \}\), never the password itself/,
    );
  });

  it('GIVEN a password field under another name THEN the field is refused as a password', () => {
    expect(configErrorOf(configWith({ ...postgres, dbPassword: 'hunter2' }))).toMatch(/targets\.0: unknown field 'dbPassword': passwords never go in the config/);
  });

  it('GIVEN both a parameter and a secret THEN exactly one is asked for', () => {
    expect(configErrorOf(configWith({ ...postgres, password: { ssmParameter: '/a/b', secretId: 'c' } }))).toMatch(
      /targets\.0\.password: give exactly one of \{ ssmParameter: name \} or \{ secretId: name-or-arn \}/,
    );
  });

  it('GIVEN a password where the parameter name goes THEN it is refused as looking like a password', () => {
    expect(configErrorOf(configWith({ ...postgres, password: { ssmParameter: 'p@ss word!' } }))).toMatch(/targets\.0\.password\.ssmParameter: must be an SSM parameter name/);
    expect(configErrorOf(configWith({ ...postgres, password: { ssmParameter: 'Xk9fP2mQz8Lw4Rt7vB3n' } }))).toMatch(
      /targets\.0\.password\.ssmParameter: looks like a password, not the name of where one is kept/,
    );
  });

  it('GIVEN a connection URL with credentials as the secret THEN it is refused', () => {
    expect(configErrorOf(configWith({ ...postgres, password: { secretId: 'postgres://backup:hunter2@db/orders' } }))).toMatch(/targets\.0\.password\.secretId/);
  });

  it('GIVEN a malformed secret ARN THEN the ARN form is explained', () => {
    expect(configErrorOf(configWith({ ...postgres, password: { secretId: 'arn:aws:s3:::bucket' } }))).toMatch(/targets\.0\.password\.secretId: is not a Secrets Manager secret ARN/);
  });

  it('GIVEN ordinary parameter and secret names THEN none of them looks like a password', () => {
    for (const name of ['/orders/prod/db-password', 'MyAppDatabasePassword2024', 'billing/prod/mysql-backup', 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf']) {
      expect(looksLikeSecretValue(name), name).toBe(false);
    }
    expect(looksLikeSecretValue('q7Gx2Lm9Pz4Kw8Rt')).toBe(true);
  });
});

describe('targets config: warnings', () => {
  it('GIVEN a target only in on-demand tiers THEN a warning says no schedule runs it', () => {
    const { warnings } = loadConfig(configWith({ ...postgres, tiers: ['manual'] }));
    expect(warnings).toContain(
      "targets.0.tiers: target 'orders-db' takes part in no scheduled tier: it is only backed up when someone starts a backup",
    );
  });
});

describe('restore config: scratch roots', () => {
  const media = { name: 'media', kind: 'files', instances: { instanceIds: ['i-0123456789abcdef0'] }, path: '/srv/media' };
  const withRestore = (targets: unknown[], restoreTargets: Record<string, unknown>): unknown => ({ ...exampleConfig, targets, restore: { targets: restoreTargets } });

  it('GIVEN no scratch root THEN a files target restores into /var/tmp/backup-kit-restore/<target>', () => {
    const { config } = loadConfig(withRestore([media], {}));
    expect(restoreTargets(config).find((target) => target.backup.name === 'media')?.restore.scratchRoot).toBe('/var/tmp/backup-kit-restore/media');
  });

  it.each([
    ['/srv/media/restores', /restore\.targets\.media\.scratchRoot: the scratch root \/srv\/media\/restores of 'media' overlaps the live path \/srv\/media of 'media'/],
    ['/srv', /overlaps the live path \/srv\/media/],
    ['/var/tmp/../etc', /restore\.targets\.media\.scratchRoot: must not contain '\.' or '\.\.' segments/],
    ['/', /restore\.targets\.media\.scratchRoot: must be a directory below \//],
  ])('GIVEN the scratch root %s THEN synth fails naming it', (scratchRoot, message) => {
    expect(configErrorOf(withRestore([media], { media: { scratchRoot } }))).toMatch(message);
  });

  it("GIVEN a target backing up the default scratch root THEN synth fails: scratch copies would land in another target's live data", () => {
    const tmp = { ...media, name: 'tmp-files', path: '/var/tmp' };
    expect(configErrorOf(withRestore([media, tmp], {}))).toMatch(/the scratch root \/var\/tmp\/backup-kit-restore\/media of 'media' overlaps the live path \/var\/tmp of 'tmp-files'/);
  });

  it('GIVEN a scratch root on a database target THEN synth fails: its scratch copy is a new database', () => {
    expect(configErrorOf(withRestore([postgres], { 'orders-db': { scratchRoot: '/var/tmp/x' } }))).toMatch(/restore\.targets\.orders-db\.scratchRoot: target 'orders-db' is postgres/);
  });
});

describe('guard.instanceIdsOnly', () => {
  const tagged = { ...postgres, instances: { tag: { key: 'role', value: 'orders' } } };

  it('GIVEN a target found by tag and instanceIdsOnly THEN synth fails naming the target: a tag can be put on any instance', () => {
    expect(configErrorOf({ ...exampleConfig, targets: [tagged], guard: { instanceIdsOnly: true } })).toMatch(
      /targets\.0\.instances\.tag: guard\.instanceIdsOnly is set: name the instance IDs of 'orders-db' \(anyone allowed ec2:CreateTags could tag an instance into it\)/,
    );
  });

  it('GIVEN instances to restore onto found by tag and instanceIdsOnly THEN synth fails naming the setting', () => {
    const config = { ...exampleConfig, targets: [postgres], guard: { instanceIdsOnly: true }, restore: { targets: { 'orders-db': { onto: { tag: { key: 'backup-kit:restore-into', value: 'orders-db' } } } } } };
    expect(configErrorOf(config)).toMatch(/restore\.targets\.orders-db\.onto\.tag: guard\.instanceIdsOnly is set: name the instance IDs 'orders-db' may be restored onto/);
  });

  it("GIVEN an instance to restore onto that is already the target's THEN synth fails naming it", () => {
    const config = { ...exampleConfig, targets: [postgres], restore: { targets: { 'orders-db': { onto: { instanceIds: ['i-0dddddddddddddddd', 'i-0123456789abcdef0'] } } } } };
    expect(configErrorOf(config)).toMatch(/restore\.targets\.orders-db\.onto\.instanceIds\.1: i-0123456789abcdef0 is already an instance of 'orders-db'/);
  });

  it('GIVEN instances to restore onto THEN the restore jobs receive them with the target', () => {
    const { config } = loadConfig({ ...exampleConfig, targets: [postgres], restore: { targets: { 'orders-db': { onto: { instanceIds: ['i-0dddddddddddddddd'] } } } } });
    expect(restoreTargets(config)[0]?.restore.onto).toEqual({ instanceIds: ['i-0dddddddddddddddd'] });
    expect(configErrorOf({ ...exampleConfig, targets: [postgres], restore: { targets: { 'orders-db': { onto: { instanceIds: ['i-1'] } } } } })).toMatch(/restore\.targets\.orders-db\.onto\.instanceIds\.0: must be an EC2 instance ID/);
  });

  it('GIVEN servers to rebuild THEN each lists configured targets, each with instances it may be restored onto, once; else synth fails naming the entry', () => {
    const onto = { 'orders-db': { onto: { instanceIds: ['i-0dddddddddddddddd'] } } };
    const { config } = loadConfig({ ...exampleConfig, targets: [postgres], restore: { targets: onto, servers: { 'orders-server': ['orders-db'] } } });
    expect(config.restore.servers).toEqual({ 'orders-server': ['orders-db'] });
    expect(configErrorOf({ ...exampleConfig, targets: [postgres], restore: { targets: onto, servers: { 'orders-server': ['orders-db', 'billing'] } } })).toMatch(
      /restore\.servers\.orders-server\.1: 'billing' is not a configured target/,
    );
    expect(configErrorOf({ ...exampleConfig, targets: [postgres], restore: { servers: { 'orders-server': ['orders-db'] } } })).toMatch(
      /restore\.servers\.orders-server\.0: 'orders-db' has no instances it may be restored onto: set restore\.targets\.orders-db\.onto/,
    );
    expect(configErrorOf({ ...exampleConfig, targets: [postgres], restore: { targets: onto, servers: { 'orders-server': ['orders-db', 'orders-db'] } } })).toMatch(/restore\.servers\.orders-server\.1: 'orders-db' is listed twice/);
    expect(configErrorOf({ ...exampleConfig, targets: [postgres], restore: { targets: onto, servers: { 'orders-server': [] } } })).toMatch(/restore\.servers\.orders-server: a server has at least one target/);
    expect(configErrorOf({ ...exampleConfig, targets: [postgres], restore: { targets: onto, servers: { 'Orders Server': ['orders-db'] } } })).toMatch(/restore\.servers\.Orders Server: server names are lowercase/);
  });

  it('GIVEN rebuild drills THEN each names a configured server and an instance its targets may be restored onto; else synth fails naming the entry', () => {
    const onto = { 'orders-db': { onto: { instanceIds: ['i-0dddddddddddddddd'] } } };
    const servers = { 'orders-server': ['orders-db'] };
    const { config } = loadConfig({ ...exampleConfig, targets: [postgres], restore: { targets: onto, servers, drills: { rebuilds: [{ server: 'orders-server', onto: 'i-0dddddddddddddddd' }] } } });
    expect(config.restore.drills.rebuilds).toEqual([{ server: 'orders-server', onto: 'i-0dddddddddddddddd' }]);
    expect(configErrorOf({ ...exampleConfig, targets: [postgres], restore: { targets: onto, servers, drills: { rebuilds: [{ server: 'web', onto: 'i-0dddddddddddddddd' }] } } })).toMatch(
      /restore\.drills\.rebuilds\.0\.server: 'web' is not a server of restore\.servers \(orders-server\)/,
    );
    expect(configErrorOf({ ...exampleConfig, targets: [postgres], restore: { targets: onto, servers, drills: { rebuilds: [{ server: 'orders-server', onto: 'i-0eeeeeeeeeeeeeeee' }] } } })).toMatch(
      /restore\.drills\.rebuilds\.0\.onto: i-0eeeeeeeeeeeeeeee is not an instance 'orders-db' may be restored onto/,
    );
  });

  it('GIVEN a tier named rebuilds THEN synth fails: that prefix holds the rebuild records', () => {
    expect(configErrorOf({ ...exampleConfig, targets: [postgres], tiers: { ...exampleConfig.tiers, rebuilds: { retentionDays: 7 } } })).toMatch(/tiers\.rebuilds: the prefix 'rebuilds\/' of the backup bucket holds the rebuild records/);
  });

  it('GIVEN instance IDs and instanceIdsOnly THEN the config loads', () => {
    expect(() => loadConfig({ ...exampleConfig, targets: [postgres], guard: { instanceIdsOnly: true } })).not.toThrow();
  });
});
