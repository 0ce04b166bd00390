import { describe, expect, it } from 'vitest';
import { loadConfig, type BackupKitConfigInput } from '../../lib/config/config';
import { classMaxRecoveryPointAgeHours, classRestoreTestMaxDays } from '../../lib/config/sections/aws-backup';
import { configErrorOf } from '../support/config-errors';

const base: BackupKitConfigInput = { prefix: 'backup-kit', primaryRegion: 'eu-west-1', drRegion: 'eu-central-1', account: '111122223333' };
const ORDERS = 'arn:aws:rds:eu-west-1:111122223333:db:orders-db';
const SHOP = 'arn:aws:rds:eu-west-1:111122223333:cluster:shop-aurora';
const SESSIONS = 'arn:aws:dynamodb:eu-west-1:111122223333:table/sessions';

function withAwsBackup(awsBackup: unknown): unknown {
  return { ...base, awsBackup };
}

describe('config: awsBackup', () => {
  it('GIVEN no awsBackup section WHEN loaded THEN no class is protected and the Vault Lock defaults to GOVERNANCE, 7 to 3650 days', () => {
    const { config } = loadConfig(base);
    expect(config.awsBackup).toEqual({ classes: {}, vaultLock: { mode: 'GOVERNANCE', minRetentionDays: 7, maxRetentionDays: 3650, changeableForDays: 3 } });
  });

  it("GIVEN a class with resources and no rules WHEN loaded THEN it gets the seeds' rules: daily kept 35 days, monthly kept 365, both copied to the DR region", () => {
    const { config, warnings } = loadConfig(withAwsBackup({ classes: { databases: { resources: { rdsInstances: [ORDERS], auroraClusters: [SHOP] } } } }));
    expect(config.awsBackup.classes.databases?.rules).toEqual({
      daily: { schedule: 'cron(0 3 * * ? *)', retentionDays: 35, continuous: false, copyToDr: true, copyToIsolatedAccount: true },
      monthly: { schedule: 'cron(0 5 1 * ? *)', retentionDays: 365, continuous: false, copyToDr: true, copyToIsolatedAccount: true },
    });
    expect(warnings).toEqual([expect.stringMatching(/^awsBackup\.classes\.databases\.restoreTesting\.network: not set: AWS Backup's monthly restore tests put this class's RDS and Aurora copies in the default VPC/)]);
  });

  it('GIVEN the restore tests\' network, or restore testing off THEN there is no warning about the default VPC; a malformed network fails naming the field', () => {
    const network = { subnetGroupName: 'orders-db-subnets', securityGroupIds: ['sg-0f1e2d3c4b5a69788'] };
    expect(loadConfig(withAwsBackup({ classes: { databases: { resources: { rdsInstances: [ORDERS] }, restoreTesting: { network } } } })).warnings).toEqual([]);
    expect(loadConfig(withAwsBackup({ classes: { databases: { resources: { rdsInstances: [ORDERS] }, restoreTesting: { enabled: false } } } })).warnings).toEqual([]);
    expect(configErrorOf(withAwsBackup({ classes: { databases: { resources: { rdsInstances: [ORDERS] }, restoreTesting: { network: { ...network, securityGroupIds: ['default'] } } } } }))).toMatch(
      /awsBackup\.classes\.databases\.restoreTesting\.network\.securityGroupIds\.0: must be a security group ID/,
    );
    for (const [subnetGroupName, reason] of [['default', "'default' is the default VPC's"], ['db;subnets', 'must be a DB subnet group name'], ['', 'expected string to have >=1'], ['x'.repeat(256), 'expected string to have <=255']] as const) {
      expect(configErrorOf(withAwsBackup({ classes: { databases: { resources: { rdsInstances: [ORDERS] }, restoreTesting: { network: { ...network, subnetGroupName } } } } })), subnetGroupName).toMatch(
        new RegExp(`awsBackup\\.classes\\.databases\\.restoreTesting\\.network\\.subnetGroupName: .*${reason.replace(/[.*+?^${}()|[\]\\']/g, '.')}`, 'i'),
      );
    }
  });

  it.each([
    ['a rule kept longer than the lock allows', { retentionDays: 4000 }, /awsBackup\.classes\.databases\.rules\.daily\.retentionDays: 4000 days is outside the Vault Lock's 7-3650 days .*refuse every backup and copy/],
    ['a rule kept shorter than the lock requires', { retentionDays: 3 }, /rules\.daily\.retentionDays: 3 days is outside the Vault Lock's 7-3650 days/],
    ['continuous backup kept over 35 days', { continuous: true, retentionDays: 60 }, /rules\.daily\.retentionDays: 60 days with continuous backup: its point-in-time window is at most 35 days/],
    ['continuous backup to cold storage', { continuous: true, retentionDays: 35, coldStorageAfterDays: 7 }, /rules\.daily\.coldStorageAfterDays: continuous backups do not move to cold storage/],
    ['cold storage for fewer than 90 days', { retentionDays: 120, coldStorageAfterDays: 60 }, /rules\.daily\.retentionDays: 120 days: AWS Backup keeps a recovery point at least 90 days in cold storage, so with coldStorageAfterDays 60 it must be at least 150/],
    ['a schedule more often than hourly', { schedule: 'cron(0/15 * * * ? *)' }, /rules\.daily\.schedule: 'cron\(0\/15 \* \* \* \? \*\)' runs more than once an hour/],
    ['a schedule that is not a cron', { schedule: 'rate(1 day)' }, /rules\.daily\.schedule: 'rate\(1 day\)' is not an EventBridge Scheduler cron expression/],
  ])('GIVEN %s WHEN loaded THEN synth fails naming the field and the reason', (_what, rule, message) => {
    const input = withAwsBackup({ classes: { databases: { resources: { rdsInstances: [ORDERS], dynamoDbTables: [SESSIONS] }, rules: { daily: { schedule: 'cron(0 3 * * ? *)', retentionDays: 35, ...rule } } } } });
    expect(configErrorOf(input)).toMatch(message);
  });

  it('GIVEN resources in another region or account, twice, or none WHEN loaded THEN each is refused by its path', () => {
    const message = configErrorOf(
      withAwsBackup({
        classes: {
          databases: { resources: { rdsInstances: [ORDERS, 'arn:aws:rds:us-east-1:111122223333:db:far-away', 'arn:aws:rds:eu-west-1:999999999999:db:foreign'] } },
          again: { resources: { rdsInstances: [ORDERS] } },
          empty: { resources: {} },
        },
      }),
    );
    expect(message).toMatch(/awsBackup\.classes\.databases\.resources\.rdsInstances\.1: is in us-east-1: a backup plan protects resources of its own region, eu-west-1/);
    expect(message).toMatch(/awsBackup\.classes\.databases\.resources\.rdsInstances\.2: belongs to account 999999999999, not 111122223333/);
    expect(message).toMatch(/awsBackup\.classes\.again\.resources\.rdsInstances\.0: '.*orders-db' is already protected by awsBackup\.classes\.databases\.resources\.rdsInstances\.0/);
    expect(message).toMatch(/awsBackup\.classes\.empty\.resources: names nothing to protect/);
  });

  it('GIVEN malformed ARNs and names WHEN loaded THEN the schema names what each must be', () => {
    const message = configErrorOf(withAwsBackup({ classes: { mixed: { resources: { rdsInstances: [SHOP], auroraClusters: [ORDERS], s3Buckets: ['Not_A_Bucket'] } } } }));
    expect(message).toMatch(/rdsInstances\.0: must be the ARN of an RDS DB instance/);
    expect(message).toMatch(/auroraClusters\.0: must be the ARN of an Aurora DB cluster/);
    expect(message).toMatch(/s3Buckets\.0: must be an S3 bucket name/);
  });

  it('GIVEN a Vault Lock whose minimum is above its maximum WHEN loaded THEN synth fails', () => {
    expect(configErrorOf(withAwsBackup({ vaultLock: { minRetentionDays: 400, maxRetentionDays: 365 } }))).toMatch(/awsBackup\.vaultLock\.minRetentionDays: 400 is above maxRetentionDays \(365\)/);
    expect(configErrorOf(withAwsBackup({ vaultLock: { mode: 'COMPLIANCE', changeableForDays: 1 } }))).toMatch(/awsBackup\.vaultLock\.changeableForDays/);
  });

  it('GIVEN COMPLIANCE mode, S3 buckets, and cold storage or continuous backup on types that ignore them WHEN loaded THEN synth warns, naming what AWS Backup will do', () => {
    const { warnings } = loadConfig(
      withAwsBackup({
        vaultLock: { mode: 'COMPLIANCE' },
        classes: {
          media: { resources: { s3Buckets: ['shop-media'] }, rules: { monthly: { schedule: 'cron(0 5 1 * ? *)', retentionDays: 365, coldStorageAfterDays: 30 } } },
          sessions: { resources: { dynamoDbTables: [SESSIONS] }, rules: { hourly: { schedule: 'cron(5 * * * ? *)', retentionDays: 7, continuous: true } } },
        },
      }),
    );
    expect(warnings).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^awsBackup\.vaultLock\.mode: COMPLIANCE: 3 days after the first deployment the Vault Lock of both vaults becomes immutable/),
        expect.stringMatching(/^awsBackup\.classes\.media\.resources\.s3Buckets: shop-media: AWS Backup backs up only versioned buckets/),
        expect.stringMatching(/^awsBackup\.classes\.media\.rules\.monthly\.coldStorageAfterDays: AWS Backup moves only EFS and DynamoDB recovery points/),
        expect.stringMatching(/^awsBackup\.classes\.sessions\.rules\.hourly\.continuous: no resource of this class supports continuous backup/),
        expect.stringMatching(/^awsBackup\.classes\.sessions\.maxRecoveryPointAgeHours: this class has only continuous rules, so no recovery point age alarm watches its resources/),
      ]),
    );
    expect(warnings).toHaveLength(5);
  });
});

