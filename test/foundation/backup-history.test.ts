import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { manifestKeyFor } from '../../contracts/manifest';
import { readStoredJson, readStoredManifest } from '../../lambda/shared/backup-history';
import { manifestFor, sqliteBackup } from '../support/backups';

/** Reading what the bucket holds: a missing or malformed object is nothing, and a manifest speaks only for its own backup. */

const KEY = 'daily/repairs/2026/11/01/repairs_20261101T020000Z.sqlite.gz';
const OTHER = 'daily/repairs/2026/11/02/repairs_20261102T020000Z.sqlite.gz';

/** A bucket of JSON texts by key; anything else answers as S3 does for a missing key. */
function bucketOf(objects: Record<string, string>, failure?: Error): S3Client {
  return {
    send: async (command: unknown) => {
      if (failure) throw failure;
      const key = (command as GetObjectCommand).input.Key ?? '';
      if (!(command instanceof GetObjectCommand) || !(key in objects)) throw Object.assign(new Error('The specified key does not exist.'), { name: 'NoSuchKey' });
      return { Body: { transformToString: async () => objects[key] } };
    },
  } as unknown as S3Client;
}

describe('reading the backup bucket', () => {
  const made = sqliteBackup(10);
  const manifest = (key: string) => manifestFor(made, { bucket: 'b', key, target: 'repairs', tier: 'daily', finishedAt: new Date('2026-11-01T02:01:00Z') });

  it("GIVEN a backup's manifest THEN it is read; GIVEN one that describes another backup, is not a manifest, or is missing THEN there is none", async () => {
    expect((await readStoredManifest(bucketOf({ [manifestKeyFor(KEY)]: JSON.stringify(manifest(KEY)) }), 'b', KEY))?.key).toBe(KEY);
    // Copied over from another backup, it would lend that backup's lock and checksum to this one.
    expect(await readStoredManifest(bucketOf({ [manifestKeyFor(KEY)]: JSON.stringify(manifest(OTHER)) }), 'b', KEY)).toBeUndefined();
    expect(await readStoredManifest(bucketOf({ [manifestKeyFor(KEY)]: '{"manifestVersion": 1}' }), 'b', KEY)).toBeUndefined();
    expect(await readStoredManifest(bucketOf({ [manifestKeyFor(KEY)]: 'not json' }), 'b', KEY)).toBeUndefined();
    expect(await readStoredManifest(bucketOf({}), 'b', KEY)).toBeUndefined();
  });

  it('GIVEN S3 refusing the read THEN the error is thrown, never taken for a missing object', async () => {
    await expect(readStoredJson(bucketOf({}, Object.assign(new Error('Access Denied'), { name: 'AccessDenied' })), 'b', KEY)).rejects.toThrow('Access Denied');
  });
});
