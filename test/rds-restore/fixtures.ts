import * as rdsSdk from '@aws-sdk/client-rds';
import type { DBInstance, DBInstanceAutomatedBackup } from '@aws-sdk/client-rds';
import type { AwsClientStub } from 'aws-sdk-client-mock';
import { expect } from 'vitest';
import type { RestoreSettings } from '../../contracts/rds';

export const PRIMARY = 'eu-west-1';
export const DR = 'eu-central-1';
export const ACCOUNT = '111122223333';
export const SOURCE_KEY = `arn:aws:kms:${PRIMARY}:${ACCOUNT}:key/1a2b3c4d-5e6f-4a1b-8c2d-3e4f5a6b7c8d`;
export const DR_KEY = `arn:aws:kms:${DR}:${ACCOUNT}:key/9f8e7d6c-5b4a-4f3e-9d2c-1b0a9f8e7d6c`;
export const REPLICATED_BACKUPS_ARN = `arn:aws:rds:${DR}:${ACCOUNT}:auto-backup:ab-7w3zlqcv4dxkrxzsdgbe2u4mqq`;

/** The restore settings of the example config: orders-db replicated to the DR region, billing-db not. */
export const settings: RestoreSettings = {
  primaryRegion: PRIMARY,
  drRegion: DR,
  sources: [
    {
      identifier: 'orders-db',
      kmsKeyArn: SOURCE_KEY,
      dr: {
        subnetGroupName: 'orders-dr-db-subnets',
        securityGroupIds: ['sg-0a1b2c3d4e5f60718'],
        parameterGroupName: 'orders-postgres16',
        kmsKeyArn: DR_KEY,
      },
    },
    { identifier: 'billing-db' },
  ],
};

/** The source as DescribeDBInstances reports a production PostgreSQL instance. */
export function sourceInstance(overrides: Partial<DBInstance> = {}): DBInstance {
  return {
    DBInstanceIdentifier: 'orders-db',
    DBInstanceArn: `arn:aws:rds:${PRIMARY}:${ACCOUNT}:db:orders-db`,
    DbiResourceId: 'db-ORDERS1234567890ABCDEFGHIJ',
    DBInstanceStatus: 'available',
    DBInstanceClass: 'db.r6g.large',
    Engine: 'postgres',
    EngineVersion: '16.4',
    BackupRetentionPeriod: 7,
    LatestRestorableTime: new Date('2026-11-21T14:15:00Z'),
    DBSubnetGroup: { DBSubnetGroupName: 'orders-db-subnets', VpcId: 'vpc-0123456789abcdef0' },
    VpcSecurityGroups: [
      { VpcSecurityGroupId: 'sg-0aaaaaaaaaaaaaaa1', Status: 'active' },
      { VpcSecurityGroupId: 'sg-0bbbbbbbbbbbbbbb2', Status: 'active' },
      { VpcSecurityGroupId: 'sg-0ccccccccccccccc3', Status: 'removing' },
    ],
    DBParameterGroups: [{ DBParameterGroupName: 'orders-postgres16', ParameterApplyStatus: 'in-sync' }],
    OptionGroupMemberships: [{ OptionGroupName: 'default:postgres-16', Status: 'in-sync' }],
    Endpoint: { Address: 'orders-db.abcdefghijkl.eu-west-1.rds.amazonaws.com', Port: 5432 },
    StorageType: 'gp3',
    Iops: 3000,
    StorageEncrypted: true,
    KmsKeyId: SOURCE_KEY,
    IAMDatabaseAuthenticationEnabled: true,
    PubliclyAccessible: false,
    AutoMinorVersionUpgrade: true,
    EnabledCloudwatchLogsExports: ['postgresql'],
    MultiAZ: true,
    TagList: [
      { Key: 'team', Value: 'orders' },
      { Key: 'cost-center', Value: 'cc-1234' },
      { Key: 'aws:cloudformation:stack-name', Value: 'orders' },
    ],
    ...overrides,
  };
}

/** The source's automated backups in its own region. */
export function automatedBackup(overrides: Partial<DBInstanceAutomatedBackup> = {}): DBInstanceAutomatedBackup {
  return {
    DBInstanceArn: `arn:aws:rds:${PRIMARY}:${ACCOUNT}:db:orders-db`,
    DbiResourceId: 'db-ORDERS1234567890ABCDEFGHIJ',
    DBInstanceIdentifier: 'orders-db',
    Region: PRIMARY,
    Status: 'active',
    RestoreWindow: { EarliestTime: new Date('2026-11-14T03:10:00Z'), LatestTime: new Date('2026-11-21T14:15:00Z') },
    ...overrides,
  };
}

