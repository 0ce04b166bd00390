import { HeadObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { Context, SQSEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import './handler-env';
import { handler as plannerHandler } from '../../lambda/verify/planner-handler';
import { handler as workerHandler } from '../../lambda/verify/worker-handler';

const s3Mock = mockClient(S3Client);
const sqsMock = mockClient(SQSClient);
const worker = workerHandler;
const planner = plannerHandler;
const context = { getRemainingTimeInMillis: () => 900_000 } as Context;
const KEY = 'daily/app/2026/03/10/app_20260310T020000Z.pgdump.gz';

const sqsEvent = (...bodies: string[]): SQSEvent => ({
  Records: bodies.map((body, index) => ({ messageId: `m${index}`, body }) as SQSEvent['Records'][number]),
});

beforeEach(() => {
  s3Mock.reset();
  sqsMock.reset();
});
afterAll(() => {
  s3Mock.restore();
  sqsMock.restore();
});

describe('worker handler', () => {
  it('GIVEN a message S3 throttles WHEN handled THEN the message is reported failed for a retry', async () => {
    s3Mock.on(HeadObjectCommand).rejects(Object.assign(new Error('Slow Down'), { name: 'SlowDown' }));
    const result = await worker(sqsEvent(JSON.stringify({ key: KEY, reason: 'scheduled', requestedAt: '2026-03-10T05:00:00Z' })), context);
    expect(result).toEqual({ batchItemFailures: [{ itemIdentifier: 'm0' }] });
  });

  it('GIVEN a message that is not a verify message WHEN handled THEN it is dropped, not retried forever', async () => {
    const result = await worker(sqsEvent('{"kee": "x"}', 'not json'), context);
    expect(result).toEqual({ batchItemFailures: [] });
    expect(s3Mock).not.toHaveReceivedCommand(HeadObjectCommand);
  });

  it('GIVEN a direct invocation without a key WHEN handled THEN it is rejected naming the field', async () => {
    await expect(worker({ target: 'app' }, context)).rejects.toThrow(/invalid event: .*target/);
  });

  it('GIVEN a direct invocation with a key that is not a backup key WHEN handled THEN it is rejected naming the layout', async () => {
    await expect(worker({ key: 'daily/app/x.txt' }, context)).rejects.toThrow(/is not a backup key/);
  });
});

describe('planner handler', () => {
  it('GIVEN an event with an unknown field WHEN invoked THEN it is rejected naming the field and nothing is sent', async () => {
    await expect(planner({ tagret: 'app' })).rejects.toThrow(/invalid event: .*tagret/);
    expect(sqsMock).not.toHaveReceivedCommand(SendMessageBatchCommand);
  });

  it('GIVEN { key } WHEN invoked THEN that key is queued', async () => {
    s3Mock.on(HeadObjectCommand).resolves({ ContentLength: 1 });
    sqsMock.on(SendMessageBatchCommand).resolves({ Successful: [], Failed: [] });
    await expect(planner({ key: KEY })).resolves.toMatchObject({ enqueued: [KEY] });
    expect(sqsMock).toHaveReceivedCommandWith(SendMessageBatchCommand, { QueueUrl: 'https://sqs/verify' });
  });
});

describe('planner handler as the deploy step (the age report made before the age alarms exist)', () => {
  const cfnEvent = (responseUrl: string) => ({
    RequestType: 'Create',
    ServiceToken: 'arn:aws:lambda:eu-west-1:111111111111:function:planner',
    ResponseURL: responseUrl,
    StackId: 'arn:aws:cloudformation:eu-west-1:111111111111:stack/jobs/1',
    RequestId: 'r-1',
    LogicalResourceId: 'VerificationAgesAtDeploy',
    ResourceType: 'Custom::BackupAgesAtDeploy',
    ResourceProperties: { ServiceToken: 'x', ConfiguredTargets: '{}' },
  });
  afterEach(() => {
    vi.unstubAllGlobals();
  });

  it('GIVEN a CloudFormation Create WHEN invoked THEN it reports the ages and answers SUCCESS at the pre-signed URL', async () => {
    s3Mock.on(ListObjectsV2Command).resolves({});
    const put = vi.fn(async () => new Response('', { status: 200 }));
    vi.stubGlobal('fetch', put);
    const url = 'https://cloudformation-custom-resource-response-euwest1.s3.eu-west-1.amazonaws.com/x?X-Amz-Signature=s';
    await planner(cfnEvent(url));
    expect(s3Mock).toHaveReceivedCommandWith(ListObjectsV2Command, { Bucket: 'backups', Delimiter: '/' });
    expect(put).toHaveBeenCalledTimes(1);
    const [calledUrl, init] = put.mock.calls[0] as unknown as [string, RequestInit];
    expect(calledUrl).toBe(url);
    expect(JSON.parse(String(init.body))).toMatchObject({ Status: 'SUCCESS', PhysicalResourceId: 'backup-ages-at-deploy', Data: { TargetTiers: '0' } });
  });

  it('GIVEN a forged CloudFormation event naming another host WHEN invoked THEN nothing is read and nothing is sent', async () => {
    const put = vi.fn(async () => new Response('', { status: 200 }));
    vi.stubGlobal('fetch', put);
    await expect(planner(cfnEvent('https://collector.example.net/ages'))).rejects.toThrow(/not an AWS host/);
    expect(put).not.toHaveBeenCalled();
    expect(s3Mock).not.toHaveReceivedCommand(ListObjectsV2Command);
  });
});
