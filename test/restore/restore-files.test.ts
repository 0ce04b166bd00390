import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { verdictKeyFor } from '../../contracts/manifest';
import { backupVersions, firstVersion } from '../../lambda/shared/versions';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MotoServer } from '../support/moto';
import { removeDir, scratchDir } from '../support/processes';
import { backupScriptEnv, backupWithScript, changedContentCopyOf, corruptCopyOf, killRestoreWhen, markVerified, runInstanceScript, storeBackup } from '../support/restore-fixtures';
import { replaceOnce } from '../support/backups';
import { gzipSync } from 'node:zlib';
import { treeOf } from '../support/trees';

/**
 * restore.sh for a directory, with backups taken by the real backup.sh into moto: scratch
 * round trip, a corrupted archive refused, replace with its safety backup and the old tree kept
 * aside, a drill, and a replace killed mid-extraction.
 */

let moto: MotoServer;
let s3: S3Client;
let keyArn: string;
let work: string;
let live: string;
const BUCKET = 'restore-files-backups';
const TARGET = 'media';

beforeAll(async () => {
  moto = await MotoServer.start();
  s3 = moto.s3();
  ({ keyArn } = await moto.createBackupBucket(BUCKET));
  work = scratchDir('restore-files');
  live = join(work, 'srv', 'media');
  mkdirSync(join(live, 'photos', '2026', 'before'), { recursive: true });
  mkdirSync(join(live, 'empty dir'));
  writeFileSync(join(live, 'photos', '2026', 'before', 'car 1 (front).jpg'), randomBytes(300_000));
  writeFileSync(join(live, 'photos', '2026', 'naïve résumé.txt'), 'unicode name\n');
  writeFileSync(join(live, 'photos', 'line\nbreak.txt'), 'a newline in the name\n');
  writeFileSync(join(live, '.hidden'), 'dot file\n');
  writeFileSync(join(live, 'empty.txt'), '');
  writeFileSync(join(live, 'private.key'), 'mode 600\n');
  chmodSync(join(live, 'private.key'), 0o600);
  symlinkSync('photos/2026', join(live, 'latest'));
});

afterAll(async () => {
  await moto?.stop();
  removeDir(work);
});

function siblingsOf(path: string): string[] {
  return readdirSync(dirname(path)).filter((name) => name !== basename(path)).sort();
}

function restoreEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  return backupScriptEnv(moto, keyArn, { BK_TARGET: TARGET, BK_KIND: 'files', BK_BUCKET: BUCKET, BK_PATH: live, RS_WORK_DIR: work, RS_TIERS: 'daily predeploy', RS_SCRATCH_ROOT: join(work, 'restores'), ...extra });
}

async function verifiedBackup(): Promise<{ key: string; tree: Map<string, string> }> {
  const tree = treeOf(live);
  const { key } = backupWithScript(restoreEnv({}));
  await markVerified(s3, BUCKET, key, true);
  return { key, tree };
}

/** One verified backup made by the script, shared by the tests that need a good one but not the newest. */
let shared: Promise<{ key: string; tree: Map<string, string> }> | undefined;
const aVerifiedBackup = () => (shared ??= verifiedBackup());

