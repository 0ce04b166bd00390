import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  GetObjectTaggingCommand,
  HeadObjectCommand,
  ListObjectVersionsCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parseS3VersionRestoreEvent, type MediaBucketEntry } from '../../contracts/s3-version-restore';
import {
  keyHistories,
  restoreVersions,
  type S3VersionRestoreDeps,
} from '../../lambda/s3-version-restore/core';
import { RequestRejectedError } from '../../contracts/errors';
import { MOTO_REGION, MotoServer } from '../support/moto';

/**
 * The S3 version restore against moto, where versions and delete markers really exist: the
 * bucket is changed after T (overwrite, delete, create) and brought back.
 */

let moto: MotoServer;
let s3: S3Client;
const BUCKET = 'team-media';

beforeAll(async () => {
  moto = await MotoServer.start();
  s3 = moto.s3();
});
afterAll(async () => {
  await moto?.stop();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function body(key: string): Promise<string> {
  const object = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  return (await object.Body?.transformToString()) ?? '';
}

async function allVersionIds(): Promise<string[]> {
  const ids: string[] = [];
  for await (const history of keyHistories(s3, BUCKET, '')) ids.push(...history.map((entry) => `${entry.key}@${entry.versionId}`));
  return ids.sort();
}

async function put(key: string, content: string, extra: { contentType?: string; metadata?: Record<string, string>; tagging?: string } = {}): Promise<void> {
  await s3.send(
    new PutObjectCommand({
      Bucket: BUCKET,
      Key: key,
      Body: content,
      ContentType: extra.contentType ?? 'image/jpeg',
      ...(extra.metadata ? { Metadata: extra.metadata } : {}),
      ...(extra.tagging ? { Tagging: extra.tagging } : {}),
    }),
  );
}

function deps(entries: MediaBucketEntry[] = [{ bucket: BUCKET, region: MOTO_REGION }]): S3VersionRestoreDeps {
  return { s3For: () => s3, mediaBuckets: entries, now: () => new Date(), remainingMs: () => 600_000 };
}

/**
 * Before T: photos/a.jpg (v1, with metadata and tags), photos/b.jpg, photos/c.jpg, other/x.jpg.
 * After T: a.jpg overwritten, b.jpg deleted, d.jpg created, other/x.jpg overwritten.
 */
async function scenario(): Promise<Date> {
  await moto.reset();
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET, CreateBucketConfiguration: { LocationConstraint: MOTO_REGION } }));
  await s3.send(new PutBucketVersioningCommand({ Bucket: BUCKET, VersioningConfiguration: { Status: 'Enabled' } }));
  await put('photos/a.jpg', 'a-before', { contentType: 'image/jpeg', metadata: { camera: 'x100' }, tagging: 'team=media' });
  await put('photos/b.jpg', 'b-before');
  await put('photos/c.jpg', 'c-before');
  await put('other/x.jpg', 'x-before');
  // S3 keeps times to the second: T sits a clear second after the first writes and before the next.
  await sleep(1100);
  const restoreTo = new Date();
  await sleep(1100);
  await put('photos/a.jpg', 'a-after', { contentType: 'image/png', metadata: { camera: 'broken' } });
  await s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: 'photos/b.jpg' }));
  await put('photos/d.jpg', 'd-after');
  await put('other/x.jpg', 'x-after');
  return restoreTo;
}

