import {
  CompleteMultipartUploadCommand,
  PutObjectCommand,
  S3Client,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  HeadObjectCommand,
  UploadPartCommand,
  GetObjectCommand,
  ListBucketsCommand,
  ListObjectVersionsCommand,
} from '@aws-sdk/client-s3';
import { createConnection } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MOTO_REGION, MotoServer } from '../support/moto';
import { MOTO_FACTORY_SOCKET } from '../support/moto-factory';

/** The test S3 behaves as real S3 where moto does not: here, how a multipart upload is locked. */

let moto: MotoServer;
beforeAll(async () => {
  moto = await MotoServer.start();
}, 60_000);
afterAll(async () => {
  await moto.stop();
});

async function multipartUpload(bucket: string, key: string, lock: { ObjectLockMode?: 'GOVERNANCE' | 'COMPLIANCE'; ObjectLockRetainUntilDate?: Date } = {}) {
  const s3 = moto.s3();
  const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key, ...lock }));
  const part = await s3.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: 1, Body: Buffer.from('backup bytes') }));
  await s3.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag }] } }));
  return s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
}

describe('the moto front: multipart uploads are locked as on S3', () => {
  it('with the lock CreateMultipartUpload asked for', async () => {
    const { bucket } = await moto.createBackupBucket('front-asked');
    const until = new Date('2027-01-02T03:04:05Z');
    const head = await multipartUpload(bucket, 'daily/a', { ObjectLockMode: 'COMPLIANCE', ObjectLockRetainUntilDate: until });
    expect(head.ObjectLockMode).toBe('COMPLIANCE');
    expect(head.ObjectLockRetainUntilDate?.toISOString()).toBe(until.toISOString());
  });

  it("with the bucket's default retention when it asked for none", async () => {
    const { bucket } = await moto.createBackupBucket('front-default', { defaultRetentionDays: 3 });
    const before = Date.now();
    const head = await multipartUpload(bucket, 'daily/b');
    expect(head.ObjectLockMode).toBe('GOVERNANCE');
    const until = head.ObjectLockRetainUntilDate?.getTime() ?? 0;
    expect(until).toBeGreaterThanOrEqual(before - 1000 + 3 * 86_400_000);
    expect(until).toBeLessThanOrEqual(Date.now() + 3 * 86_400_000);
  });

  it('refused on a bucket without Object Lock', async () => {
    await moto.s3().send(new CreateBucketCommand({ Bucket: 'front-unlocked', CreateBucketConfiguration: { LocationConstraint: MOTO_REGION } }));
    await expect(multipartUpload('front-unlocked', 'x', { ObjectLockMode: 'GOVERNANCE', ObjectLockRetainUntilDate: new Date('2027-01-01T00:00:00Z') })).rejects.toThrow(/lock/i);
  });
});

describe('the moto front: uploads to a locked bucket must carry a checksum, as on S3', () => {
  /** A client that sends checksums only where an operation requires one (request_checksum_calculation = when_required). */
  const whenRequired = () =>
    new S3Client({ endpoint: moto.endpoint, forcePathStyle: true, region: MOTO_REGION, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' }, requestChecksumCalculation: 'WHEN_REQUIRED' });

  it('refuses a PutObject and an UploadPart without Content-MD5 or a checksum', async () => {
    const { bucket } = await moto.createBackupBucket('front-checksum');
    await expect(whenRequired().send(new PutObjectCommand({ Bucket: bucket, Key: 'daily/x', Body: 'data' }))).rejects.toThrow(/Content-MD5 OR x-amz-checksum- HTTP header is required/);
    const { UploadId } = await whenRequired().send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'daily/y' }));
    await expect(whenRequired().send(new UploadPartCommand({ Bucket: bucket, Key: 'daily/y', UploadId, PartNumber: 1, Body: 'data' }))).rejects.toThrow(/x-amz-checksum- HTTP header is required/);
  });

  it('accepts them with a checksum header, and accepts anything on a bucket without a lock', async () => {
    const { bucket } = await moto.createBackupBucket('front-checksum-ok');
    // an explicit algorithm: the SDK computes it even when set to WHEN_REQUIRED
    await whenRequired().send(new PutObjectCommand({ Bucket: bucket, Key: 'daily/x', Body: 'data', ChecksumAlgorithm: 'SHA256' }));
    await moto.s3().send(new PutObjectCommand({ Bucket: bucket, Key: 'daily/z', Body: 'data' }));
    await moto.s3().send(new CreateBucketCommand({ Bucket: 'front-plain', CreateBucketConfiguration: { LocationConstraint: MOTO_REGION } }));
    await whenRequired().send(new PutObjectCommand({ Bucket: 'front-plain', Key: 'x', Body: 'data' }));
  });
});

