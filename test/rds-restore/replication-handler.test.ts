import { DescribeDBInstancesCommand, StartDBInstanceAutomatedBackupsReplicationCommand } from '@aws-sdk/client-rds';
import type { CloudFormationCustomResourceEvent } from 'aws-lambda';
import { beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { DR, PRIMARY, REPLICATED_BACKUPS_ARN, sourceInstance } from './fixtures';
import { lambdaContext, rdsMock, stubFunctionEnvironment } from './handler-harness';

let handler: typeof import('../../lambda/rds-backup-replication/handler.js').handler;
const responses: Record<string, unknown>[] = [];

beforeAll(async () => {
  stubFunctionEnvironment();
  ({ handler } = await import('../../lambda/rds-backup-replication/handler.js'));
});

beforeEach(() => {
  rdsMock.reset();
  responses.length = 0;
  vi.stubGlobal('fetch', async (_url: string, init: RequestInit) => {
    responses.push(JSON.parse(String(init.body)) as Record<string, unknown>);
    return new Response('', { status: 200 });
  });
});

const create: CloudFormationCustomResourceEvent = {
  RequestType: 'Create',
  ServiceToken: 'arn:aws:lambda:eu-west-1:111122223333:function:replication',
  ResponseURL: 'https://cloudformation-custom-resource-response-euwest1.s3.amazonaws.com/presigned',
  StackId: 'arn:aws:cloudformation:eu-west-1:111122223333:stack/backup-kit-jobs/1',
  RequestId: 'cfn-req-2',
  LogicalResourceId: 'ReplicationOrdersDb',
  ResourceType: 'Custom::RdsBackupReplication',
  ResourceProperties: {
    ServiceToken: 'arn:aws:lambda:eu-west-1:111122223333:function:replication',
    SourceDBInstanceArn: `arn:aws:rds:${PRIMARY}:111122223333:db:orders-db`,
    DestinationRegion: DR,
    RetentionDays: '7',
    KmsKeyArn: '',
  },
};

describe('replication custom resource handler', () => {
  it('GIVEN a create that succeeds THEN CloudFormation hears SUCCESS with the replication as physical ID', async () => {
    rdsMock.on(DescribeDBInstancesCommand).resolves({ DBInstances: [sourceInstance({ StorageEncrypted: false })] });
    rdsMock.on(StartDBInstanceAutomatedBackupsReplicationCommand).resolves({ DBInstanceAutomatedBackup: { DBInstanceAutomatedBackupsArn: REPLICATED_BACKUPS_ARN } });

    await handler(create, lambdaContext());

    expect(responses).toEqual([
      expect.objectContaining({ Status: 'SUCCESS', PhysicalResourceId: `arn:aws:rds:${PRIMARY}:111122223333:db:orders-db|${DR}`, Data: { ReplicatedBackupsArn: REPLICATED_BACKUPS_ARN, Action: 'started' } }),
    ]);
  });

  it('GIVEN a create that fails THEN CloudFormation hears FAILED with the reason and a physical ID its delete ignores', async () => {
    rdsMock.on(DescribeDBInstancesCommand).resolves({ DBInstances: [sourceInstance()] });

    await handler(create, lambdaContext());

    expect(responses).toEqual([
      expect.objectContaining({ Status: 'FAILED', PhysicalResourceId: 'not-created:ReplicationOrdersDb', Reason: expect.stringMatching(/^Error: orders-db is encrypted: .*drReplication.kmsKeyArn/) }),
    ]);
    expect(rdsMock).toHaveReceivedCommandTimes(StartDBInstanceAutomatedBackupsReplicationCommand, 0);
  });
});