/** The source's automated backups as replicated to the DR region. */
export function replicatedBackup(overrides: Partial<DBInstanceAutomatedBackup> = {}): DBInstanceAutomatedBackup {
  return automatedBackup({
    Status: 'replicating',
    DBInstanceAutomatedBackupsArn: REPLICATED_BACKUPS_ARN,
    RestoreWindow: { EarliestTime: new Date('2026-11-15T00:20:00Z'), LatestTime: new Date('2026-11-21T14:02:00Z') },
    Port: 5432,
    StorageType: 'gp3',
    Encrypted: true,
    KmsKeyId: DR_KEY,
    IAMDatabaseAuthenticationEnabled: true,
    TagList: [{ Key: 'team', Value: 'orders' }],
    ...overrides,
  });
}

/** A `-pitr-` instance as the restore function leaves it. */
export function restoredInstance(identifier: string, tags: Record<string, string>, overrides: Partial<DBInstance> = {}): DBInstance {
  return {
    DBInstanceIdentifier: identifier,
    DBInstanceArn: `arn:aws:rds:${PRIMARY}:${ACCOUNT}:db:${identifier}`,
    DBInstanceStatus: 'creating',
    TagList: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })),
    ...overrides,
  };
}

/** An SDK error as the service returns it. */
export function awsError(name: string, message: string, status = 400): Error {
  return Object.assign(new Error(message), { name, $fault: 'client', $metadata: { httpStatusCode: status } });
}

/** Every RDS command that changes something: all but Describe*, List* and Download* (and the base class). */
export const MUTATING_RDS_COMMANDS = Object.entries(rdsSdk)
  .filter(([name, value]) => /^[A-Z]\w+Command$/.test(name) && typeof value === 'function' && !/^(Describe|List|Download)/.test(name))
  .map(([, value]) => value as new (input: never) => rdsSdk.ServiceInputTypes);

/** Asserts that `mock` received none of RDS's mutating commands. */
export function expectNoMutatingCalls(...mocks: AwsClientStub<rdsSdk.RDSClient>[]): void {
  expect(MUTATING_RDS_COMMANDS.length).toBeGreaterThan(100);
  for (const mock of mocks) {
    for (const command of MUTATING_RDS_COMMANDS) {
      expect(mock).toHaveReceivedCommandTimes(command as never, 0);
    }
  }
}

/** Completion fixtures: the alert topic, a restored instance and the RDS events about it. */
export const TOPIC = 'arn:aws:sns:eu-west-1:111122223333:backup-kit-alerts';
export const TARGET = 'orders-db-pitr-202611211406';
export const RESTORE_TAGS = {
  'restored-from': 'orders-db',
  'restore-time': '2026-11-21T14:06:00Z',
  'restore-point': '2026-11-21T14:06:00Z',
  'requested-by': 'jane',
  'restore-requested-at': '2026-11-21T14:20:07Z',
  'restore-request-id': 'req-42',
};

export function rdsEvent(identifier = TARGET, overrides: { region?: string; eventId?: string; time?: string; message?: string } = {}) {
  return {
    version: '0',
    id: '6a7e8feb-b491-4cf7-a9f1-bf3703467718',
    'detail-type': 'RDS DB Instance Event',
    source: 'aws.rds',
    account: '111122223333',
    time: overrides.time ?? '2026-11-21T14:58:02Z',
    region: overrides.region ?? PRIMARY,
    resources: [`arn:aws:rds:${overrides.region ?? PRIMARY}:111122223333:db:${identifier}`],
    detail: {
      EventCategories: ['restoration'],
      SourceType: 'DB_INSTANCE',
      SourceArn: `arn:aws:rds:${overrides.region ?? PRIMARY}:111122223333:db:${identifier}`,
      Date: '2026-11-21T14:58:02.113Z',
      Message: overrides.message ?? `Restored from DB instance orders-db to ${identifier}`,
      SourceIdentifier: identifier,
      EventID: overrides.eventId ?? 'RDS-EVENT-0019',
    },
  };
}

export function available(overrides: Partial<DBInstance> = {}, tags: Record<string, string> = RESTORE_TAGS): DBInstance {
  return restoredInstance(TARGET, tags, {
    DBInstanceStatus: 'available',
    Endpoint: { Address: `${TARGET}.abcdefghijkl.eu-west-1.rds.amazonaws.com`, Port: 5432 },
    InstanceCreateTime: new Date('2026-11-21T14:57:37Z'),
    ...overrides,
  });
}

