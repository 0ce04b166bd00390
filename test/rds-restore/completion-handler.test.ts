import { AddTagsToResourceCommand, DescribeDBInstancesCommand } from '@aws-sdk/client-rds';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeAll, describe, expect, it } from 'vitest';
import { TOPIC, available, rdsEvent } from './fixtures';
import { captureMetrics, lambdaContext, rdsMock, stubFunctionEnvironment } from './handler-harness';

const snsMock = mockClient(SNSClient);
let handler: typeof import('../../lambda/rds-restore-completion/handler.js').handler;

beforeAll(async () => {
  stubFunctionEnvironment({ ALERT_TOPIC_ARN: TOPIC });
  ({ handler } = await import('../../lambda/rds-restore-completion/handler.js'));
});

describe('completion handler', () => {
  it('GIVEN an available restore THEN RdsRestoreMinutes is recorded through Powertools (service rds-restore, dimension Source)', async () => {
    rdsMock.on(DescribeDBInstancesCommand).resolves({ DBInstances: [available()] });
    rdsMock.on(AddTagsToResourceCommand).resolves({});
    snsMock.on(PublishCommand).resolves({ MessageId: 'm-3' });

    const { result, documents } = await captureMetrics(() => handler(rdsEvent(), lambdaContext()));

    expect(result).toMatchObject({ outcome: 'reported-available', minutes: 37.5 });
    expect(snsMock).toHaveReceivedCommandWith(PublishCommand, { TopicArn: TOPIC });
    expect(documents).toHaveLength(1);
    expect(documents[0]).toMatchObject({
      service: 'rds-restore',
      Source: 'orders-db',
      RdsRestoreMinutes: 37.5,
      _aws: { CloudWatchMetrics: [{ Namespace: 'BackupKit', Dimensions: [['service', 'Source']], Metrics: [{ Name: 'RdsRestoreMinutes' }] }] },
    });
  });

  it('GIVEN an instance still creating THEN no metric is written', async () => {
    rdsMock.reset();
    rdsMock.on(DescribeDBInstancesCommand).resolves({ DBInstances: [available({ DBInstanceStatus: 'creating', Endpoint: undefined })] });

    const { result, documents } = await captureMetrics(() => handler(rdsEvent(), lambdaContext()));

    expect(result).toEqual({ outcome: 'waiting', status: 'creating' });
    expect(documents).toHaveLength(0);
  });
});
