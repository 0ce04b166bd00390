import {
  DescribeDBInstanceAutomatedBackupsCommand,
  DescribeDBInstancesCommand,
  RDSClient,
  RestoreDBInstanceToPointInTimeCommand,
  type DBInstance,
} from '@aws-sdk/client-rds';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { restoreToPointInTime, type RestoreDependencies } from '../../lambda/rds-restore/core';
import { parseRestoreEvent, type RestoreEventInput } from '../../contracts/rds-restore-event';
import { PermissionError, RequestRejectedError } from '../../contracts/errors';
import {
  DR,
  PRIMARY,
  REPLICATED_BACKUPS_ARN,
  automatedBackup,
  awsError,
  expectNoMutatingCalls,
  replicatedBackup,
  restoredInstance,
  settings,
  sourceInstance,
} from './fixtures';

const primary = new RDSClient({ region: PRIMARY });
const dr = new RDSClient({ region: DR });
const primaryMock = mockClient(primary);
const drMock = mockClient(dr);
const deps: RestoreDependencies = { rds: { primary, dr }, retry: { sleep: async () => undefined } };
const invocation = { requestId: 'c0ffee00-1111-2222-3333-444455556666', now: new Date('2026-11-21T14:20:07Z') };

const restore = (event: RestoreEventInput) => restoreToPointInTime(parseRestoreEvent(event), settings, deps, invocation);

/** The primary region holds the source and, in the listing, `others`. */
function givenSource(source: DBInstance = sourceInstance(), others: DBInstance[] = []): void {
  primaryMock.on(DescribeDBInstancesCommand, { DBInstanceIdentifier: 'orders-db' }).resolves({ DBInstances: [source] });
  primaryMock.on(DescribeDBInstancesCommand, { MaxRecords: 100 }).resolves({ DBInstances: [source, ...others] });
  primaryMock.on(DescribeDBInstanceAutomatedBackupsCommand).resolves({ DBInstanceAutomatedBackups: [automatedBackup()] });
  primaryMock
    .on(RestoreDBInstanceToPointInTimeCommand)
    .callsFake((input: { TargetDBInstanceIdentifier: string }) => ({ DBInstance: { DBInstanceIdentifier: input.TargetDBInstanceIdentifier, DBInstanceStatus: 'creating' } }));
}

beforeEach(() => {
  primaryMock.reset();
  drMock.reset();
});