describe('restore.sh with a directory', () => {
  it('from a replica (the DR region), by hand: a verdict about the primary bucket counts only when it names this bucket as the replica it found', async () => {
    // GIVEN a backup of another target here whose verdict names the primary bucket
    const env = (extra: Record<string, string> = {}) => restoreEnv({ BK_TARGET: 'replica-media', RS_TIERS: 'daily', ...extra });
    const { key } = backupWithScript(env());
    const versions = await backupVersions(s3, BUCKET, key);
    const verdict = (replica: string | undefined) =>
      JSON.stringify({
        verdictVersion: 2, bucket: 'primary-backups', ...(replica ? { replicaBucket: replica } : {}), key,
        versionId: firstVersion(versions.backup)?.versionId, manifestVersionId: firstVersion(versions.manifest)?.versionId,
        target: 'replica-media', tier: 'daily', kind: 'files', verifiedAt: new Date().toISOString(), backupAt: new Date().toISOString(), passed: true, checks: [], reasons: [], figures: {},
      });
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: verdictKeyFor(key, new Date('2026-01-01T00:00:00Z')), Body: verdict(undefined) }));
    // WHEN restored without a key (the newest verified backup) THEN nothing counts as verified
    const unverified = runInstanceScript('restore.sh', env({ RS_MODE: 'scratch', RS_SCRATCH_PATH: join(work, 'restores', 'replica-none') }));
    expect(unverified.status).not.toBe(0);
    expect(existsSync(join(work, 'restores', 'replica-none'))).toBe(false);
    // WHEN the verifier found the replica here THEN its verdict picks the backup, pinned to its versions
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: verdictKeyFor(key, new Date('2026-01-02T00:00:00Z')), Body: verdict(BUCKET) }));
    const restored = runInstanceScript('restore.sh', env({ RS_MODE: 'scratch', RS_SCRATCH_PATH: join(work, 'restores', 'replica-copy') }));
    expect(restored.status, restored.stderr).toBe(0);
    expect(restored.result).toMatchObject({ key });
    expect(restored.stderr).toMatch(/\(verdict; mode scratch\)/);
  });

  it('restores the newest verified backup into a side path equal to the source, leaving live alone', async () => {
    // GIVEN a verified backup, then a change to live
    const { key, tree } = await verifiedBackup();
    writeFileSync(join(live, 'written-after.txt'), 'new\n');
    const liveTree = treeOf(live);
    const scratch = join(work, 'restores', 'media-scratch');
    // WHEN restored in scratch mode
    const restore = runInstanceScript('restore.sh', restoreEnv({ RS_MODE: 'scratch', RS_SCRATCH_PATH: scratch }));
    // THEN the side path equals the source at backup time (names, contents, modes, links), live is unchanged
    expect(restore.status, restore.stderr).toBe(0);
    expect(restore.result).toMatchObject({ key, restoredTo: scratch, mode: 'scratch' });
    expect(treeOf(scratch)).toEqual(tree);
    expect(treeOf(live)).toEqual(liveTree);
    rmSync(join(live, 'written-after.txt'));
  });

  it('refuses a scratch path inside the live directory', () => {
    const restore = runInstanceScript('restore.sh', restoreEnv({ RS_MODE: 'scratch', RS_SCRATCH_PATH: join(live, 'restored') }));
    expect(restore.status).toBe(2);
    expect(restore.stderr).toMatch(/is not inside the scratch root/);
  });

  it('refuses a corrupted archive before creating anything', async () => {
    // GIVEN a backup whose stored bytes differ from what its manifest describes (a flipped byte)
    const { key: good } = await aVerifiedBackup();
    const key = await corruptCopyOf(s3, BUCKET, good, (body) => {
      body.writeUInt8(body.readUInt8(100) ^ 0xff, 100);
      return body;
    });
    const before = { tree: treeOf(live), siblings: siblingsOf(live) };
    // WHEN restored in replace mode (the most dangerous)
    const restore = runInstanceScript('restore.sh', restoreEnv({ RS_MODE: 'replace', RS_CONFIRM: TARGET, RS_SAFETY_TIER: 'predeploy', RS_KEY: key }));
    // THEN refused with exit 7 before the safety backup or any temporary copy
    expect(restore.status).toBe(7);
    expect(restore.stderr).toMatch(/REFUSED/);
    expect(restore.stderr).not.toMatch(/safety backup/);
    expect(treeOf(live)).toEqual(before.tree);
    expect(siblingsOf(live)).toEqual(before.siblings);
  });

  it('refuses an archive whose content is not what the backup script read, though object and manifest agree, before creating anything', async () => {
    // GIVEN a backup whose tar had one byte of a file changed before its manifest was written (sizes and counts as they were)
    const { key: good } = await aVerifiedBackup();
    const key = await changedContentCopyOf(s3, BUCKET, good, (dump) => replaceOnce(dump, 'unicode name\n', 'UNICODE name\n'));
    await markVerified(s3, BUCKET, key, true);
    const before = { tree: treeOf(live), siblings: siblingsOf(live) };
    // WHEN restored in replace mode
    const restore = runInstanceScript('restore.sh', restoreEnv({ RS_MODE: 'replace', RS_CONFIRM: TARGET, RS_SAFETY_TIER: 'predeploy', RS_KEY: key }));
    // THEN refused with exit 7 naming the content digest, before the safety backup; live untouched
    expect(restore.status).toBe(7);
    expect(restore.stderr).toMatch(/REFUSED: the backup decompresses to a dump other than the one the backup script read \(sha256 [0-9a-f]{64}, the manifest's content digest [0-9a-f]{64}\)/);
    expect(restore.stderr).not.toMatch(/safety backup/);
    expect(treeOf(live)).toEqual(before.tree);
    expect(siblingsOf(live)).toEqual(before.siblings);
  });

  it('fails a restore whose files differ from the per-file index, before placing them, and a replace keeps the live tree', async () => {
    // GIVEN a backup whose archive matches its content digest but whose per-file index lists other content
    const { key: good } = await verifiedBackup();
    const key = await corruptCopyOf(s3, BUCKET, good, (body) => body, (manifest) => ({ ...manifest, files: { ...manifest.files!, index: { count: manifest.files!.index!.count, sha256: 'e'.repeat(64) } } }));
    await markVerified(s3, BUCKET, key, true);
    const before = { tree: treeOf(live), siblings: siblingsOf(live) };
    // WHEN restored in replace mode
    const restore = runInstanceScript('restore.sh', restoreEnv({ RS_MODE: 'replace', RS_CONFIRM: TARGET, RS_SAFETY_TIER: 'predeploy', RS_KEY: key }));
    // THEN exit 11 naming the index, nothing put in place, live untouched
    expect(restore.status).toBe(11);
    expect(restore.stderr).toMatch(/fileIndex: the restored files differ from the per-file index taken at backup \(restored: \d+ [0-9a-f]{64}; index: \d+ e{64}\)/);
    expect(treeOf(live)).toEqual(before.tree);
    expect(restore.result).toBeUndefined();
    expect(siblingsOf(live)).toEqual(before.siblings);
  });

  it('never reports a restore of a valid gzip of nothing whose manifest counted files, and a replace keeps the live tree', async () => {
    // GIVEN a verified backup whose object is a gzip of nothing (the manifest over it says 3 files)
    const stored = await storeBackup(s3, { bucket: BUCKET, tier: 'daily', target: TARGET, kind: 'files', body: gzipSync(Buffer.alloc(0)), at: new Date('2026-11-12T02:00:00Z'), verified: true, files: { fileCount: 3, totalBytes: 300 } });
    const before = { tree: treeOf(live), siblings: siblingsOf(live) };
    // WHEN restored in replace mode
    const restore = runInstanceScript('restore.sh', restoreEnv({ RS_MODE: 'replace', RS_CONFIRM: TARGET, RS_SAFETY_TIER: 'predeploy', RS_KEY: stored.key }));
    // THEN exit 4 naming both counts; the live tree and its directory are as they were
    expect(restore.status).toBe(11);
    expect(restore.stderr).toMatch(/does not match the backup's manifest \(fileCount: restored 0 files \/ 0 bytes, the manifest says 3 \/ 300\); nothing was put in place, the live data is untouched/);
    expect(restore.result).toBeUndefined();
    expect(treeOf(live)).toEqual(before.tree);
    expect(siblingsOf(live)).toEqual(before.siblings);
  });

  it('replace: takes a safety backup, swaps the restored tree in, keeps the old one aside', async () => {
    // GIVEN a verified backup, then live changed (a file deleted, one added, one rewritten)
    const { key, tree } = await aVerifiedBackup();
    rmSync(join(live, '.hidden'));
    writeFileSync(join(live, 'added.txt'), 'added after the backup\n');
    writeFileSync(join(live, 'empty.txt'), 'no longer empty\n');
    const changed = treeOf(live);
    // WHEN replaced with confirmation
    const restore = runInstanceScript('restore.sh', restoreEnv({ RS_MODE: 'replace', RS_CONFIRM: TARGET, RS_SAFETY_TIER: 'predeploy', RS_KEY: key }));
    // THEN live equals the backup, and the changed tree is kept as <path>.pre-restore-<stamp>
    expect(restore.status, restore.stderr).toBe(0);
    expect(treeOf(live)).toEqual(tree);
    const aside = String(restore.result?.previousDataKeptAs);
    expect(aside).toMatch(new RegExp(`^${live}\\.pre-restore-\\d{14}$`));
    expect(treeOf(aside)).toEqual(changed);
    // AND the safety backup of the changed tree is in the bucket, complete, under the safety tier
    const safetyKey = String(restore.result?.safetyBackupKey);
    expect(safetyKey).toMatch(new RegExp(`^predeploy/${TARGET}/`));
    const manifest = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: `${safetyKey}.manifest.json` }));
    expect(JSON.parse(await manifest.Body!.transformToString())).toMatchObject({ tier: 'predeploy', files: { fileCount: [...changed.values()].filter((v) => !v.startsWith('dir') && !v.startsWith('->')).length } });
    rmSync(aside, { recursive: true });
  });

  it('replace where the tree does not exist (a rebuilt server): no safety backup, the tree restored in its place', async () => {
    // GIVEN a verified backup, and the live tree gone (moved out of the way; its directory remains)
    const { key, tree } = await aVerifiedBackup();
    const elsewhere = `${live}.elsewhere`;
    renameSync(live, elsewhere);
    try {
      // WHEN replaced with confirmation
      const restore = runInstanceScript('restore.sh', restoreEnv({ RS_MODE: 'replace', RS_CONFIRM: TARGET, RS_SAFETY_TIER: 'predeploy', RS_KEY: key }));
      // THEN the tree is back at its path, and nothing was kept aside or backed up first
      expect(restore.status, restore.stderr).toBe(0);
      expect(restore.stderr).toContain(`replace: ${live} does not exist here, so there is nothing to keep: no safety backup`);
      expect(treeOf(live)).toEqual(tree);
      expect(restore.result).toMatchObject({ restoredTo: live, previousDataKeptAs: null, safetyBackupKey: null });
      expect(siblingsOf(live).filter((name) => name.includes('.pre-restore-') || name.startsWith('.backup-kit-stage'))).toEqual([]);
    } finally {
      rmSync(live, { recursive: true, force: true });
      renameSync(elsewhere, live);
    }
  });

  it('drills: file count, bytes, directories and symlinks, and sampled checksums against the archive, then removes the copy', async () => {
    // GIVEN a verified backup
    const { key } = await aVerifiedBackup();
    const before = siblingsOf(live);
    // WHEN drilled
    const restore = runInstanceScript('restore.sh', restoreEnv({ RS_MODE: 'scratch', RS_KEY: key, RS_DRILL: '1' }));
    // THEN every check passed (the newline name included) and no copy is left
    expect(restore.status, restore.stderr).toBe(0);
    expect(restore.drill?.checks.map((check) => [check.name, check.status])).toEqual([
      ['restore', 'passed'],
      ['fileCount', 'passed'],
      ['entries', 'passed'],
      ['fileIndex', 'passed'],
      ['checksums', 'passed'],
      ['cleanup', 'passed'],
    ]);
    expect(restore.drill?.checks.find((check) => check.name === 'checksums')?.detail).toMatch(/^6 sampled files match/);
    expect(siblingsOf(live)).toEqual(before);
  });

  it('a replace killed mid-extraction leaves the live tree intact', async () => {
    // GIVEN a backup big enough that extraction takes a while (far longer than the 5 ms between looks)
    writeFileSync(join(live, 'big.bin'), randomBytes(8 * 1024 * 1024));
    const { key } = await verifiedBackup();
    rmSync(join(live, 'big.bin'));
    writeFileSync(join(live, 'after.txt'), 'changed after the backup\n');
    const before = treeOf(live);
    const parent = dirname(live);
    // WHEN the restore is SIGKILLed as soon as its staging directory appears
    const killed = await killRestoreWhen(
      restoreEnv({ RS_MODE: 'replace', RS_CONFIRM: TARGET, RS_SAFETY_TIER: 'predeploy', RS_KEY: key }),
      () => readdirSync(parent).some((name) => name.startsWith('.backup-kit-stage.')),
      { pollMs: 5 },
    );
    // THEN it was killed before the swap, and live is exactly as it was
    expect(killed.killed).toBe(true);
    expect(killed.result).toBeUndefined();
    expect(treeOf(live)).toEqual(before);
    expect(existsSync(join(live, 'after.txt'))).toBe(true);
  });
});
