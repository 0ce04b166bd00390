import {
  DescribeDBInstanceAutomatedBackupsCommand,
  DescribeDBInstancesCommand,
  RestoreDBInstanceToPointInTimeCommand,
} from '@aws-sdk/client-rds';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { automatedBackup, awsError, expectNoMutatingCalls, sourceInstance } from './fixtures';
import { captureMetrics, lambdaContext, rdsMock, refused, stubFunctionEnvironment } from './handler-harness';

let handler: typeof import('../../lambda/rds-restore/handler').handler;
let RestoreFailedError: typeof import('../../lambda/rds-restore/handler').RestoreFailedError;

beforeAll(async () => {
  stubFunctionEnvironment();
  ({ handler, RestoreFailedError } = await import('../../lambda/rds-restore/handler.js'));
});

beforeEach(() => {
  rdsMock.reset();
  rdsMock.on(DescribeDBInstancesCommand, { DBInstanceIdentifier: 'orders-db' }).resolves({ DBInstances: [sourceInstance()] });
  rdsMock.on(DescribeDBInstancesCommand, { MaxRecords: 100 }).resolves({ DBInstances: [sourceInstance()] });
  rdsMock.on(DescribeDBInstanceAutomatedBackupsCommand).resolves({ DBInstanceAutomatedBackups: [automatedBackup()] });
  rdsMock.on(RestoreDBInstanceToPointInTimeCommand).resolves({ DBInstance: { DBInstanceIdentifier: 'orders-db-pitr-202611211415', DBInstanceStatus: 'creating' } });
});

describe('restore handler', () => {
  it('GIVEN a valid event THEN it answers with the result, tags the Lambda request ID and records RdsRestoreStarted for the source', async () => {
    const { result, documents } = await captureMetrics(() => handler({ source: 'orders-db', restoreTime: 'latest', requestedBy: 'jane' }, lambdaContext('req-42')));

    expect(result).toMatchObject({ ok: true, outcome: 'started', target: 'orders-db-pitr-202611211415', requestId: 'req-42' });
    expect(rdsMock).toHaveReceivedCommandWith(RestoreDBInstanceToPointInTimeCommand, {
      Tags: expect.arrayContaining([{ Key: 'restore-request-id', Value: 'req-42' }, { Key: 'requested-by', Value: 'jane' }]),
    });
    expect(documents).toHaveLength(1);
    expect(documents[0]).toMatchObject({
      service: 'rds-restore',
      Source: 'orders-db',
      RdsRestoreStarted: 1,
      _aws: { CloudWatchMetrics: [{ Namespace: 'BackupKit', Dimensions: [['service', 'Source']] }] },
    });
  });

  it('GIVEN a dry run THEN no metric is recorded and no mutating call is made', async () => {
    const { result, documents } = await captureMetrics(() => handler({ source: 'orders-db', restoreTime: 'latest', dryRun: true }, lambdaContext()));

    expect(result).toMatchObject({ ok: true, outcome: 'dry-run' });
    expect(documents).toHaveLength(0);
    expectNoMutatingCalls(rdsMock);
  });

  it('GIVEN an invalid event THEN it answers InvalidEvent naming the field, and nothing changes', async () => {
    const answer = await handler({ source: 'orders-db', restoreTime: '2026-11-21 14:06' }, lambdaContext());

    expect(answer).toMatchObject({ ok: false, error: 'InvalidEvent', issues: [expect.stringMatching(/^restoreTime: /)] });
    expect(refused(answer).message).toMatch(/^invalid event: restoreTime: .*Nothing was changed\.$/);
    expectNoMutatingCalls(rdsMock);
  });

  it('GIVEN a time outside the window THEN it answers RequestRejected with the window', async () => {
    const answer = await handler({ source: 'orders-db', restoreTime: '2026-11-01T00:00:00Z' }, lambdaContext());

    expect(answer).toMatchObject({
      ok: false,
      error: 'RequestRejected',
      message: expect.stringMatching(/2026-11-14T03:10:00Z to 2026-11-21T14:15:00Z/),
      details: { window: { earliest: '2026-11-14T03:10:00Z', latest: '2026-11-21T14:15:00Z' } },
    });
    expectNoMutatingCalls(rdsMock);
  });

  it('GIVEN AccessDenied from RDS THEN the answer names the action and resource, says what the role may do, and that nothing changed', async () => {
    rdsMock
      .on(RestoreDBInstanceToPointInTimeCommand)
      .rejects(awsError('AccessDenied', 'User: arn:aws:sts::111122223333:assumed-role/x/y is not authorized to perform: rds:RestoreDBInstanceToPointInTime on resource: arn:aws:rds:eu-west-1:111122223333:subgrp:orders-db-subnets', 403));

    const answer = await handler({ source: 'orders-db', restoreTime: 'latest' }, lambdaContext());

    expect(answer).toMatchObject({ ok: false, error: 'PermissionDenied' });
    expect(refused(answer).message).toMatch(
      /^AWS refused rds:RestoreDBInstanceToPointInTime: User: .* on resource: arn:aws:rds:eu-west-1:111122223333:subgrp:orders-db-subnets\. .*The restore role may act only on the allowlisted sources.*deploy the jobs stack.*Nothing was changed\.$/,
    );
  });

  it('GIVEN AccessDenied on the describe THEN it is answered the same way before anything is attempted', async () => {
    rdsMock.on(DescribeDBInstancesCommand).rejects(awsError('AccessDeniedException', 'not authorized to perform: rds:DescribeDBInstances', 403));

    const answer = await handler({ source: 'orders-db', restoreTime: 'latest' }, lambdaContext());

    expect(answer).toMatchObject({ ok: false, error: 'PermissionDenied', message: expect.stringMatching(/^AWS refused rds:DescribeDBInstances: not authorized/) });
    expectNoMutatingCalls(rdsMock);
  });

  it('GIVEN an unexpected AWS error THEN the invocation fails with it and the request ID (the Errors metric sees it)', async () => {
    rdsMock.on(RestoreDBInstanceToPointInTimeCommand).rejects(awsError('StorageQuotaExceeded', 'The request would exceed the storage quota'));

    await expect(handler({ source: 'orders-db', restoreTime: 'latest' }, lambdaContext('req-99'))).rejects.toThrow(RestoreFailedError);
    await expect(handler({ source: 'orders-db', restoreTime: 'latest' }, lambdaContext('req-99'))).rejects.toThrow(
      /^restore failed: The request would exceed the storage quota \(request req-99; see the function's logs\)$/,
    );
  });
});