describe('restore to the latest restorable time', () => {
  it('GIVEN an allowlisted source WHEN "latest" is asked THEN the copy gets every setting of the source, deletion protection and the restore tags', async () => {
    givenSource();

    const result = await restore({ source: 'orders-db', restoreTime: 'latest', requestedBy: 'jane.doe@example.com' });

    expect(primaryMock).toHaveReceivedCommandTimes(RestoreDBInstanceToPointInTimeCommand, 1);
    const sent = primaryMock.commandCalls(RestoreDBInstanceToPointInTimeCommand)[0]?.args[0].input;
    expect(sent).toEqual({
      SourceDBInstanceIdentifier: 'orders-db',
      TargetDBInstanceIdentifier: 'orders-db-pitr-202611211415',
      UseLatestRestorableTime: true,
      DBInstanceClass: 'db.r6g.large',
      MultiAZ: false,
      DBSubnetGroupName: 'orders-db-subnets',
      VpcSecurityGroupIds: ['sg-0aaaaaaaaaaaaaaa1', 'sg-0bbbbbbbbbbbbbbb2'],
      DBParameterGroupName: 'orders-postgres16',
      OptionGroupName: 'default:postgres-16',
      Port: 5432,
      StorageType: 'gp3',
      Iops: undefined,
      EnableIAMDatabaseAuthentication: true,
      PubliclyAccessible: false,
      AutoMinorVersionUpgrade: true,
      EnableCloudwatchLogsExports: ['postgresql'],
      DeletionProtection: true,
      CopyTagsToSnapshot: true,
      Tags: [
        { Key: 'team', Value: 'orders' },
        { Key: 'cost-center', Value: 'cc-1234' },
        { Key: 'restored-from', Value: 'orders-db' },
        { Key: 'restore-time', Value: 'latest' },
        { Key: 'restore-point', Value: '2026-11-21T14:15:00Z' },
        { Key: 'requested-by', Value: 'jane.doe@example.com' },
        { Key: 'restore-requested-at', Value: '2026-11-21T14:20:07Z' },
        { Key: 'restore-request-id', Value: 'c0ffee00-1111-2222-3333-444455556666' },
      ],
    });
    expect(sent).not.toHaveProperty('RestoreTime');
    expect(result).toMatchObject({
      outcome: 'started',
      target: 'orders-db-pitr-202611211415',
      status: 'creating',
      region: PRIMARY,
      restoreTime: 'latest',
      restorePoint: '2026-11-21T14:15:00Z',
      window: { earliest: '2026-11-14T03:10:00Z', latest: '2026-11-21T14:15:00Z' },
      consoleLink: `https://${PRIMARY}.console.aws.amazon.com/rds/home?region=${PRIMARY}#database:id=orders-db-pitr-202611211415;is-cluster=false`,
      encryption: { encrypted: true },
      requestedBy: 'jane.doe@example.com',
      warnings: [],
    });
    expect(result.summary).toMatch(/Restoring orders-db \(eu-west-1\) to its latest restorable time \(2026-11-21T14:15:00Z when checked\) as orders-db-pitr-202611211415/);
    expect(result.next.join('\n')).toMatch(/alert topic receives a message with its endpoint/);
  });

  it('GIVEN a provisioned-IOPS source and an instance class in the event THEN the IOPS are kept and the class is the one asked', async () => {
    givenSource(sourceInstance({ StorageType: 'io2', Iops: 12000 }));

    await restore({ source: 'orders-db', restoreTime: 'latest', instanceClass: 'db.r6g.2xlarge', multiAz: true });

    expect(primaryMock).toHaveReceivedCommandWith(RestoreDBInstanceToPointInTimeCommand, {
      StorageType: 'io2',
      Iops: 12000,
      DBInstanceClass: 'db.r6g.2xlarge',
      MultiAZ: true,
    });
  });

  it('GIVEN no requestedBy THEN the copy is tagged requested-by=unspecified and the answer says how to trace the caller', async () => {
    givenSource();

    const result = await restore({ source: 'orders-db', restoreTime: 'latest' });

    expect(primaryMock).toHaveReceivedCommandWith(RestoreDBInstanceToPointInTimeCommand, {
      Tags: expect.arrayContaining([{ Key: 'requested-by', Value: 'unspecified' }]),
    });
    expect(result.warnings.join('\n')).toMatch(/request ID c0ffee00-1111-2222-3333-444455556666 identifies the call in CloudTrail/);
  });
});

describe('restore to a specific time', () => {
  it('GIVEN a time with an offset inside the window THEN RDS gets that instant and the name carries its UTC minute', async () => {
    givenSource();

    const result = await restore({ source: 'orders-db', restoreTime: '2026-11-21T15:06:30+01:00', requestedBy: 'jane' });

    expect(primaryMock).toHaveReceivedCommandWith(RestoreDBInstanceToPointInTimeCommand, {
      TargetDBInstanceIdentifier: 'orders-db-pitr-202611211406',
      RestoreTime: new Date('2026-11-21T14:06:30Z'),
      Tags: expect.arrayContaining([
        { Key: 'restore-time', Value: '2026-11-21T14:06:30Z' },
        { Key: 'restore-point', Value: '2026-11-21T14:06:30Z' },
      ]),
    });
    const sent = primaryMock.commandCalls(RestoreDBInstanceToPointInTimeCommand)[0]?.args[0].input;
    expect(sent).not.toHaveProperty('UseLatestRestorableTime');
    expect(result).toMatchObject({ outcome: 'started', restoreTime: '2026-11-21T14:06:30Z', plan: { RestoreTime: '2026-11-21T14:06:30Z' } });
  });

  it('GIVEN a target name in the event THEN the copy gets that name', async () => {
    givenSource();

    const result = await restore({ source: 'orders-db', restoreTime: '2026-11-21T14:06:00Z', target: 'orders-db-pitr-before-delete' });

    expect(primaryMock).toHaveReceivedCommandWith(RestoreDBInstanceToPointInTimeCommand, { TargetDBInstanceIdentifier: 'orders-db-pitr-before-delete' });
    expect(result.target).toBe('orders-db-pitr-before-delete');
  });
});

