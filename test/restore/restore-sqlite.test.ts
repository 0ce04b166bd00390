import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, linkSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backupKey, parseBackupKey } from '../../contracts/manifest';
import { putBackup } from '../support/backups';
import { MotoServer } from '../support/moto';
import { closeStdinAndWait, pathWithout, removeDir, run, scratchDir, waitFor } from '../support/processes';
import { backupScriptEnv, backupWithScript, changedContentCopyOf, corruptCopyOf, markVerified, runInstanceScript, storeBackup } from '../support/restore-fixtures';

/** restore.sh for a SQLite file, with backups taken by the real backup.sh into moto. */

let moto: MotoServer;
let s3: S3Client;
let keyArn: string;
let work: string;
let live: string;
const BUCKET = 'restore-sqlite-backups';
const TARGET = 'app-sqlite';

beforeAll(async () => {
  moto = await MotoServer.start();
  s3 = moto.s3();
  ({ keyArn } = await moto.createBackupBucket(BUCKET));
  work = scratchDir('restore-sqlite');
  mkdirSync(join(work, 'var', 'app'), { recursive: true });
  live = join(work, 'var', 'app', 'db.sqlite3');
  sqlite(
    live,
    `PRAGMA journal_mode = WAL;
     CREATE TABLE repairs (id INTEGER PRIMARY KEY, customer TEXT NOT NULL, status TEXT, cost REAL);
     CREATE TABLE photos (id INTEGER PRIMARY KEY, repair_id INTEGER REFERENCES repairs(id), path TEXT);
     CREATE INDEX photos_by_repair ON photos(repair_id);
     WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 800)
       INSERT INTO repairs (customer, status, cost) SELECT 'customer ' || i, CASE i % 3 WHEN 0 THEN 'done' ELSE 'open' END, i * 12.5 FROM n;
     INSERT INTO photos (repair_id, path) SELECT id, 'media/before/' || id || '.jpg' FROM repairs;`,
  );
});

afterAll(async () => {
  await moto?.stop();
  removeDir(work);
});

function sqlite(file: string, sql: string): string {
  return run('sqlite3', [file, sql]);
}

/** The whole database as SQL text: equal dumps mean equal databases. */
function dumpOf(file: string): string {
  return run('sqlite3', ['-readonly', file, '.dump']);
}

function siblings(): string[] {
  return readdirSync(dirname(live)).filter((name) => name !== basename(live)).sort();
}

function restoreEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  return backupScriptEnv(moto, keyArn, { BK_TARGET: TARGET, BK_KIND: 'sqlite', BK_BUCKET: BUCKET, BK_PATH: live, RS_WORK_DIR: work, RS_TIERS: 'daily', RS_SCRATCH_ROOT: join(work, 'restores'), ...extra });
}

async function verifiedBackup(): Promise<{ key: string; dump: string }> {
  const dump = dumpOf(live);
  const { key } = backupWithScript(restoreEnv({}));
  await markVerified(s3, BUCKET, key, true);
  return { key, dump };
}

/** One verified backup made by the script, shared by the tests that need a good one but not the newest. */
let shared: Promise<{ key: string; dump: string }> | undefined;
const aVerifiedBackup = () => (shared ??= verifiedBackup());


