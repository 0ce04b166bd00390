import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetBucketVersioningCommand,
  GetObjectTaggingCommand,
  HeadObjectCommand,
  ListObjectVersionsCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import fc from 'fast-check';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { SINGLE_COPY_LIMIT } from '../../lambda/s3-version-restore/apply';
import { decideKey, type VersionEntry } from '../../lambda/s3-version-restore/core';
import { handler } from '../../lambda/s3-version-restore/handler';
import { REMOVE, badEvents, badTimes, wrongType } from '../support/bad-events';

const s3Mock = mockClient(S3Client);
const KEY_ARN = 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
const MUTATING = [
  CopyObjectCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  PutObjectCommand,
  CreateMultipartUploadCommand,
  UploadPartCopyCommand,
  CompleteMultipartUploadCommand,
  AbortMultipartUploadCommand,
] as const;

// The handler reads its environment when it loads, so the environment is set before the imports.
vi.hoisted(() => {
  process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
  process.env.MEDIA_BUCKETS = JSON.stringify([
    {
      bucket: 'team-media',
      region: 'eu-west-1',
      kmsKeyArn: 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab',
      allowedPrefixes: ['photos/', 'videos/'],
    },
    { bucket: 'open-media', region: 'eu-west-1' },
  ]);
});
beforeEach(() => {
  s3Mock.reset();
  s3Mock.on(GetBucketVersioningCommand).resolves({ Status: 'Enabled' });
});

/** A field is named as `field: reason` (its path) or, for an unknown field, quoted. */
function namesField(message: string, field: string): boolean {
  return message.includes(`${field}:`) || message.includes(`"${field}"`);
}

function mutatingCalls(): number {
  return MUTATING.reduce((sum, command) => sum + s3Mock.commandCalls(command as typeof CopyObjectCommand).length, 0);
}

const at = (iso: string) => new Date(iso);
const T = '2026-11-20T12:00:00Z';

function version(key: string, versionId: string, time: string, extra: Partial<VersionEntry> = {}): VersionEntry {
  return { key, versionId, lastModified: at(time), isDeleteMarker: false, isLatest: false, eTag: `"${versionId}"`, size: 10, ...extra };
}