describe('outside the restorable window', () => {
  it.each([
    ['before the earliest', '2026-11-14T03:09:59Z'],
    ['after the latest', '2026-11-21T14:15:01Z'],
  ])('GIVEN a time %s restorable time THEN the answer shows the window and nothing is restored', async (side, time) => {
    givenSource();

    const attempt = restore({ source: 'orders-db', restoreTime: time });

    await expect(attempt).rejects.toThrow(RequestRejectedError);
    await expect(attempt).rejects.toThrow(
      new RegExp(`restoreTime ${time} is outside the restorable window of orders-db in eu-west-1: 2026-11-14T03:10:00Z to 2026-11-21T14:15:00Z \\(UTC\\); it is ${side}`),
    );
    await expect(attempt).rejects.toMatchObject({ details: { window: { earliest: '2026-11-14T03:10:00Z', latest: '2026-11-21T14:15:00Z' } } });
    expectNoMutatingCalls(primaryMock, drMock);
  });

  it('GIVEN a source whose automated backups are off THEN it is refused before any restore', async () => {
    givenSource(sourceInstance({ BackupRetentionPeriod: 0 }));

    await expect(restore({ source: 'orders-db', restoreTime: 'latest' })).rejects.toThrow(/automated backups turned off/);
    expectNoMutatingCalls(primaryMock);
  });
});

describe('refused requests', () => {
  it('GIVEN a source not in the allowlist THEN it is refused naming the allowed sources, without any AWS call', async () => {
    const attempt = restore({ source: 'payments-db', restoreTime: 'latest' });

    await expect(attempt).rejects.toThrow(RequestRejectedError);
    await expect(attempt).rejects.toThrow(/source 'payments-db' is not in the restore allowlist \(orders-db, billing-db\)/);
    expect(primaryMock).toHaveReceivedCommandTimes(DescribeDBInstancesCommand, 0);
    expectNoMutatingCalls(primaryMock, drMock);
  });

  it('GIVEN an existing instance with the target name that is not this restore THEN it is refused and never touched', async () => {
    const stranger = restoredInstance('orders-db-pitr-202611211406', { team: 'orders' }, { DBInstanceStatus: 'available' });
    givenSource(sourceInstance(), [stranger]);

    const attempt = restore({ source: 'orders-db', restoreTime: '2026-11-21T14:06:00Z' });

    await expect(attempt).rejects.toThrow(/target 'orders-db-pitr-202611211406' already exists in eu-west-1 \(status available\) and is not this restore: it is never overwritten/);
    expectNoMutatingCalls(primaryMock, drMock);
  });

  it('GIVEN the same request whose earlier restore failed THEN it is refused with what to do', async () => {
    const failed = restoredInstance('orders-db-pitr-202611211406', { 'restored-from': 'orders-db', 'restore-time': '2026-11-21T14:06:00Z' }, { DBInstanceStatus: 'incompatible-restore' });
    givenSource(sourceInstance(), [failed]);

    await expect(restore({ source: 'orders-db', restoreTime: '2026-11-21T14:06:00Z' })).rejects.toThrow(/exists but its restore failed \(status incompatible-restore\)/);
    expectNoMutatingCalls(primaryMock);
  });

  it('GIVEN an Aurora cluster member THEN it is refused, pointing at restoring its cluster', async () => {
    givenSource(sourceInstance({ DBClusterIdentifier: 'orders-cluster' }));

    await expect(restore({ source: 'orders-db', restoreTime: 'latest' })).rejects.toThrow(/member of Aurora cluster 'orders-cluster': an Aurora instance is restored with its cluster; list 'orders-cluster' in rds.clusters/);
    expectNoMutatingCalls(primaryMock);
  });

  it('GIVEN a source encrypted with another key than the config names THEN it is refused naming the config field', async () => {
    givenSource(sourceInstance({ KmsKeyId: 'arn:aws:kms:eu-west-1:111122223333:key/00000000-0000-0000-0000-000000000000' }));

    await expect(restore({ source: 'orders-db', restoreTime: 'latest' })).rejects.toThrow(/config names .* \(rds.instances kmsKeyArn\)/);
    expectNoMutatingCalls(primaryMock);
  });

  it('GIVEN a source without a subnet group THEN it is refused rather than restored into the default VPC', async () => {
    givenSource(sourceInstance({ DBSubnetGroup: undefined }));

    await expect(restore({ source: 'orders-db', restoreTime: 'latest' })).rejects.toThrow(/refusing to restore into the default VPC/);
    expectNoMutatingCalls(primaryMock);
  });

  it('GIVEN a source that does not exist THEN the answer says so and points at the DR region', async () => {
    primaryMock.on(DescribeDBInstancesCommand).rejects(awsError('DBInstanceNotFoundFault', 'DBInstance orders-db not found.', 404));

    await expect(restore({ source: 'orders-db', restoreTime: 'latest' })).rejects.toThrow(/does not exist in eu-west-1.*"region": "dr"/);
    expectNoMutatingCalls(primaryMock);
  });
});