describe('conditional writes (If-None-Match: *), which keep every backup, manifest, verdict and marker written once', () => {
  it('a PutObject over an existing key is refused with 412, and the first version stays the only one', async () => {
    const { bucket } = await moto.createBackupBucket('front-once-put');
    const s3 = moto.s3();
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'expected-since/daily/app.json', Body: 'first', IfNoneMatch: '*', ChecksumAlgorithm: 'SHA256' }));
    await expect(s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'expected-since/daily/app.json', Body: 'second', IfNoneMatch: '*', ChecksumAlgorithm: 'SHA256' }))).rejects.toMatchObject({
      $metadata: { httpStatusCode: 412 },
    });
    const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'expected-since/daily/app.json' }));
    expect(await object.Body?.transformToString()).toBe('first');
    expect((await s3.send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: 'expected-since/' }))).Versions).toHaveLength(1);
  });

  it('a CompleteMultipartUpload over an existing key is refused with 412', async () => {
    const { bucket } = await moto.createBackupBucket('front-once-multipart');
    const s3 = moto.s3();
    await multipartUpload(bucket, 'daily/app/backup.gz');
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'daily/app/backup.gz' }));
    const part = await s3.send(new UploadPartCommand({ Bucket: bucket, Key: 'daily/app/backup.gz', UploadId, PartNumber: 1, Body: Buffer.from('other bytes'), ChecksumAlgorithm: 'SHA256' }));
    await expect(
      s3.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: 'daily/app/backup.gz', UploadId, IfNoneMatch: '*', MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag }] } })),
    ).rejects.toMatchObject({ $metadata: { httpStatusCode: 412 } });
    expect((await s3.send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: 'daily/' }))).Versions).toHaveLength(1);
  });
});

describe('the moto factory: one moto import for the run, a fresh server for each file', () => {
  it('is what this run uses, and each server it forks has state of its own and goes away when stopped', async () => {
    // The global setup started the factory (a silent fallback to plain starts would hide a broken
    // one), unless BACKUP_KIT_PLAIN_MOTO=1 asked for plain starts.
    if (process.env.BACKUP_KIT_PLAIN_MOTO !== '1') expect(process.env[MOTO_FACTORY_SOCKET]).toBeTruthy();
    const other = await MotoServer.start();
    try {
      await moto.s3().send(new CreateBucketCommand({ Bucket: 'only-in-the-first', CreateBucketConfiguration: { LocationConstraint: MOTO_REGION } }));
      const listed = await other.s3().send(new ListBucketsCommand({}));
      expect((listed.Buckets ?? []).map((bucket) => bucket.Name)).not.toContain('only-in-the-first');
    } finally {
      await other.stop();
    }
    await expect(fetch(`${other.endpoint}/moto-api/`)).rejects.toThrow();
  });

  it('answers a request that is not a port by starting nothing, and serves on', async () => {
    const socketPath = process.env[MOTO_FACTORY_SOCKET];
    if (!socketPath) return; // BACKUP_KIT_PLAIN_MOTO=1: no factory in this run
    for (const request of ['not a port\n', '80\n', '99999999\n']) {
      const reply = await new Promise<string>((resolve, reject) => {
        let data = '';
        const connection = createConnection(socketPath, () => connection.write(request));
        connection.on('data', (chunk) => (data += chunk.toString()));
        connection.on('end', () => resolve(data));
        connection.on('error', reject);
      });
      expect(reply).toBe('');
    }
    const next = await MotoServer.start();
    await next.stop();
  });
});
