import { RDSClient } from '@aws-sdk/client-rds';
import type { Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { vi } from 'vitest';
import { RESTORE_SETTINGS_ENV } from '../../contracts/rds';
import { settings } from './fixtures';
import { assertInCatalog, type EmfDocument } from '../support/emf-contract';

/** Every RDSClient the handler modules build at load time. */
export const rdsMock = mockClient(RDSClient);

/** The environment the constructs give the functions, set before a handler module loads. */
export function stubFunctionEnvironment(extra: Record<string, string> = {}): void {
  vi.stubEnv(RESTORE_SETTINGS_ENV, JSON.stringify(settings));
  vi.stubEnv('POWERTOOLS_SERVICE_NAME', 'rds-restore');
  vi.stubEnv('POWERTOOLS_METRICS_NAMESPACE', 'BackupKit');
  vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'SILENT');
  vi.stubEnv('AWS_REGION', 'eu-west-1');
  for (const [name, value] of Object.entries(extra)) vi.stubEnv(name, value);
}

export function lambdaContext(requestId = '7d3c2b1a-0000-4000-8000-000000000001'): Context {
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: 'backup-kit-jobs-RdsRestoreFunction',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:eu-west-1:111122223333:function:backup-kit-jobs-RdsRestoreFunction',
    memoryLimitInMB: '256',
    awsRequestId: requestId,
    logGroupName: '/aws/lambda/backup-kit-jobs-RdsRestoreFunction',
    logStreamName: '2026/11/21/[$LATEST]0123456789abcdef',
    getRemainingTimeInMillis: () => 120_000,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

/** EMF documents Powertools Metrics writes to stdout while `run` runs. */
export async function captureMetrics<T>(run: () => Promise<T>): Promise<{ result: T; documents: Record<string, unknown>[] }> {
  const lines: string[] = [];
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    lines.push(String(chunk));
    return true;
  });
  try {
    const result = await run();
    const documents = lines
      .flatMap((line) => line.split('\n'))
      .filter((line) => line.includes('"_aws"'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    for (const document of documents) assertInCatalog(document as unknown as EmfDocument);
    return { result, documents };
  } finally {
    spy.mockRestore();
  }
}

/** The refusal an answer must be; fails the test when the request was accepted. */
export function refused<T extends { ok: boolean }>(answer: T): Extract<T, { ok: false }> {
  if (answer.ok) throw new Error(`expected a refusal, got ${JSON.stringify(answer)}`);
  return answer as Extract<T, { ok: false }>;
}