describe('the same request again', () => {
  it('GIVEN the restore of this request is still creating under the target name THEN it is returned, not started twice', async () => {
    const running = restoredInstance('orders-db-pitr-202611211406', { 'restored-from': 'orders-db', 'restore-time': '2026-11-21T14:06:00Z' });
    givenSource(sourceInstance(), [running]);

    const result = await restore({ source: 'orders-db', restoreTime: '2026-11-21T14:06:00Z' });

    expect(result).toMatchObject({ outcome: 'already-in-progress', target: 'orders-db-pitr-202611211406', status: 'creating' });
    expect(result.summary).toMatch(/already running.*No second instance was started/);
    expectNoMutatingCalls(primaryMock);
  });

  it('GIVEN a "latest" restore still creating under an earlier minute THEN a second "latest" returns it', async () => {
    const running = restoredInstance('orders-db-pitr-202611211409', { 'restored-from': 'orders-db', 'restore-time': 'latest' });
    givenSource(sourceInstance(), [running]);

    const result = await restore({ source: 'orders-db', restoreTime: 'latest' });

    expect(result).toMatchObject({ outcome: 'already-in-progress', target: 'orders-db-pitr-202611211409' });
    expectNoMutatingCalls(primaryMock);
  });

  it('GIVEN an earlier "latest" restore that is already available THEN a new "latest" starts a fresh copy', async () => {
    const done = restoredInstance('orders-db-pitr-202611211009', { 'restored-from': 'orders-db', 'restore-time': 'latest' }, { DBInstanceStatus: 'available' });
    givenSource(sourceInstance(), [done]);

    const result = await restore({ source: 'orders-db', restoreTime: 'latest' });

    expect(result).toMatchObject({ outcome: 'started', target: 'orders-db-pitr-202611211415' });
    expect(primaryMock).toHaveReceivedCommandTimes(RestoreDBInstanceToPointInTimeCommand, 1);
  });

  it('GIVEN the restore of this request finished THEN it is returned as already restored', async () => {
    const done = restoredInstance('orders-db-pitr-202611211406', { 'restored-from': 'orders-db', 'restore-time': '2026-11-21T14:06:00Z' }, { DBInstanceStatus: 'available' });
    givenSource(sourceInstance(), [done]);

    const result = await restore({ source: 'orders-db', restoreTime: '2026-11-21T14:06:00Z' });

    expect(result).toMatchObject({ outcome: 'already-restored', status: 'available' });
    expectNoMutatingCalls(primaryMock);
  });

  it('GIVEN an identical request won the race THEN the lost restore call answers with the winner', async () => {
    givenSource();
    primaryMock.on(RestoreDBInstanceToPointInTimeCommand).rejects(awsError('DBInstanceAlreadyExistsFault', 'DB instance already exists'));
    primaryMock
      .on(DescribeDBInstancesCommand, { DBInstanceIdentifier: 'orders-db-pitr-202611211406' })
      .resolves({ DBInstances: [restoredInstance('orders-db-pitr-202611211406', { 'restored-from': 'orders-db', 'restore-time': '2026-11-21T14:06:00Z' })] });

    const result = await restore({ source: 'orders-db', restoreTime: '2026-11-21T14:06:00Z' });

    expect(result).toMatchObject({ outcome: 'started', target: 'orders-db-pitr-202611211406', status: 'creating' });
  });

  it('GIVEN the listing spans pages THEN the duplicate on the second page is found', async () => {
    givenSource();
    primaryMock.on(DescribeDBInstancesCommand, { MaxRecords: 100 }).resolvesOnce({ DBInstances: [sourceInstance()], Marker: 'page-2' }).resolves({
      DBInstances: [restoredInstance('orders-db-pitr-202611211406', { 'restored-from': 'orders-db', 'restore-time': '2026-11-21T14:06:00Z' })],
    });

    const result = await restore({ source: 'orders-db', restoreTime: '2026-11-21T14:06:00Z' });

    expect(result.outcome).toBe('already-in-progress');
    expect(primaryMock).toHaveReceivedCommandWith(DescribeDBInstancesCommand, { Marker: 'page-2' });
  });
});