describe('decideKey', () => {
  it('copies back the version current at T when the key was overwritten after T', () => {
    // GIVEN v1 before T and v2 after
    const history = [version('k', 'v2', '2026-11-20T13:00:00Z', { isLatest: true }), version('k', 'v1', '2026-11-20T11:00:00Z')];
    // WHEN decided THEN v1 is restored over v2
    expect(decideKey(history, at(T), { removeCreatedAfter: false })).toEqual({
      kind: 'change',
      change: { key: 'k', action: 'restore', fromVersion: 'v2', toVersion: 'v1', bytes: 10 },
    });
  });

  it('undeletes a key deleted after T by copying its last version before T', () => {
    // GIVEN v1 before T, then v2, then a delete marker after T
    const history = [
      version('k', 'dm', '2026-11-20T14:00:00Z', { isDeleteMarker: true, isLatest: true, eTag: undefined, size: undefined }),
      version('k', 'v2', '2026-11-20T13:00:00Z'),
      version('k', 'v1', '2026-11-20T11:00:00Z'),
    ];
    // WHEN decided THEN v1 comes back on top of the marker
    expect(decideKey(history, at(T), { removeCreatedAfter: false })).toMatchObject({
      kind: 'change',
      change: { action: 'undelete', fromVersion: 'dm', toVersion: 'v1' },
    });
  });

  it('keeps a key created after T unless removal is asked', () => {
    // GIVEN a key whose first version is after T
    const history = [version('k', 'v1', '2026-11-20T13:00:00Z', { isLatest: true })];
    // WHEN decided with and without removeCreatedAfter
    expect(decideKey(history, at(T), { removeCreatedAfter: false })).toEqual({ kind: 'keep', key: 'k', reason: 'created-after' });
    // THEN removal makes a delete marker (no version to copy)
    expect(decideKey(history, at(T), { removeCreatedAfter: true })).toEqual({
      kind: 'change',
      change: { key: 'k', action: 'remove-created-after', fromVersion: 'v1', toVersion: null },
    });
  });

  it('keeps a key that was deleted at T and is still deleted', () => {
    // GIVEN a delete marker before T that is still current
    const history = [
      version('k', 'dm', '2026-11-20T11:30:00Z', { isDeleteMarker: true, isLatest: true }),
      version('k', 'v1', '2026-11-20T11:00:00Z'),
    ];
    // WHEN decided THEN nothing to do, even with removeCreatedAfter
    expect(decideKey(history, at(T), { removeCreatedAfter: true })).toEqual({ kind: 'keep', key: 'k', reason: 'absent-at-time' });
  });

  it('treats a version written exactly at T as current at T', () => {
    // GIVEN v2 written at T to the second
    const history = [version('k', 'v2', T, { isLatest: true }), version('k', 'v1', '2026-11-20T11:00:00Z')];
    // WHEN decided THEN it stays
    expect(decideKey(history, at(T), { removeCreatedAfter: false })).toEqual({ kind: 'keep', key: 'k', reason: 'unchanged' });
  });

  it('skips a version archived in Glacier with what to do', () => {
    // GIVEN the version of T is in DEEP_ARCHIVE
    const history = [
      version('k', 'v2', '2026-11-20T13:00:00Z', { isLatest: true }),
      version('k', 'v1', '2026-11-20T11:00:00Z', { storageClass: 'DEEP_ARCHIVE' }),
    ];
    // WHEN decided THEN it is skipped naming RestoreObject
    const decision = decideKey(history, at(T), { removeCreatedAfter: false });
    expect(decision.kind).toBe('skip');
    expect(decision.kind === 'skip' && decision.skipped.reason).toMatch(/DEEP_ARCHIVE.*RestoreObject/);
  });
});