describe('config: restore testing of a class', () => {
  const resources = { rdsInstances: [ORDERS] };
  it('GIVEN nothing said THEN each class is restore-tested monthly on the 15th, the newest snapshot of 35 days, kept 2 h', () => {
    const { config } = loadConfig(withAwsBackup({ classes: { databases: { resources } } }));
    expect(config.awsBackup.classes.databases?.restoreTesting).toEqual({ enabled: true, schedule: 'cron(0 6 15 * ? *)', validationWindowHours: 2, algorithm: 'LATEST_WITHIN_WINDOW', selectionWindowDays: 35, probes: {} });
  });

  it('GIVEN a validation window or selection window AWS Backup refuses, or an unknown algorithm THEN synth fails naming each field', () => {
    const message = configErrorOf(withAwsBackup({ classes: { databases: { resources, restoreTesting: { validationWindowHours: 0, selectionWindowDays: 400, algorithm: 'OLDEST' } } } }));
    expect(message).toMatch(/awsBackup\.classes\.databases\.restoreTesting\.validationWindowHours/);
    expect(message).toMatch(/awsBackup\.classes\.databases\.restoreTesting\.selectionWindowDays/);
    expect(message).toMatch(/awsBackup\.classes\.databases\.restoreTesting\.algorithm/);
  });

  it('GIVEN the schedule THEN a resource may go 33 days without a passed restore test (monthly), 9 for a weekly one; the override wins; off, none', () => {
    const daysOf = (restoreTesting: unknown) => classRestoreTestMaxDays(loadConfig(withAwsBackup({ classes: { databases: { resources, restoreTesting } } })).config.awsBackup.classes.databases!);
    expect(daysOf({})).toBe(33);
    expect(daysOf({ schedule: 'cron(0 6 ? * MON *)' })).toBe(9);
    expect(daysOf({ alarmAfterDays: 40 })).toBe(40);
    expect(daysOf({ enabled: false })).toBeUndefined();
  });

  it('GIVEN a schedule whose cadence cannot be derived (quarterly) THEN synth fails asking for alarmAfterDays', () => {
    expect(configErrorOf(withAwsBackup({ classes: { databases: { resources, restoreTesting: { schedule: 'cron(0 6 1 1/3 ? *)' } } } }))).toMatch(
      /awsBackup\.classes\.databases\.restoreTesting\.alarmAfterDays: cannot derive how often 'cron\(0 6 1 1\/3 \? \*\)' restore-tests this class/,
    );
  });
});