describe('dry run', () => {
  it('GIVEN dryRun THEN the full plan comes back and no mutating call is made', async () => {
    givenSource();

    const result = await restore({ source: 'orders-db', restoreTime: '2026-11-21T14:06:00Z', dryRun: true, requestedBy: 'jane' });

    expectNoMutatingCalls(primaryMock, drMock);
    expect(result).toMatchObject({
      outcome: 'dry-run',
      status: 'not started (dry run)',
      target: 'orders-db-pitr-202611211406',
      window: { earliest: '2026-11-14T03:10:00Z', latest: '2026-11-21T14:15:00Z' },
      plan: {
        SourceDBInstanceIdentifier: 'orders-db',
        TargetDBInstanceIdentifier: 'orders-db-pitr-202611211406',
        RestoreTime: '2026-11-21T14:06:00Z',
        DBInstanceClass: 'db.r6g.large',
        DBSubnetGroupName: 'orders-db-subnets',
        VpcSecurityGroupIds: ['sg-0aaaaaaaaaaaaaaa1', 'sg-0bbbbbbbbbbbbbbb2'],
        DBParameterGroupName: 'orders-postgres16',
        OptionGroupName: 'default:postgres-16',
        Port: 5432,
        StorageType: 'gp3',
        EnableIAMDatabaseAuthentication: true,
        DeletionProtection: true,
        CopyTagsToSnapshot: true,
        MultiAZ: false,
      },
    });
    expect(result.summary).toMatch(/^Dry run: nothing was changed/);
  });

  it('GIVEN dryRun for a time outside the window THEN it is refused the same way, still without mutating calls', async () => {
    givenSource();

    await expect(restore({ source: 'orders-db', restoreTime: '2026-10-01T00:00:00Z', dryRun: true })).rejects.toThrow(/outside the restorable window/);
    expectNoMutatingCalls(primaryMock, drMock);
  });

  it('GIVEN dryRun while the same restore runs THEN it says a real run would return it', async () => {
    givenSource(sourceInstance(), [restoredInstance('orders-db-pitr-202611211406', { 'restored-from': 'orders-db', 'restore-time': '2026-11-21T14:06:00Z' })]);

    const result = await restore({ source: 'orders-db', restoreTime: '2026-11-21T14:06:00Z', dryRun: true });

    expect(result).toMatchObject({ outcome: 'dry-run', status: 'creating' });
    expect(result.summary).toMatch(/a real run would return it/);
    expectNoMutatingCalls(primaryMock);
  });
});