describe('S3 version restore handler', () => {
  const listing = {
    Versions: [
      { Key: 'photos/a.jpg', VersionId: 'a2', IsLatest: true, LastModified: at('2026-11-20T13:00:00Z'), ETag: '"a2"', Size: 5 },
      { Key: 'photos/a.jpg', VersionId: 'a1', IsLatest: false, LastModified: at('2026-11-20T11:00:00Z'), ETag: '"a1"', Size: 5 },
      { Key: 'photos/big.mov', VersionId: 'b2', IsLatest: true, LastModified: at('2026-11-20T13:00:00Z'), ETag: '"b2"', Size: 10 },
      { Key: 'photos/big.mov', VersionId: 'b1', IsLatest: false, LastModified: at('2026-11-20T11:00:00Z'), ETag: '"b1"', Size: SINGLE_COPY_LIMIT + 600 * 1024 ** 2 },
      { Key: 'photos/new.jpg', VersionId: 'n1', IsLatest: true, LastModified: at('2026-11-20T13:00:00Z'), ETag: '"n1"', Size: 5 },
    ],
  };

  it('copies with the configured KMS key and metadata copied, and copies big versions in parts', async () => {
    // GIVEN a listing with an overwritten photo and an overwritten 5.6 GiB video
    s3Mock.on(ListObjectVersionsCommand).resolves(listing);
    s3Mock.on(HeadObjectCommand).resolves({ ContentType: 'video/quicktime', Metadata: { take: '3' } });
    s3Mock.on(GetObjectTaggingCommand).resolves({ TagSet: [{ Key: 'team', Value: 'media' }] });
    s3Mock.on(CreateMultipartUploadCommand).resolves({ UploadId: 'up-1' });
    s3Mock.on(UploadPartCopyCommand).resolves({ CopyPartResult: { ETag: '"p"' } });
    // WHEN restored
    const answer = await handler({ bucket: 'team-media', prefix: 'photos/', restoreTo: T, confirm: 'team-media' });
    // THEN the photo is copied with CopyObject, SSE-KMS with the configured key
    expect(answer).toMatchObject({ ok: true, applied: 2, failed: [] });
    expect(s3Mock).toReceiveCommandWith(CopyObjectCommand, {
      Bucket: 'team-media',
      Key: 'photos/a.jpg',
      CopySource: 'team-media/photos/a.jpg?versionId=a1',
      MetadataDirective: 'COPY',
      TaggingDirective: 'COPY',
      ServerSideEncryption: 'aws:kms',
      SSEKMSKeyId: KEY_ARN,
    });
    // AND the video is copied in 512 MiB parts with its type, metadata and tags
    expect(s3Mock).toReceiveCommandWith(CreateMultipartUploadCommand, {
      Key: 'photos/big.mov',
      ContentType: 'video/quicktime',
      Metadata: { take: '3' },
      Tagging: 'team=media',
      SSEKMSKeyId: KEY_ARN,
    });
    expect(s3Mock.commandCalls(UploadPartCopyCommand)).toHaveLength(12);
    expect(s3Mock).toReceiveCommandWith(UploadPartCopyCommand, { PartNumber: 12, CopySourceRange: `bytes=${11 * 512 * 1024 ** 2}-${SINGLE_COPY_LIMIT + 600 * 1024 ** 2 - 1}` });
    expect(s3Mock).toReceiveCommandTimes(CompleteMultipartUploadCommand, 1);
    // AND the key created after T is left alone, with no delete of any kind
    expect(s3Mock).not.toReceiveCommand(DeleteObjectCommand);
  });

  it('encodes keys with spaces and unicode in the copy source', async () => {
    // GIVEN a key with a space and an accent
    s3Mock.on(ListObjectVersionsCommand).resolves({
      Versions: [
        { Key: 'open/été photo.jpg', VersionId: 'x2', IsLatest: true, LastModified: at('2026-11-20T13:00:00Z'), ETag: '"x2"', Size: 1 },
        { Key: 'open/été photo.jpg', VersionId: 'x1', IsLatest: false, LastModified: at('2026-11-20T11:00:00Z'), ETag: '"x1"', Size: 1 },
      ],
    });
    s3Mock.on(CopyObjectCommand).resolves({});
    // WHEN restored in a bucket without a configured key
    await handler({ bucket: 'open-media', key: 'open/été photo.jpg', restoreTo: T, confirm: 'open-media' });
    // THEN the source is URL-encoded per segment and no SSE is forced (bucket default applies)
    const copy = s3Mock.commandCalls(CopyObjectCommand)[0]?.args[0].input;
    expect(copy?.CopySource).toBe('open-media/open/%C3%A9t%C3%A9%20photo.jpg?versionId=x1');
    expect(copy?.ServerSideEncryption).toBeUndefined();
  });

  it('reports a failed copy and carries on with the other keys', async () => {
    // GIVEN a copy of a.jpg refused by S3
    s3Mock.on(ListObjectVersionsCommand).resolves({ Versions: listing.Versions.filter((v) => v.Key !== 'photos/big.mov') });
    s3Mock.on(CopyObjectCommand).rejects(Object.assign(new Error('The operation is not valid for the object state'), { name: 'InvalidObjectState' }));
    // WHEN restored
    const answer = await handler({ bucket: 'team-media', prefix: 'photos/', restoreTo: T, confirm: 'team-media' });
    // THEN the failure is listed with its error and how to retry
    expect(answer).toMatchObject({ applied: 0, failed: [{ key: 'photos/a.jpg', action: 'restore', error: expect.stringMatching(/object state/) }] });
    expect((answer as { next: string }).next).toMatch(/run the same event again/);
  });

  it('fails naming the S3 action when the listing is refused', async () => {
    // GIVEN ListObjectVersions denied
    s3Mock.on(ListObjectVersionsCommand).rejects(Object.assign(new Error('Access Denied'), { name: 'AccessDenied' }));
    // WHEN asked THEN the error names the S3 action
    expect(await handler({ bucket: 'team-media', prefix: 'photos/', restoreTo: T, dryRun: true })).toMatchObject({ ok: false, error: 'PermissionDenied', message: expect.stringMatching(/AWS refused s3:ListBucketVersions on team-media/) });
  });

  it('stops starting copies before the Lambda deadline and says to run again', async () => {
    // GIVEN two keys to restore and a deadline already near
    s3Mock.on(ListObjectVersionsCommand).resolves({ Versions: listing.Versions.filter((v) => v.Key === 'photos/a.jpg') });
    // WHEN invoked with 10 s left
    const answer = await handler(
      { bucket: 'team-media', prefix: 'photos/', restoreTo: T, confirm: 'team-media' },
      { getRemainingTimeInMillis: () => 10_000 } as never,
    );
    // THEN nothing was copied and the answer says it is incomplete
    expect(answer).toMatchObject({ complete: false, applied: 0 });
    expect(mutatingCalls()).toBe(0);
  });

  it('refuses a bucket not in the config, naming the known ones', async () => {
    // WHEN an unknown bucket THEN rejected before any S3 call
    expect(await handler({ bucket: 'someone-elses', prefix: 'photos/', restoreTo: T, dryRun: true })).toMatchObject({
      ok: false,
      error: 'RequestRejected',
      message: expect.stringMatching(/bucket: 'someone-elses' is not a media bucket.*team-media, open-media/),
    });
    expect(s3Mock.calls()).toHaveLength(0);
  });

  it('refuses a time in the future', async () => {
    expect(await handler({ bucket: 'team-media', prefix: 'photos/', restoreTo: '2999-01-01T00:00:00Z', dryRun: true })).toMatchObject({ ok: false, message: expect.stringMatching(/restoreTo: .* is in the future/) });
  });

  it('rejects 1000+ malformed events, each naming the field, with zero mutating calls', async () => {
    // GIVEN a listing that a mistaken run would act on
    s3Mock.on(ListObjectVersionsCommand).resolves(listing);
    const valid = { bucket: 'team-media', prefix: 'photos/', restoreTo: T, dryRun: false, confirm: 'team-media' };
    const arbitrary = badEvents(valid, {
      bucket: fc.oneof(wrongType('string'), fc.constant(''), fc.string({ minLength: 64, maxLength: 80 }), fc.constant(REMOVE)),
      prefix: fc.oneof(wrongType('string'), fc.string({ minLength: 1025, maxLength: 1030 })),
      key: fc.oneof(wrongType('string'), fc.constant(''), fc.string({ minLength: 1, maxLength: 10 })),
      restoreTo: fc.oneof(badTimes, fc.constant(REMOVE)),
      dryRun: wrongType('boolean'),
      removeCreatedAfter: wrongType('boolean'),
      confirm: fc.oneof(wrongType('string'), fc.constantFrom('', 'team', 'TEAM-MEDIA', 'open-media'), fc.constant(REMOVE)),
    });
    let checked = 0;
    // WHEN each is sent to the handler
    await fc.assert(
      fc.asyncProperty(arbitrary, async ({ event, field }) => {
        const answer = await handler(event);
        checked += 1;
        // THEN it is rejected, the message names the field, and nothing was changed
        expect(answer).toMatchObject({ ok: false, error: 'InvalidEvent' });
        expect(namesField((answer as { message: string }).message, field)).toBe(true);
        expect(mutatingCalls()).toBe(0);
      }),
      { numRuns: 1200 },
    );
    expect(checked).toBeGreaterThanOrEqual(1000);
    expect(s3Mock.calls()).toHaveLength(0);
  });
});