describe('config: SQL probes of the restore tests\' database copies', () => {
  const network = { subnetGroupName: 'restore-tests', securityGroupIds: ['sg-0123456789abcdef0'] };
  const probeNetwork = { subnetIds: ['subnet-0123456789abcdef0', 'subnet-0fedcba9876543210'], securityGroupIds: ['sg-0aaaaaaaaaaaaaaaa'] };
  const probes = { 'orders-db': { database: 'shop', statements: ["SELECT max(placed_at) > now() - interval '2 days' FROM orders"] } };
  const probed = (restoreTesting: object, extra: object = { probeNetwork }, resources: object = { rdsInstances: [ORDERS], auroraClusters: [SHOP] }) =>
    withAwsBackup({ classes: { databases: { resources, restoreTesting: { network, ...restoreTesting } } }, ...extra });

  it('GIVEN probes of an RDS instance of the class, the copies\' network and the probe network THEN they load, signed in as backup_probe by default', () => {
    const { config, warnings } = loadConfig(probed({ probes }));
    expect(config.awsBackup.classes.databases?.restoreTesting.probes).toEqual({ 'orders-db': { database: 'shop', user: 'backup_probe', statements: probes['orders-db'].statements } });
    expect(config.awsBackup.probeNetwork).toEqual(probeNetwork);
    expect(warnings).toEqual([]);
  });

  it('GIVEN probes of an Aurora cluster, or of an instance the class does not protect THEN synth fails saying why for each', () => {
    const message = configErrorOf(probed({ probes: { 'shop-aurora': probes['orders-db'], 'billing-db': probes['orders-db'] } }));
    expect(message).toMatch(/awsBackup\.classes\.databases\.restoreTesting\.probes\.shop-aurora: 'shop-aurora' is an Aurora cluster: AWS Backup restores a cluster's test copy without instances/);
    expect(message).toMatch(/awsBackup\.classes\.databases\.restoreTesting\.probes\.billing-db: 'billing-db' is not an RDS instance of this class/);
  });

  it('GIVEN probes without the probe network, without the copies\' network, or with restore testing off THEN synth fails naming the missing field', () => {
    expect(configErrorOf(probed({ probes }, {}))).toMatch(/awsBackup\.probeNetwork: required with awsBackup\.classes\.databases\.restoreTesting\.probes/);
    expect(configErrorOf(withAwsBackup({ classes: { databases: { resources: { rdsInstances: [ORDERS] }, restoreTesting: { probes } } }, probeNetwork }))).toMatch(
      /awsBackup\.classes\.databases\.restoreTesting\.network: required with probes/,
    );
    expect(configErrorOf(probed({ probes, enabled: false }))).toMatch(/restoreTesting\.probes: restore testing of this class is off/);
  });

  it('GIVEN a statement that is not a query, too many or too long, a bad user or database name, or a malformed probe network THEN synth fails naming each field', () => {
    const message = configErrorOf(
      probed(
        { probes: { 'orders-db': { database: 'shop; drop', user: 'probe-user', statements: ['DELETE FROM orders', `SELECT ${'x'.repeat(1001)}`] } } },
        { probeNetwork: { subnetIds: ['subnet-xyz'], securityGroupIds: [] } },
      ),
    );
    for (const field of ['probes.orders-db.database', 'probes.orders-db.user', 'probeNetwork.subnetIds.0', 'probeNetwork.securityGroupIds']) {
      expect(message).toContain(field);
    }
    expect(message).toMatch(/statements\.0: must be a query \(begin with SELECT or WITH\)/);
    expect(message).toMatch(/statements\.1: a statement is at most 1000 characters/);
    expect(configErrorOf(probed({ probes: { 'orders-db': { database: 'shop', statements: Array.from({ length: 11 }, () => 'SELECT 1') } } }))).toMatch(/probes\.orders-db\.statements: at most 10 statements/);
  });
});

describe('config: the recovery point age limit of a class', () => {
  const limitOf = (backupClass: unknown): number | undefined => {
    const { config } = loadConfig(withAwsBackup({ classes: { databases: backupClass } }));
    return classMaxRecoveryPointAgeHours(config.awsBackup.classes.databases!);
  };
  const resources = { rdsInstances: [`arn:aws:rds:${base.primaryRegion}:111122223333:db:orders-db`] };

  it('GIVEN the default rules (daily and monthly) THEN the daily one sets it: a day, the 8-hour start window and a margin, 36 h', () => {
    expect(limitOf({ resources })).toBe(36);
  });

  it('GIVEN a weekly and a monthly rule THEN the weekly one sets it (8 days); GIVEN an override THEN it wins', () => {
    const rules = { weekly: { schedule: 'cron(0 3 ? * SUN *)', retentionDays: 35 }, monthly: { schedule: 'cron(0 5 1 * ? *)', retentionDays: 365 } };
    expect(limitOf({ resources, rules })).toBe(192);
    expect(limitOf({ resources, rules, maxRecoveryPointAgeHours: 30 })).toBe(30);
  });

  it('GIVEN a continuous rule beside a daily snapshot rule THEN the snapshot rule sets it (a continuous recovery point keeps its creation date)', () => {
    const rules = { pitr: { schedule: 'cron(0 * * * ? *)', retentionDays: 35, continuous: true }, daily: { schedule: 'cron(0 3 * * ? *)', retentionDays: 35 } };
    expect(limitOf({ resources, rules })).toBe(36);
  });

  it('GIVEN only snapshot rules whose cadence cannot be derived (quarterly) THEN synth fails asking for the limit in hours', () => {
    const rules = { quarterly: { schedule: 'cron(0 5 1 1,4,7,10 ? *)', retentionDays: 400 } };
    expect(configErrorOf(withAwsBackup({ classes: { databases: { resources, rules } } }))).toMatch(
      /awsBackup\.classes\.databases\.maxRecoveryPointAgeHours: cannot derive the recovery points' maximum age from the schedules of this class's snapshot rules; set it in hours/,
    );
    expect(limitOf({ resources, rules, maxRecoveryPointAgeHours: 24 * 95 })).toBe(24 * 95);
  });

  it('GIVEN resources selected by tag THEN synth warns that they have no age alarm', () => {
    const { warnings } = loadConfig(withAwsBackup({ classes: { tagged: { resources: { tags: [{ key: 'backup', value: 'daily' }] } } } }));
    expect(warnings).toEqual(expect.arrayContaining([expect.stringMatching(/^awsBackup\.classes\.tagged\.resources\.tags: resources selected by tag are backed up but have no recovery point age alarm/)]));
  });
});