describe('AWS errors', () => {
  it('GIVEN RDS throttles the describe and the restore once each THEN both are retried and the restore starts once', async () => {
    givenSource();
    primaryMock
      .on(DescribeDBInstancesCommand, { DBInstanceIdentifier: 'orders-db' })
      .rejectsOnce(awsError('Throttling', 'Rate exceeded'))
      .resolves({ DBInstances: [sourceInstance()] });
    primaryMock
      .on(RestoreDBInstanceToPointInTimeCommand)
      .rejectsOnce(awsError('ThrottlingException', 'Rate exceeded'))
      .resolves({ DBInstance: { DBInstanceIdentifier: 'orders-db-pitr-202611211415', DBInstanceStatus: 'creating' } });

    const result = await restore({ source: 'orders-db', restoreTime: 'latest' });

    expect(result.outcome).toBe('started');
    expect(primaryMock).toHaveReceivedCommandTimes(RestoreDBInstanceToPointInTimeCommand, 2);
    expect(primaryMock.commandCalls(DescribeDBInstancesCommand, { DBInstanceIdentifier: 'orders-db' })).toHaveLength(2);
  });

  it('GIVEN RDS keeps throttling THEN the error comes through after the last attempt', async () => {
    givenSource();
    primaryMock.on(DescribeDBInstancesCommand, { DBInstanceIdentifier: 'orders-db' }).rejects(awsError('Throttling', 'Rate exceeded'));

    await expect(restore({ source: 'orders-db', restoreTime: 'latest' })).rejects.toThrow(/Rate exceeded/);
    expect(primaryMock.commandCalls(DescribeDBInstancesCommand, { DBInstanceIdentifier: 'orders-db' })).toHaveLength(5);
    expectNoMutatingCalls(primaryMock);
  });

  it('GIVEN IAM refuses the restore THEN a PermissionError names the action and AWS\'s reason', async () => {
    givenSource();
    primaryMock
      .on(RestoreDBInstanceToPointInTimeCommand)
      .rejects(awsError('AccessDenied', 'User: arn:aws:sts::111122223333:assumed-role/restore/fn is not authorized to perform: rds:RestoreDBInstanceToPointInTime', 403));

    const attempt = restore({ source: 'orders-db', restoreTime: 'latest' });

    await expect(attempt).rejects.toThrow(PermissionError);
    await expect(attempt).rejects.toThrow(/AWS refused rds:RestoreDBInstanceToPointInTime: User: .* is not authorized/);
  });
});