describe('restore.sh with SQLite', () => {
  it('restores into a side file equal to the source at backup time, live untouched', async () => {
    // GIVEN a verified backup and rows written after it
    const { key, dump } = await verifiedBackup();
    sqlite(live, "UPDATE repairs SET status = 'lost' WHERE id < 50");
    const liveDump = dumpOf(live);
    const scratch = join(work, 'restores', 'scratch.sqlite3');
    // WHEN restored in scratch mode
    const restore = runInstanceScript('restore.sh', restoreEnv({ RS_MODE: 'scratch', RS_SCRATCH_PATH: scratch }));
    // THEN the copy equals the backup's source and live is unchanged
    expect(restore.status, restore.stderr).toBe(0);
    expect(restore.result).toMatchObject({ key, restoredTo: scratch });
    expect(dumpOf(scratch)).toBe(dump);
    expect(dumpOf(live)).toBe(liveDump);
  });

  it('refuses a backup whose manifest hash does not match, creating nothing', async () => {
    // GIVEN a backup whose stored object is other (valid gzip) bytes than its manifest describes
    const { key: good } = await aVerifiedBackup();
    const key = await corruptCopyOf(s3, BUCKET, good, (body) => Buffer.concat([body, body]));
    const before = { dump: dumpOf(live), siblings: siblings() };
    // WHEN restored THEN exit 7, no file created, live unchanged
    const restore = runInstanceScript('restore.sh', restoreEnv({ RS_MODE: 'scratch', RS_KEY: key }));
    expect(restore.status).toBe(7);
    expect(siblings()).toEqual(before.siblings);
    expect(dumpOf(live)).toBe(before.dump);
  });

  it('refuses a database whose content is not what the backup script read, though object and manifest agree', async () => {
    // GIVEN a backup one byte of whose database file changed before its manifest was written
    const { key: good } = await aVerifiedBackup();
    const key = await changedContentCopyOf(s3, BUCKET, good, (dump) => {
      dump.writeUInt8(dump.readUInt8(dump.length >> 1) ^ 0x01, dump.length >> 1);
      return dump;
    });
    const before = { dump: dumpOf(live), siblings: siblings() };
    // WHEN restored THEN exit 7 naming the content digest, no file created, live unchanged
    const restore = runInstanceScript('restore.sh', restoreEnv({ RS_MODE: 'scratch', RS_KEY: key }));
    expect(restore.status).toBe(7);
    expect(restore.stderr).toMatch(/decompresses to a dump other than the one the backup script read/);
    expect(siblings()).toEqual(before.siblings);
    expect(dumpOf(live)).toBe(before.dump);
  });

  it('refuses a manifest that is two JSON documents, each describing the backup, creating nothing', async () => {
    // GIVEN the good backup's object under a new key, its manifest written twice into one object
    const { key: good } = await aVerifiedBackup();
    const key = backupKey('daily', TARGET, 'sqlite', new Date(parseBackupKey(good)!.at.getTime() - 3 * 3_600_000));
    const body = Buffer.from(await (await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: good }))).Body!.transformToByteArray());
    const manifest = { ...(JSON.parse(await (await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: `${good}.manifest.json` }))).Body!.transformToString()) as object), key };
    await putBackup(s3, BUCKET, key, body, null);
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: `${key}.manifest.json`, Body: `${JSON.stringify(manifest)}\n${JSON.stringify(manifest)}` }));
    const before = { dump: dumpOf(live), siblings: siblings() };
    // WHEN restored THEN exit 7: the manifest is not one document that describes the backup
    const restore = runInstanceScript('restore.sh', restoreEnv({ RS_MODE: 'scratch', RS_KEY: key }));
    expect(restore.status).toBe(7);
    expect(restore.stderr).toMatch(/the manifest of .* does not describe this sqlite backup of app-sqlite/);
    expect(siblings()).toEqual(before.siblings);
    expect(dumpOf(live)).toBe(before.dump);
  });

  it.each([
    ['an empty file', Buffer.alloc(0)],
    ['a file that is not a database', Buffer.from('not a database\n')],
  ])('never reports a restore of %s (a valid gzip whose manifest matches it)', async (_what, content) => {
    // GIVEN a verified backup whose object and manifest agree, but hold no SQLite database
    const stored = await storeBackup(s3, { bucket: BUCKET, tier: 'daily', target: TARGET, kind: 'sqlite', body: gzipSync(content), at: new Date('2026-11-14T02:00:00Z'), verified: true, database: { tableCount: 1, rowCounts: { repairs: 800 } } });
    const before = { dump: dumpOf(live), siblings: siblings() };
    // WHEN restored THEN exit 4 naming what it found, no file created, live unchanged
    const restore = runInstanceScript('restore.sh', restoreEnv({ RS_MODE: 'scratch', RS_KEY: stored.key, RS_SCRATCH_PATH: join(work, 'restores', 'empty.sqlite3') }));
    expect(restore.status).toBe(11);
    expect(restore.stderr).toMatch(/decompresses to \d+ bytes that are not a SQLite database/);
    expect(restore.result).toBeUndefined();
    expect(existsSync(join(work, 'restores', 'empty.sqlite3'))).toBe(false);
    expect(siblings()).toEqual(before.siblings);
    expect(dumpOf(live)).toBe(before.dump);
  });

  it('fails a restore whose rows differ from the manifest, before placing the copy', async () => {
    // GIVEN an intact database file whose manifest counted more rows than it holds, and a table it
    // does not have (all tables are counted in one query, which that table fails: then one by one)
    const file = join(work, 'fewer.sqlite3');
    sqlite(file, `CREATE TABLE repairs (id INTEGER PRIMARY KEY, customer TEXT); INSERT INTO repairs (customer) VALUES ('a'), ('b');
      CREATE TABLE "odd ""name""" (id INTEGER); INSERT INTO "odd ""name""" VALUES (1)`);
    const rowCounts = { repairs: 3, 'odd "name"': 1, photos: 5 };
    const stored = await storeBackup(s3, { bucket: BUCKET, tier: 'daily', target: TARGET, kind: 'sqlite', body: gzipSync(readFileSync(file)), at: new Date('2026-11-13T02:00:00Z'), verified: true, database: { tableCount: 2, rowCounts } });
    const scratch = join(work, 'restores', 'fewer-copy.sqlite3');
    const restore = runInstanceScript('restore.sh', restoreEnv({ RS_MODE: 'scratch', RS_KEY: stored.key, RS_SCRATCH_PATH: scratch }));
    expect(restore.status).toBe(11);
    expect(restore.stderr).toMatch(/does not match the backup's manifest \(rowCounts: repairs: manifest 3, restored 2; photos: manifest 5, restored missing\)/);
    expect(existsSync(scratch)).toBe(false);
  });

  it('a backup written over after it was verified still restores the verified version', async () => {
    // GIVEN a verified backup, then a forged backup and manifest written over both keys (consistent with each other)
    const { key, dump } = await verifiedBackup();
    const forgedDb = join(work, 'forged.sqlite3');
    sqlite(forgedDb, "CREATE TABLE repairs (id INTEGER PRIMARY KEY, customer TEXT); INSERT INTO repairs (customer) VALUES ('attacker')");
    const forged = gzipSync(readFileSync(forgedDb));
    const manifest = JSON.parse(await (await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: `${key}.manifest.json` }))).Body!.transformToString()) as Record<string, unknown>;
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: forged }));
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: `${key}.manifest.json`, Body: JSON.stringify({ ...manifest, bytes: forged.length, sha256: createHash('sha256').update(forged).digest('hex') }) }));
    // WHEN the newest verified backup is restored, by hand, with no key or version given
    const scratch = join(work, 'restores', 'after-forgery.sqlite3');
    const restore = runInstanceScript('restore.sh', restoreEnv({ RS_MODE: 'scratch', RS_SCRATCH_PATH: scratch }));
    // THEN the verified versions were read, and the copy is the real data
    expect(restore.status, restore.stderr).toBe(0);
    expect(restore.stderr).toMatch(/manifest version .* \(verdict; mode scratch\)/);
    expect(restore.result).toMatchObject({ key });
    expect(dumpOf(scratch)).toBe(dump);
  });

  it('replace: safety backup first, then the restored file swapped in, the old one kept with its WAL', async () => {
    // GIVEN a verified backup, then changes to live
    const { key, dump } = await verifiedBackup();
    sqlite(live, "DELETE FROM photos WHERE id > 700; INSERT INTO repairs (customer) VALUES ('after backup')");
    const changed = dumpOf(live);
    // WHEN replaced with confirmation
    const restore = runInstanceScript('restore.sh', restoreEnv({ RS_MODE: 'replace', RS_CONFIRM: TARGET, RS_SAFETY_TIER: 'predeploy', RS_KEY: key }));
    // THEN live equals the backup, the changed database is kept aside, and a safety backup exists
    expect(restore.status, restore.stderr).toBe(0);
    const aside = String(restore.result?.previousDataKeptAs);
    expect(existsSync(`${live}-wal`)).toBe(false);
    expect(dumpOf(live)).toBe(dump);
    expect(aside).toMatch(/db\.sqlite3\.pre-restore-\d{14}$/);
    expect(dumpOf(aside)).toBe(changed);
    const safetyKey = String(restore.result?.safetyBackupKey);
    expect(safetyKey).toMatch(new RegExp(`^predeploy/${TARGET}/.*\\.sqlite\\.gz$`));
    const manifest = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: `${safetyKey}.manifest.json` }));
    expect(JSON.parse(await manifest.Body!.transformToString())).toMatchObject({ tier: 'predeploy', database: { rowCounts: { repairs: 801 } } });
  });

  it('replace where the database file does not exist (a rebuilt server): no safety backup, the file restored in its place', async () => {
    // GIVEN a verified backup, and the live file gone (moved out of the way; its directory remains)
    const { key, dump } = await aVerifiedBackup();
    const elsewhere = `${live}.elsewhere`;
    renameSync(live, elsewhere);
    try {
      // WHEN replaced with confirmation
      const restore = runInstanceScript('restore.sh', restoreEnv({ RS_MODE: 'replace', RS_CONFIRM: TARGET, RS_SAFETY_TIER: 'predeploy', RS_KEY: key }));
      // THEN the file is back with the backup's data, and nothing was kept aside or backed up first
      expect(restore.status, restore.stderr).toBe(0);
      expect(restore.stderr).toContain(`replace: ${live} does not exist here, so there is nothing to keep: no safety backup`);
      expect(dumpOf(live)).toBe(dump);
      expect(restore.result).toMatchObject({ restoredTo: live, previousDataKeptAs: null, safetyBackupKey: null });
    } finally {
      rmSync(live, { force: true });
      renameSync(elsewhere, live);
    }
  });

  it.each([
    ['its own path', () => live],
    ['a hard link of it', () => {
      const link = join(work, 'db-hard-link.sqlite3');
      if (!existsSync(link)) linkSync(live, link);
      return link;
    }],
  ])('refuses to replace a database file a process holds open through %s', async (_how, pathToOpen) => {
    // GIVEN a process with the live file open
    const { key } = await aVerifiedBackup();
    const holder = spawn('sqlite3', [pathToOpen()], { stdio: ['pipe', 'ignore', 'ignore'] });
    holder.stdin.write('SELECT count(*) FROM repairs;\n');
    await waitFor('sqlite3 to open the file', () => readdirSync(`/proc/${holder.pid}/fd`).length > 3);
    const before = dumpOf(live);
    try {
      // WHEN replaced
      const restore = runInstanceScript('restore.sh', restoreEnv({ RS_MODE: 'replace', RS_CONFIRM: TARGET, RS_SAFETY_TIER: 'predeploy', RS_KEY: key }));
      // THEN refused with exit 2 naming the process (and only it), live unchanged
      expect(restore.status).toBe(2);
      expect(restore.stderr).toMatch(new RegExp(`open by process\\(es\\) ${holder.pid}: stop`));
      expect(dumpOf(live)).toBe(before);
    } finally {
      await closeStdinAndWait(holder);
    }
  });

  it('drills with python3 reading the manifest where jq is missing', async () => {
    // GIVEN a verified backup and no jq on the PATH
    const { key } = await aVerifiedBackup();
    const before = siblings();
    // WHEN drilled
    const restore = runInstanceScript('restore.sh', restoreEnv({ RS_MODE: 'scratch', RS_KEY: key, RS_DRILL: '1', PATH: pathWithout(['jq'], work) }));
    // THEN integrity and row counts pass, and the copy is gone
    expect(restore.status, restore.stderr).toBe(0);
    expect(restore.drill?.checks.map((check) => [check.name, check.status])).toEqual([
      ['restore', 'passed'],
      ['integrity', 'passed'],
      ['tables', 'passed'],
      ['rowCounts', 'passed'],
      ['cleanup', 'passed'],
    ]);
    expect(siblings()).toEqual(before);
  });
});
