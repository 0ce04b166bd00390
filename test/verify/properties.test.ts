import { GetObjectCommand, HeadObjectCommand, ListObjectVersionsCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import fc from 'fast-check';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { backupKey, type BackupKind } from '../../contracts/manifest';
import { inspectorFor } from '../../lambda/verify/formats';
import { checkStream } from '../../lambda/verify/stream-check';
import { verifyBackup } from '../../lambda/verify/verify-backup';
import { filesBackup, manifestFor, sqliteBackup, type MadeBackup } from '../support/backups';
import { TEST_SETTINGS, capturingMetrics, quietLogger } from './helpers';

/**
 * Property-based: whatever the offset, a truncated backup fails, and whatever the bit, a flipped
 * backup fails at least its SHA-256 check. The verification core runs for real; S3 is mocked so
 * that hundreds of cases run in seconds.
 */
const s3Mock = mockClient(S3Client);
const snsMock = mockClient(SNSClient);
const NOW = new Date('2026-03-10T05:00:00Z');
const BUCKET = 'backups';
const backups = new Map<BackupKind, MadeBackup>();

function chunked(body: Buffer, size: number): Readable {
  const parts: Buffer[] = [];
  for (let at = 0; at < body.length; at += size) parts.push(body.subarray(at, at + size));
  return Readable.from(parts);
}

async function verifyStored(kind: BackupKind, original: MadeBackup, stored: Buffer) {
  const key = backupKey('daily', 'app', kind, new Date('2026-03-10T02:00:00Z'));
  const manifest = manifestFor(original, { bucket: BUCKET, key, target: 'app', tier: 'daily', finishedAt: new Date('2026-03-10T02:01:00Z') });
  s3Mock.reset();
  s3Mock.on(HeadObjectCommand).resolves({
    ContentLength: stored.length,
    LastModified: new Date('2026-03-10T02:01:00Z'),
    ReplicationStatus: 'COMPLETED',
    ObjectLockMode: 'GOVERNANCE',
    ObjectLockRetainUntilDate: new Date('2027-03-10T02:01:00Z'),
  });
  s3Mock.on(HeadObjectCommand, { Bucket: 'replica' }).resolves({ ContentLength: stored.length });
  const manifestText = JSON.stringify(manifest);
  s3Mock.on(GetObjectCommand, { Key: `${key}.manifest.json` }).resolves({ Body: Object.assign(Readable.from([Buffer.from(manifestText)]), { transformToString: async () => manifestText }) as never });
  s3Mock.on(GetObjectCommand, { Key: key }).callsFake(() => ({ Body: chunked(stored, 7919) }));
  s3Mock.on(ListObjectsV2Command).resolves({ Contents: [{ Key: key, Size: stored.length }, { Key: `${key}.manifest.json`, Size: 100 }] });
  s3Mock.on(ListObjectVersionsCommand).resolves({ Versions: [{ Key: key, VersionId: 'v1' }, { Key: `${key}.manifest.json`, VersionId: 'm1' }] });
  s3Mock.on(PutObjectCommand).resolves({});
  const { metrics } = capturingMetrics();
  return verifyBackup(
    { s3: new S3Client({ region: 'eu-west-1' }), replicaS3: new S3Client({ region: 'eu-central-1' }), sns: new SNSClient({ region: 'eu-west-1' }), metrics, logger: quietLogger(), bucket: BUCKET, replicaBucket: 'replica', backupKeyArn: 'arn:aws:kms:eu-west-1:111111111111:key/k', alertTopicArn: 'arn:aws:sns:eu-west-1:111111111111:alerts', region: 'eu-west-1', settings: TEST_SETTINGS, now: () => NOW },
    key,
  );
}

beforeAll(() => {
  backups.set('sqlite', sqliteBackup(150));
  backups.set('files', filesBackup(6));
});
beforeEach(() => {
  snsMock.reset();
  snsMock.on(PublishCommand).resolves({ MessageId: 'm' });
});
afterAll(() => {
  s3Mock.restore();
  snsMock.restore();
});

const backupOf = (kind: BackupKind): MadeBackup => {
  const backup = backups.get(kind);
  if (!backup) throw new Error(`no ${kind} backup`);
  return backup;
};

describe.each(['sqlite', 'files'] as const)('%s backups', (kind) => {
  it('GIVEN the intact backup WHEN verified THEN it passes (the properties below start from a passing backup)', async () => {
    const verdict = await verifyStored(kind, backupOf(kind), backupOf(kind).body);
    expect(verdict.reasons).toEqual([]);
    expect(verdict.passed).toBe(true);
  });

  it('GIVEN a truncation at any offset WHEN verified THEN verification fails on integrity and decompression', async () => {
    const body = backupOf(kind).body;
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: body.length - 1 }), async (length) => {
        const verdict = await verifyStored(kind, backupOf(kind), body.subarray(0, length));
        expect(verdict.passed).toBe(false);
        const failed = verdict.checks.filter((check) => check.status === 'failed').map((check) => check.name);
        expect(failed).toContain('integrity');
        expect(failed).toContain('decompression');
      }),
      { numRuns: 60 },
    );
  });

  it('GIVEN any single bit flipped WHEN verified THEN at least the SHA-256 check fails', async () => {
    const body = backupOf(kind).body;
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: body.length - 1 }), fc.integer({ min: 0, max: 7 }), async (at, bit) => {
        const flipped = Buffer.from(body);
        flipped[at] = (flipped[at] ?? 0) ^ (1 << bit);
        const verdict = await verifyStored(kind, backupOf(kind), flipped);
        expect(verdict.passed).toBe(false);
        expect(verdict.checks.find((check) => check.name === 'integrity')).toMatchObject({ status: 'failed', detail: expect.stringMatching(/SHA-256 [0-9a-f]{64} differs/) });
      }),
      { numRuns: 60 },
    );
  });
});

describe('the format inspectors alone', () => {
  it('GIVEN a tar truncated anywhere inside the archive and re-gzipped WHEN checked THEN the tar check fails', async () => {
    const tar = (await import('node:zlib')).gunzipSync(backupOf('files').body);
    let end = tar.length;
    while (end > 0 && tar[end - 1] === 0) end--;
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: end + 1023 }), async (length) => {
        const findings = await checkStream(Readable.from([gzipSync(tar.subarray(0, length))]), inspectorFor('tar', { sqliteIntegrityCheckMaxBytes: 1 }, backupOf('files')));
        expect(findings.format?.problems.length).toBeGreaterThan(0);
      }),
      { numRuns: 100 },
    );
  });

  it('GIVEN a SQLite file truncated anywhere and re-gzipped WHEN checked THEN the SQLite check fails', async () => {
    const db = (await import('node:zlib')).gunzipSync(backupOf('sqlite').body);
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: db.length - 1 }), async (length) => {
        const findings = await checkStream(Readable.from([gzipSync(db.subarray(0, length))]), inspectorFor('sqlite', { sqliteIntegrityCheckMaxBytes: 1 << 26 }, backupOf('sqlite')));
        expect(findings.format?.problems.length).toBeGreaterThan(0);
      }),
      { numRuns: 60 },
    );
  });
});