describe('restore in the DR region', () => {
  function givenReplicatedBackups(): void {
    drMock.on(DescribeDBInstanceAutomatedBackupsCommand, { DBInstanceIdentifier: 'orders-db' }).resolves({
      DBInstanceAutomatedBackups: [
        replicatedBackup({ Status: 'retained', DBInstanceAutomatedBackupsArn: 'arn:aws:rds:eu-central-1:111122223333:auto-backup:ab-older', RestoreWindow: { EarliestTime: new Date('2026-10-01T00:00:00Z'), LatestTime: new Date('2026-10-08T00:00:00Z') } }),
        replicatedBackup(),
      ],
    });
    drMock.on(DescribeDBInstancesCommand, { MaxRecords: 100 }).resolves({ DBInstances: [] });
    drMock
      .on(RestoreDBInstanceToPointInTimeCommand)
      .callsFake((input: { TargetDBInstanceIdentifier: string }) => ({ DBInstance: { DBInstanceIdentifier: input.TargetDBInstanceIdentifier, DBInstanceStatus: 'creating' } }));
  }

  it('GIVEN replicated backups WHEN region "dr" THEN the copy is restored there from them, into the configured DR network', async () => {
    givenReplicatedBackups();
    primaryMock.on(DescribeDBInstancesCommand, { DBInstanceIdentifier: 'orders-db' }).resolves({ DBInstances: [sourceInstance()] });

    const result = await restore({ source: 'orders-db', restoreTime: '2026-11-21T13:30:00Z', region: 'dr', requestedBy: 'jane' });

    expect(drMock).toHaveReceivedCommandTimes(RestoreDBInstanceToPointInTimeCommand, 1);
    const sent = drMock.commandCalls(RestoreDBInstanceToPointInTimeCommand)[0]?.args[0].input;
    expect(sent).toMatchObject({
      SourceDBInstanceAutomatedBackupsArn: REPLICATED_BACKUPS_ARN,
      TargetDBInstanceIdentifier: 'orders-db-pitr-202611211330',
      RestoreTime: new Date('2026-11-21T13:30:00Z'),
      DBInstanceClass: 'db.r6g.large',
      DBSubnetGroupName: 'orders-dr-db-subnets',
      VpcSecurityGroupIds: ['sg-0a1b2c3d4e5f60718'],
      DBParameterGroupName: 'orders-postgres16',
      Port: 5432,
      StorageType: 'gp3',
      EnableIAMDatabaseAuthentication: true,
      PubliclyAccessible: false,
      DeletionProtection: true,
      CopyTagsToSnapshot: true,
      Tags: expect.arrayContaining([{ Key: 'team', Value: 'orders' }, { Key: 'restored-from', Value: 'orders-db' }]),
    });
    expect(sent).not.toHaveProperty('SourceDBInstanceIdentifier');
    expect(primaryMock).toHaveReceivedCommandTimes(RestoreDBInstanceToPointInTimeCommand, 0);
    expect(result).toMatchObject({
      outcome: 'started',
      region: DR,
      regionRole: 'dr',
      window: { earliest: '2026-11-15T00:20:00Z', latest: '2026-11-21T14:02:00Z' },
      encryption: { encrypted: true, kmsKeyId: 'arn:aws:kms:eu-central-1:111122223333:key/9f8e7d6c-5b4a-4f3e-9d2c-1b0a9f8e7d6c' },
      consoleLink: expect.stringContaining(`https://${DR}.console.aws.amazon.com/rds/home?region=${DR}#database:id=orders-db-pitr-202611211330`),
    });
    expect(result.next.join('\n')).toMatch(/in the DR network from the config \(subnet group orders-dr-db-subnets\)/);
  });

  it('GIVEN the primary region is unreachable THEN the DR restore still runs, leaving the instance class to RDS', async () => {
    givenReplicatedBackups();
    primaryMock.on(DescribeDBInstancesCommand).rejects(Object.assign(new Error('connect ETIMEDOUT'), { name: 'TimeoutError' }));

    const result = await restore({ source: 'orders-db', restoreTime: 'latest', region: 'dr' });

    expect(drMock).toHaveReceivedCommandWith(RestoreDBInstanceToPointInTimeCommand, { UseLatestRestorableTime: true, TargetDBInstanceIdentifier: 'orders-db-pitr-202611211402' });
    expect(drMock.commandCalls(RestoreDBInstanceToPointInTimeCommand)[0]?.args[0].input.DBInstanceClass).toBeUndefined();
    expect(result.warnings.join('\n')).toMatch(/could not read the source's instance class in eu-west-1 \(connect ETIMEDOUT\)/);
  });

  it('GIVEN a time outside the replicated window THEN the answer shows the DR window', async () => {
    givenReplicatedBackups();

    await expect(restore({ source: 'orders-db', restoreTime: '2026-11-21T14:10:00Z', region: 'dr' })).rejects.toThrow(
      /outside the restorable window of orders-db in eu-central-1: 2026-11-15T00:20:00Z to 2026-11-21T14:02:00Z/,
    );
    expectNoMutatingCalls(primaryMock, drMock);
  });

  it('GIVEN a source without DR replication THEN region "dr" is refused naming the config field', async () => {
    await expect(restore({ source: 'billing-db', restoreTime: 'latest', region: 'dr' })).rejects.toThrow(/no DR replication configured.*drReplication/);
    expectNoMutatingCalls(primaryMock, drMock);
  });

  it('GIVEN no replicated backups in the DR region THEN the answer says how to check replication', async () => {
    drMock.on(DescribeDBInstanceAutomatedBackupsCommand).resolves({ DBInstanceAutomatedBackups: [] });

    await expect(restore({ source: 'orders-db', restoreTime: 'latest', region: 'dr' })).rejects.toThrow(
      /no replicated automated backups of 'orders-db' in eu-central-1.*describe-db-instance-automated-backups/,
    );
    expectNoMutatingCalls(primaryMock, drMock);
  });
});

describe('tags', () => {
  it('GIVEN a source with more tags than RDS allows beside the restore tags THEN the extra ones are left out and named', async () => {
    const many = Array.from({ length: 48 }, (_, index) => ({ Key: `k${index}`, Value: `v${index}` }));
    givenSource(sourceInstance({ TagList: many }));

    const result = await restore({ source: 'orders-db', restoreTime: 'latest' });

    const tags = primaryMock.commandCalls(RestoreDBInstanceToPointInTimeCommand)[0]?.args[0].input.Tags ?? [];
    expect(tags).toHaveLength(50);
    expect(tags.map((tag) => tag.Key)).toContain('restored-from');
    expect(result.warnings.join('\n')).toMatch(/these were not copied: k44, k45, k46, k47/);
  });
});
