import {
  DescribeDBInstanceAutomatedBackupsCommand,
  DescribeDBInstancesCommand,
  RDSClient,
  StartDBInstanceAutomatedBackupsReplicationCommand,
  StopDBInstanceAutomatedBackupsReplicationCommand,
  type DBInstance,
} from '@aws-sdk/client-rds';
import type { CloudFormationCustomResourceEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { applyReplicationEvent, type ReplicationDependencies } from '../../lambda/rds-backup-replication/core';
import { sendCfnResponse } from '../../lambda/shared/cfn-response';
import { DR, DR_KEY, PRIMARY, REPLICATED_BACKUPS_ARN, awsError, replicatedBackup, sourceInstance } from './fixtures';

const primary = new RDSClient({ region: PRIMARY });
const dr = new RDSClient({ region: DR });
const primaryMock = mockClient(primary);
const drMock = mockClient(dr);
const deps: ReplicationDependencies = {
  rdsFor: (region) => (region === PRIMARY ? primary : region === DR ? dr : (undefined as never)),
  retry: { sleep: async () => undefined },
  sleep: async () => undefined,
  stopTimeoutMs: 60_000,
  pollIntervalMs: 15_000,
};

const SOURCE_ARN = `arn:aws:rds:${PRIMARY}:111122223333:db:orders-db`;
const PHYSICAL_ID = `${SOURCE_ARN}|${DR}`;
const properties = { ServiceToken: 'arn:aws:lambda:eu-west-1:111122223333:function:x', SourceDBInstanceArn: SOURCE_ARN, DestinationRegion: DR, RetentionDays: '7', KmsKeyArn: DR_KEY };

const base = {
  ServiceToken: properties.ServiceToken,
  ResponseURL: 'https://cloudformation-custom-resource-response-euwest1.s3.amazonaws.com/presigned',
  StackId: 'arn:aws:cloudformation:eu-west-1:111122223333:stack/backup-kit-jobs/1',
  RequestId: 'cfn-req-1',
  LogicalResourceId: 'RdsBackupReplicationReplicationordersdb80ED2D59',
  ResourceType: 'Custom::RdsBackupReplication',
};
const createEvent = (props: Record<string, unknown> = properties): CloudFormationCustomResourceEvent => ({ ...base, RequestType: 'Create', ResourceProperties: props as typeof properties });
const updateEvent = (props: Record<string, unknown>, old: Record<string, unknown> = properties): CloudFormationCustomResourceEvent => ({
  ...base,
  RequestType: 'Update',
  PhysicalResourceId: PHYSICAL_ID,
  ResourceProperties: props as typeof properties,
  OldResourceProperties: old as typeof properties,
});
const deleteEvent = (physicalResourceId = PHYSICAL_ID): CloudFormationCustomResourceEvent => ({ ...base, RequestType: 'Delete', PhysicalResourceId: physicalResourceId, ResourceProperties: properties });

const replicating = (overrides: Partial<DBInstance> = {}) =>
  sourceInstance({ DBInstanceAutomatedBackupsReplications: [{ DBInstanceAutomatedBackupsArn: REPLICATED_BACKUPS_ARN }], ...overrides });

beforeEach(() => {
  primaryMock.reset();
  drMock.reset();
  drMock.on(StartDBInstanceAutomatedBackupsReplicationCommand).resolves({ DBInstanceAutomatedBackup: { DBInstanceAutomatedBackupsArn: REPLICATED_BACKUPS_ARN } });
  drMock.on(StopDBInstanceAutomatedBackupsReplicationCommand).resolves({});
});

describe('starting replication', () => {
  it('GIVEN an encrypted source not yet replicated THEN replication starts in the DR region with the retention and the DR key', async () => {
    primaryMock.on(DescribeDBInstancesCommand).resolves({ DBInstances: [sourceInstance()] });

    const result = await applyReplicationEvent(createEvent(), deps);

    expect(drMock).toHaveReceivedCommandExactlyOnceWith(StartDBInstanceAutomatedBackupsReplicationCommand, {
      SourceDBInstanceArn: SOURCE_ARN,
      BackupRetentionPeriod: 7,
      KmsKeyId: DR_KEY,
    });
    expect(primaryMock).toHaveReceivedCommandTimes(StartDBInstanceAutomatedBackupsReplicationCommand, 0);
    expect(result).toEqual({ physicalResourceId: PHYSICAL_ID, data: { ReplicatedBackupsArn: REPLICATED_BACKUPS_ARN, Action: 'started' } });
  });

  it('GIVEN an unencrypted source THEN no key is passed', async () => {
    primaryMock.on(DescribeDBInstancesCommand).resolves({ DBInstances: [sourceInstance({ StorageEncrypted: false, KmsKeyId: undefined })] });

    await applyReplicationEvent(createEvent({ ...properties, KmsKeyArn: '' }), deps);

    expect(drMock).toHaveReceivedCommandWith(StartDBInstanceAutomatedBackupsReplicationCommand, { KmsKeyId: undefined });
  });

  it('GIVEN an encrypted source and no DR key THEN it fails naming the config field, without starting anything', async () => {
    primaryMock.on(DescribeDBInstancesCommand).resolves({ DBInstances: [sourceInstance()] });

    await expect(applyReplicationEvent(createEvent({ ...properties, KmsKeyArn: '' }), deps)).rejects.toThrow(
      /orders-db is encrypted: replicated backups need a KMS key in eu-central-1; set drReplication.kmsKeyArn/,
    );
    expect(drMock).toHaveReceivedCommandTimes(StartDBInstanceAutomatedBackupsReplicationCommand, 0);
  });

  it('GIVEN a source with automated backups off, or no source at all THEN it fails saying so', async () => {
    primaryMock.on(DescribeDBInstancesCommand).resolvesOnce({ DBInstances: [sourceInstance({ BackupRetentionPeriod: 0 })] });
    await expect(applyReplicationEvent(createEvent(), deps)).rejects.toThrow(/automated backups turned off/);

    primaryMock.on(DescribeDBInstancesCommand).rejects(awsError('DBInstanceNotFoundFault', 'DBInstance orders-db not found.', 404));
    await expect(applyReplicationEvent(createEvent(), deps)).rejects.toThrow(/orders-db does not exist in eu-west-1/);
    expect(drMock).toHaveReceivedCommandTimes(StartDBInstanceAutomatedBackupsReplicationCommand, 0);
  });

  it('GIVEN RDS refuses the start THEN the failure names the action', async () => {
    primaryMock.on(DescribeDBInstancesCommand).resolves({ DBInstances: [sourceInstance()] });
    drMock.on(StartDBInstanceAutomatedBackupsReplicationCommand).rejects(awsError('AccessDenied', 'not authorized', 403));

    await expect(applyReplicationEvent(createEvent(), deps)).rejects.toThrow(/AWS refused rds:StartDBInstanceAutomatedBackupsReplication/);
  });

  it('GIVEN invalid properties THEN it fails naming them', async () => {
    await expect(applyReplicationEvent(createEvent({ ...properties, RetentionDays: '40' }), deps)).rejects.toThrow(/RetentionDays/);
  });
});

describe('an existing replication', () => {
  it('GIVEN the source already replicates with the same retention and key THEN it is adopted unchanged', async () => {
    primaryMock.on(DescribeDBInstancesCommand).resolves({ DBInstances: [replicating()] });
    drMock.on(DescribeDBInstanceAutomatedBackupsCommand).resolves({ DBInstanceAutomatedBackups: [replicatedBackup({ BackupRetentionPeriod: 7 })] });

    const result = await applyReplicationEvent(createEvent(), deps);

    expect(result.data).toEqual({ ReplicatedBackupsArn: REPLICATED_BACKUPS_ARN, Action: 'unchanged' });
    expect(drMock).toHaveReceivedCommandWith(DescribeDBInstanceAutomatedBackupsCommand, { DBInstanceAutomatedBackupsArn: REPLICATED_BACKUPS_ARN });
    expect(drMock).toHaveReceivedCommandTimes(StartDBInstanceAutomatedBackupsReplicationCommand, 0);
    expect(drMock).toHaveReceivedCommandTimes(StopDBInstanceAutomatedBackupsReplicationCommand, 0);
  });

  it('GIVEN the retention changes THEN the replication is stopped, awaited and started anew', async () => {
    primaryMock
      .on(DescribeDBInstancesCommand)
      .resolvesOnce({ DBInstances: [replicating()] })
      .resolvesOnce({ DBInstances: [replicating()] })
      .resolves({ DBInstances: [sourceInstance()] });
    drMock.on(DescribeDBInstanceAutomatedBackupsCommand).resolves({ DBInstanceAutomatedBackups: [replicatedBackup({ BackupRetentionPeriod: 7 })] });

    const result = await applyReplicationEvent(updateEvent({ ...properties, RetentionDays: '14' }), deps);

    expect(drMock).toHaveReceivedCommandWith(StopDBInstanceAutomatedBackupsReplicationCommand, { SourceDBInstanceArn: SOURCE_ARN });
    expect(drMock).toHaveReceivedCommandWith(StartDBInstanceAutomatedBackupsReplicationCommand, { BackupRetentionPeriod: 14 });
    expect(primaryMock).toHaveReceivedCommandTimes(DescribeDBInstancesCommand, 3);
    expect(result).toMatchObject({ physicalResourceId: PHYSICAL_ID, data: { Action: 'restarted' } });
  });

  it('GIVEN the old replication does not go away in time THEN it fails without starting a second one', async () => {
    primaryMock.on(DescribeDBInstancesCommand).resolves({ DBInstances: [replicating()] });
    drMock.on(DescribeDBInstanceAutomatedBackupsCommand).resolves({ DBInstanceAutomatedBackups: [replicatedBackup({ BackupRetentionPeriod: 7 })] });

    await expect(applyReplicationEvent(updateEvent({ ...properties, RetentionDays: '14' }), deps)).rejects.toThrow(/did not stop within 1 minutes; deploy again/);
    expect(drMock).toHaveReceivedCommandTimes(StartDBInstanceAutomatedBackupsReplicationCommand, 0);
  });
});

describe('removing replication', () => {
  it('GIVEN a running replication THEN delete stops it in the DR region', async () => {
    primaryMock.on(DescribeDBInstancesCommand).resolves({ DBInstances: [replicating()] });

    const result = await applyReplicationEvent(deleteEvent(), deps);

    expect(drMock).toHaveReceivedCommandExactlyOnceWith(StopDBInstanceAutomatedBackupsReplicationCommand, { SourceDBInstanceArn: SOURCE_ARN });
    expect(result).toEqual({ physicalResourceId: PHYSICAL_ID });
  });

  it('GIVEN no running replication, a deleted source, or a create that never succeeded THEN delete changes nothing', async () => {
    primaryMock.on(DescribeDBInstancesCommand).resolvesOnce({ DBInstances: [sourceInstance()] });
    await applyReplicationEvent(deleteEvent(), deps);
    primaryMock.on(DescribeDBInstancesCommand).rejects(awsError('DBInstanceNotFoundFault', 'not found', 404));
    await applyReplicationEvent(deleteEvent(), deps);
    await applyReplicationEvent(deleteEvent('not-created:RdsBackupReplicationReplicationordersdb80ED2D59'), deps);

    expect(drMock).toHaveReceivedCommandTimes(StopDBInstanceAutomatedBackupsReplicationCommand, 0);
    expect(primaryMock).toHaveReceivedCommandTimes(DescribeDBInstancesCommand, 2);
  });
});

describe('the answer to CloudFormation', () => {
  it('GIVEN a success THEN the pre-signed URL gets SUCCESS with the physical ID and data', async () => {
    const sent: { url: string; init: RequestInit }[] = [];
    const put = (async (url: string, init: RequestInit) => {
      sent.push({ url, init });
      return new Response('', { status: 200 });
    }) as typeof fetch;

    await sendCfnResponse(createEvent(), { status: 'SUCCESS', result: { physicalResourceId: PHYSICAL_ID, data: { Action: 'started' } } }, put);

    expect(sent).toHaveLength(1);
    expect(sent[0]?.url).toBe(base.ResponseURL);
    expect(sent[0]?.init.method).toBe('PUT');
    expect(JSON.parse(String(sent[0]?.init.body))).toEqual({
      Status: 'SUCCESS',
      Reason: 'OK',
      PhysicalResourceId: PHYSICAL_ID,
      StackId: base.StackId,
      RequestId: base.RequestId,
      LogicalResourceId: base.LogicalResourceId,
      NoEcho: false,
      Data: { Action: 'started' },
    });
  });

  it('GIVEN a failure THEN FAILED carries the reason, and a refused response is an error', async () => {
    const bodies: string[] = [];
    const put = (async (_url: string, init: RequestInit) => {
      bodies.push(String(init.body));
      return new Response('', { status: 403 });
    }) as typeof fetch;

    await expect(sendCfnResponse(createEvent(), { status: 'FAILED', reason: 'orders-db is encrypted', physicalResourceId: 'not-created:x' }, put)).rejects.toThrow(/HTTP 403/);
    expect(JSON.parse(bodies[0] ?? '{}')).toMatchObject({ Status: 'FAILED', Reason: 'orders-db is encrypted', PhysicalResourceId: 'not-created:x' });
  });
});