describe('S3 version restore against moto', () => {
  let restoreTo: Date;
  beforeEach(async () => {
    restoreTo = await scenario();
  });

  it('lists exactly what would change on a dry run and changes nothing', async () => {
    // GIVEN a bucket changed after T
    const before = await allVersionIds();
    // WHEN a dry run of the photos/ prefix
    const result = await restoreVersions(
      parseS3VersionRestoreEvent({ bucket: BUCKET, prefix: 'photos/', restoreTo: restoreTo.toISOString(), dryRun: true }),
      deps(),
    );
    // THEN the plan names a.jpg restored and b.jpg undeleted, d.jpg kept, and no version was added
    expect(result.changes.map((change) => [change.key, change.action])).toEqual([
      ['photos/a.jpg', 'restore'],
      ['photos/b.jpg', 'undelete'],
    ]);
    for (const change of result.changes) {
      expect(change.fromVersion).toMatch(/\S/);
      expect(change.toVersion).toMatch(/\S/);
    }
    expect(result.kept).toEqual({ unchanged: 1, 'created-after': 1, 'absent-at-time': 0 });
    expect(result.applied).toBe(0);
    expect(await allVersionIds()).toEqual(before);
    expect(await body('photos/a.jpg')).toBe('a-after');
  });

  it('brings changed and deleted objects back with their metadata and tags, leaves new ones, deletes no version', async () => {
    // GIVEN a bucket changed after T
    const before = await allVersionIds();
    // WHEN the photos/ prefix is restored to T
    const result = await restoreVersions(
      parseS3VersionRestoreEvent({ bucket: BUCKET, prefix: 'photos/', restoreTo: restoreTo.toISOString(), confirm: BUCKET }),
      deps(),
    );
    // THEN a.jpg and b.jpg have their content, type, metadata and tags of T
    expect(result).toMatchObject({ applied: 2, failed: [], complete: true, changeCounts: { restore: 1, undelete: 1, 'remove-created-after': 0 } });
    expect(await body('photos/a.jpg')).toBe('a-before');
    const head = await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'photos/a.jpg' }));
    expect(head.ContentType).toBe('image/jpeg');
    expect(head.Metadata).toEqual({ camera: 'x100' });
    const tags = await s3.send(new GetObjectTaggingCommand({ Bucket: BUCKET, Key: 'photos/a.jpg' }));
    expect(tags.TagSet).toEqual([{ Key: 'team', Value: 'media' }]);
    expect(await body('photos/b.jpg')).toBe('b-before');
    // AND d.jpg (created after T) and other/ (outside the prefix) are untouched
    expect(await body('photos/d.jpg')).toBe('d-after');
    expect(await body('other/x.jpg')).toBe('x-after');
    // AND every version that existed still exists (two new ones on top)
    const after = await allVersionIds();
    expect(after).toEqual(expect.arrayContaining(before));
    expect(after).toHaveLength(before.length + 2);
  });

  it('is a no-op when run twice: keys already back at T are skipped', async () => {
    // GIVEN a prefix restored once
    const event = parseS3VersionRestoreEvent({ bucket: BUCKET, prefix: 'photos/', restoreTo: restoreTo.toISOString(), confirm: BUCKET });
    await restoreVersions(event, deps());
    const afterFirst = await allVersionIds();
    // WHEN the same event runs again
    const second = await restoreVersions(event, deps());
    // THEN nothing changes
    expect(second.applied).toBe(0);
    expect(second.kept.unchanged).toBe(3);
    expect(await allVersionIds()).toEqual(afterFirst);
  });

  it('hides objects created after T behind a delete marker only when asked, keeping their versions', async () => {
    // GIVEN d.jpg was created after T
    const dVersions = (await s3.send(new ListObjectVersionsCommand({ Bucket: BUCKET, Prefix: 'photos/d.jpg' }))).Versions ?? [];
    // WHEN restored with removeCreatedAfter
    const result = await restoreVersions(
      parseS3VersionRestoreEvent({ bucket: BUCKET, prefix: 'photos/', restoreTo: restoreTo.toISOString(), removeCreatedAfter: true, confirm: BUCKET }),
      deps(),
    );
    // THEN d.jpg is gone from listings but its version remains, under a new delete marker
    expect(result.changeCounts['remove-created-after']).toBe(1);
    await expect(s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'photos/d.jpg' }))).rejects.toThrow();
    const listing = await s3.send(new ListObjectVersionsCommand({ Bucket: BUCKET, Prefix: 'photos/d.jpg' }));
    expect((listing.Versions ?? []).map((version) => version.VersionId)).toEqual(dVersions.map((version) => version.VersionId));
    expect(listing.DeleteMarkers).toHaveLength(1);
  });

  it('restores one key, not the longer keys that share its name as a prefix', async () => {
    // GIVEN photos/a.jpg and photos/a.jpg.bak both changed after T
    await put('photos/a.jpg.bak', 'bak-after');
    // WHEN only photos/a.jpg is restored
    const result = await restoreVersions(
      parseS3VersionRestoreEvent({ bucket: BUCKET, key: 'photos/a.jpg', restoreTo: restoreTo.toISOString(), removeCreatedAfter: true, confirm: BUCKET }),
      deps(),
    );
    // THEN only that key changed
    expect(result.keysScanned).toBe(1);
    expect(await body('photos/a.jpg')).toBe('a-before');
    expect(await body('photos/a.jpg.bak')).toBe('bak-after');
  });

  it('reads histories that span pages of the listing', async () => {
    // GIVEN keys with several versions each
    for (let index = 0; index < 3; index += 1) await put('photos/c.jpg', `c-${index}`);
    // WHEN listed two entries per page
    const histories: string[][] = [];
    for await (const history of keyHistories(s3, BUCKET, 'photos/', 2)) histories.push(history.map((entry) => entry.key));
    // THEN each key comes once, with all its versions and delete markers
    expect(histories.map((keys) => [keys[0], keys.length])).toEqual([
      ['photos/a.jpg', 2],
      ['photos/b.jpg', 2],
      ['photos/c.jpg', 4],
      ['photos/d.jpg', 1],
    ]);
  });

  it('refuses a bucket whose versioning is suspended', async () => {
    // GIVEN versioning suspended
    await s3.send(new PutBucketVersioningCommand({ Bucket: BUCKET, VersioningConfiguration: { Status: 'Suspended' } }));
    // WHEN a restore is asked THEN it is refused naming the versioning state
    await expect(
      restoreVersions(parseS3VersionRestoreEvent({ bucket: BUCKET, prefix: 'photos/', restoreTo: restoreTo.toISOString(), dryRun: true }), deps()),
    ).rejects.toThrow(/versioning of team-media is Suspended/);
  });

  it('refuses a prefix outside the allowed prefixes', async () => {
    // GIVEN only photos/ allowed
    const entries = [{ bucket: BUCKET, region: MOTO_REGION, allowedPrefixes: ['photos/'] }];
    // WHEN other/ is asked THEN it is refused
    await expect(
      restoreVersions(parseS3VersionRestoreEvent({ bucket: BUCKET, prefix: 'other/', restoreTo: restoreTo.toISOString(), dryRun: true }), deps(entries)),
    ).rejects.toThrow(RequestRejectedError);
    expect(await body('other/x.jpg')).toBe('x-after');
  });
});
