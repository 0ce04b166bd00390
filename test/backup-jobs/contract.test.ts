import { describe, expect, it } from 'vitest';
import { parseBackupResult, describeExitCode, documentParametersFor, invalidDocumentParameters, type TargetPlan } from '../../contracts/backup-command';
import { REDACTED, redactSecrets } from '../../lambda/shared/redact';
import { isThrottling, withThrottlingRetry } from '../../lambda/shared/retry';
import { describeRestoreExitCode } from '../../contracts/restore-command';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const SHA = '0123456789abcdef'.repeat(4);
const line = (fields: Record<string, unknown>) => `BACKUP_RESULT ${JSON.stringify(fields)}`;
const complete = { target: 'orders-db', tier: 'daily', kind: 'postgres', bucket: 'b', key: 'daily/orders-db/k.pgdump.gz', bytes: 10, sha256: SHA, durationSeconds: 2.5 };

describe('BACKUP_RESULT parsing', () => {
  it('GIVEN progress lines and a final BACKUP_RESULT THEN the result is read', () => {
    expect(parseBackupResult(`starting\n${line(complete)}\n`)).toEqual({ found: true, result: complete });
  });

  it('GIVEN two BACKUP_RESULT lines THEN the last one counts', () => {
    expect(parseBackupResult(`${line({ ...complete, bytes: 1 })}\n${line(complete)}`)).toMatchObject({ found: true, result: { bytes: 10 } });
  });

  it('GIVEN extra fields THEN they are kept (the line may grow)', () => {
    expect(parseBackupResult(line({ ...complete, manifestKey: 'x' }))).toMatchObject({ found: true, result: { manifestKey: 'x' } });
  });

  it.each([
    ['no line', 'done', /no BACKUP_RESULT line/],
    ['bad JSON', 'BACKUP_RESULT {nope', /BACKUP_RESULT is not JSON/],
    ['a missing field', line({ ...complete, sha256: undefined }), /BACKUP_RESULT is incomplete: sha256/],
    ['a negative byte count', line({ ...complete, bytes: -1 }), /bytes/],
  ])('GIVEN %s THEN it is not found, with the reason', (_case, stdout, reason) => {
    const parsed = parseBackupResult(stdout);
    expect(parsed.found).toBe(false);
    expect(parsed.found ? '' : parsed.reason).toMatch(reason);
  });
});

describe('exit codes', () => {
  it('GIVEN each code of the script contract THEN it has a meaning and a next step', () => {
    expect(describeExitCode(3).meaning).toMatch(/credentials/);
    expect(describeExitCode(5).meaning).toMatch(/upload/);
    expect(describeExitCode(99).meaning).toMatch(/unexpected exit code 99/);
  });
});

describe('restore.sh exit codes', () => {
  it('GIVEN every stage exit code restore.sh defines THEN the result function knows its meaning and next step', () => {
    const script = readFileSync(join(__dirname, '../../scripts/instance/restore.sh'), 'utf8');
    const line = /^readonly E_INPUT=.*$/m.exec(script)?.[0] ?? '';
    const codes = [...line.matchAll(/E_[A-Z]+=(\d+)/g)].map((match) => Number(match[1]));
    expect(codes).toEqual(expect.arrayContaining([4, 5, 7, 8, 9, 10, 11]));
    for (const code of [2, 3, ...codes]) expect(describeRestoreExitCode(code).meaning, `exit ${code}`).not.toMatch(/unexpected exit code/);
    expect(describeRestoreExitCode(11).meaning).toMatch(/does not match the backup manifest.*live data is untouched/);
  });
});

