import { HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { Context, SQSEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
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