describe('document parameters of a run', () => {
  const plan: TargetPlan = {
    name: 'billing-db',
    kind: 'mysql',
    instances: { instanceIds: ['i-0123456789abcdef0'] },
    tiers: ['daily'],
    database: { host: 'localhost', port: 3306, name: 'billing', user: 'backup', password: { secretId: 'billing/prod/mysql' } },
    executionTimeoutSeconds: 7200,
    maxConcurrency: '1',
    maxErrors: '100%',
  };
  const destination = { bucket: 'backups-bucket', kmsKeyArn: 'arn:aws:kms:eu-west-1:123456789012:key/abcd-1234', region: 'eu-west-1' };
  const lock = { retentionDays: 30, objectLockMode: 'COMPLIANCE' as const };

  it('GIVEN a MySQL target THEN the secret is named and every value passes its pattern', () => {
    const parameters = documentParametersFor(plan, 'daily', lock, destination);
    expect(parameters).toMatchObject({ passwordSecretId: ['billing/prod/mysql'], dbPort: ['3306'], executionTimeout: ['7200'], objectLockMode: ['COMPLIANCE'] });
    expect(parameters.passwordSsmParameter).toBeUndefined();
    expect(invalidDocumentParameters(parameters)).toEqual([]);
  });

  it('GIVEN a value the document would refuse THEN it is reported before sending', () => {
    const parameters = documentParametersFor({ ...plan, database: { ...plan.database!, host: "db'; reboot" } }, 'daily', lock, destination);
    expect(invalidDocumentParameters(parameters)).toEqual([expect.stringMatching(/^dbHost: 'db'; reboot' does not match/)]);
  });
});

describe('secret redaction', () => {
  it.each([
    ['PGPASSWORD=hunter2 pg_dump', 'hunter2'],
    ['mysqldump -pS3cret billing', 'S3cret'],
    ['postgres://backup:S3cret@db/orders', 'S3cret'],
    ['{"password": "two words"}', 'two words'],
    ['--password hunter2', 'hunter2'],
    ['export MYSQL_PWD=hunter2', 'hunter2'],
    ['key AKIAIOSFODNN7EXAMPLE', 'AKIAIOSFODNN7EXAMPLE'],
    ['aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY'],
    ['X-Amz-Security-Token=IQoJb3JpZ2luX2VjEHgaCWV1LXdlc3QtMSJHMEUCIQDx9Zk', 'IQoJb3JpZ2luX2VjEHgaCWV1LXdlc3QtMSJHMEUCIQDx9Zk'],
    ['Authorization: Bearer abc.def.ghi', 'abc.def.ghi'],
  ])('GIVEN %j THEN the secret is gone', (text, secret) => {
    const redacted = redactSecrets(text);
    expect(redacted).not.toContain(secret);
    expect(redacted).toContain(REDACTED);
  });

  it('GIVEN ordinary diagnostics THEN they stay readable', () => {
    const text = [
      'pg_dump: error: connection to server at "127.0.0.1", port 5432 failed: FATAL:  password authentication failed for user "backup"',
      `upload failed: s3://bucket/daily/orders-db/2025/03/04/orders-db_20250304T020002Z.pgdump.gz sha256 ${'ab'.repeat(32)}`,
      'tar: /var/app/current/media/cache: Cannot open: Permission denied',
      'arn:aws:kms:eu-west-1:123456789012:key/0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b is disabled',
    ].join('\n');
    expect(redactSecrets(text)).toBe(text);
  });
});

describe('backoff', () => {
  const throttle = Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' });

  it('GIVEN throttling THEN it waits longer each time, capped, and gives up after the last attempt', async () => {
    const delays: number[] = [];
    let calls = 0;
    await expect(
      withThrottlingRetry(
        async () => {
          calls += 1;
          throw throttle;
        },
        { attempts: 5, baseDelayMs: 100, maxDelayMs: 300, sleep: async (ms) => void delays.push(ms), random: () => 1 },
      ),
    ).rejects.toThrow('Rate exceeded');
    expect(calls).toBe(5);
    expect(delays).toEqual([100, 200, 300, 300]);
  });

  it('GIVEN a caller-chosen retryable error THEN it is retried like throttling', async () => {
    let calls = 0;
    const notYet = Object.assign(new Error('not yet'), { name: 'InvocationDoesNotExist' });
    const value = await withThrottlingRetry(
      async () => {
        calls += 1;
        if (calls < 3) throw notYet;
        return 'found';
      },
      { retryable: (error) => (error as Error).name === 'InvocationDoesNotExist', sleep: async () => undefined },
    );
    expect(value).toBe('found');
    expect(calls).toBe(3);
  });

  it('GIVEN an error that is not throttling THEN it is thrown at once', async () => {
    let calls = 0;
    await expect(
      withThrottlingRetry(
        async () => {
          calls += 1;
          throw new Error('AccessDenied');
        },
        { attempts: 5, baseDelayMs: 1, sleep: async () => undefined },
      ),
    ).rejects.toThrow('AccessDenied');
    expect(calls).toBe(1);
  });

  it('GIVEN SDK throttling markers THEN they count as throttling', () => {
    expect(isThrottling({ name: 'TooManyRequestsException' })).toBe(true);
    expect(isThrottling({ name: 'Whatever', $retryable: { throttling: true } })).toBe(true);
    expect(isThrottling({ name: 'ValidationException' })).toBe(false);
  });
});
