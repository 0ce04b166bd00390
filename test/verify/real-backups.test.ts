import { CopyObjectCommand, CreateBucketCommand, GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { SNSClient } from '@aws-sdk/client-sns';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Verdict } from '../../contracts/verdict';
import { verifyBackup, type VerifyDeps } from '../../lambda/verify/verify-backup';
import { backupEnv, putSecureStringParameter, runBackupScript } from '../support/backup-script';
import { MariaDbServer } from '../support/mariadb';
import { MOTO_REGION, MotoServer } from '../support/moto';
import { PostgresServer } from '../support/postgres';
import { removeDir, run, scratchDir } from '../support/processes';
import { TEST_SETTINGS, capturingMetrics, quietLogger } from './helpers';
import { replaceOnce } from '../support/backups';

/**
 * The real instance script (scripts/instance/backup.sh) backs up PostgreSQL, MariaDB, SQLite and
 * a directory to moto; the verifier must pass every one of them, read the figures the dumps
 * hold, and still catch damage done to them afterwards.
 */
let moto: MotoServer;
let pg: PostgresServer;
let my: MariaDbServer;
let s3: S3Client;
let bucket: string;
let keyArn: string;
let work: string;
const replicaBucket = 'real-replica';

function deps(): VerifyDeps {
  return {
    s3,
    replicaS3: moto.replicaS3(),
    sns: new SNSClient({ endpoint: moto.endpoint, region: MOTO_REGION, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } }),
    metrics: capturingMetrics().metrics,
    logger: quietLogger(),
    bucket,
    replicaBucket,
    backupKeyArn: keyArn,
    alertTopicArn: `arn:aws:sns:${MOTO_REGION}:123456789012:not-subscribed`,
    region: MOTO_REGION,
    settings: TEST_SETTINGS,
    now: () => new Date(Date.now() + 3_600_000),
  };
}

/** Runs backup.sh, copies the object to the replica bucket (what S3 replication does), returns the key. */
async function backUp(inputs: Record<string, string>): Promise<string> {
  const result = await runBackupScript(backupEnv(moto, { BK_BUCKET: bucket, BK_KMS_KEY_ID: keyArn, ...inputs }));
  expect(result.status, result.stderr).toBe(0);
  const key = result.result?.key ?? '';
  await s3.send(new CopyObjectCommand({ Bucket: replicaBucket, Key: key, CopySource: `${bucket}/${key}` }));
  return key;
}

const failed = (verdict: Verdict) => verdict.checks.filter((check) => check.status === 'failed').map((check) => check.name);
const statusOf = (verdict: Verdict, name: string) => verdict.checks.find((check) => check.name === name)?.status;

beforeAll(async () => {
  [moto, pg, my] = await Promise.all([MotoServer.start(), PostgresServer.start(), MariaDbServer.start()]);
  s3 = moto.s3();
  ({ bucket, keyArn } = await moto.createBackupBucket('real-backups'));
  await s3.send(new CreateBucketCommand({ Bucket: replicaBucket, CreateBucketConfiguration: { LocationConstraint: MOTO_REGION } }));
  work = scratchDir('real-backups');
  pg.createDatabase('shop');
  pg.psql('shop', `CREATE TABLE customers(id int PRIMARY KEY, name text); INSERT INTO customers SELECT g, 'c' || g FROM generate_series(1, 2000) g;
    CREATE TABLE orders(id int PRIMARY KEY, customer int REFERENCES customers, total numeric); INSERT INTO orders SELECT g, 1 + g % 2000, g FROM generate_series(1, 4000) g;
    CREATE TABLE empty_table(x int);`);
  await putSecureStringParameter(moto, '/verify/pg', pg.password);
  my.rootSql(`CREATE DATABASE shop; CREATE TABLE shop.products(id int PRIMARY KEY, name text); INSERT INTO shop.products VALUES (1, 'tea'), (2, 'coffee'); CREATE TABLE shop.stock(product int, qty int);`);
  await putSecureStringParameter(moto, '/verify/mysql', my.password);
});

afterAll(async () => {
  await Promise.all([moto?.stop(), pg?.stop(), my?.stop()]);
  if (work) removeDir(work);
});

describe('backups made by scripts/instance/backup.sh', () => {
  it('GIVEN a PostgreSQL backup by the script WHEN verified THEN it passes and the archive matches its manifest', async () => {
    const key = await backUp({ BK_TARGET: 'shop-pg', BK_KIND: 'postgres', BK_DB_HOST: '127.0.0.1', BK_DB_PORT: String(pg.port), BK_DB_NAME: 'shop', BK_DB_USER: pg.user, BK_PASSWORD_SSM_PARAMETER: '/verify/pg' });
    const verdict = await verifyBackup(deps(), key);
    expect(failed(verdict)).toEqual([]);
    expect(verdict.passed).toBe(true);
    expect(statusOf(verdict, 'content')).toBe('passed');
    expect(verdict.figures).toMatchObject({ 'pg_custom.compression': 'none', 'pg_custom.database': 'shop', 'pg_custom.tableDataEntries': 3 });
  });

  it('GIVEN a MariaDB backup by the script WHEN verified THEN it passes with its completion trailer', async () => {
    const key = await backUp({ BK_TARGET: 'shop-mysql', BK_KIND: 'mysql', BK_DB_HOST: '127.0.0.1', BK_DB_PORT: String(my.port), BK_DB_NAME: 'shop', BK_DB_USER: my.user, BK_PASSWORD_SSM_PARAMETER: '/verify/mysql' });
    const verdict = await verifyBackup(deps(), key);
    expect(failed(verdict)).toEqual([]);
    expect(statusOf(verdict, 'content')).toBe('passed');
    expect(verdict.figures['mysql_sql.completedAt']).toMatch(/^\d{4}-\d{2}-\d{2}/);
    expect(verdict.figures['mysql_sql.createTableStatements']).toBe(2);
  });

  it('GIVEN a SQLite backup by the script WHEN verified THEN integrity_check is ok and the table count matches', async () => {
    const path = join(work, 'app.db');
    run('sqlite3', [path, "CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT); INSERT INTO notes(body) VALUES ('a'), ('b'); CREATE TABLE tags(name TEXT);"]);
    const key = await backUp({ BK_TARGET: 'app-sqlite', BK_KIND: 'sqlite', BK_PATH: path });
    const verdict = await verifyBackup(deps(), key);
    expect(failed(verdict)).toEqual([]);
    expect(statusOf(verdict, 'content')).toBe('passed');
    expect(verdict.figures).toMatchObject({ 'sqlite.integrityCheck': 'ok', 'sqlite.tables': 2 });
  });

  it('GIVEN a files backup by the script WHEN verified THEN the archive reads to its end and its file count matches the manifest', async () => {
    const tree = join(work, 'media');
    mkdirSync(join(tree, 'nested', 'x'.repeat(120)), { recursive: true });
    writeFileSync(join(tree, 'a.txt'), 'alpha');
    writeFileSync(join(tree, 'nested', 'b.bin'), Buffer.alloc(70_000, 7));
    writeFileSync(join(tree, 'nested', 'x'.repeat(120), 'deep.txt'), 'deep');
    const key = await backUp({ BK_TARGET: 'media', BK_KIND: 'files', BK_PATH: tree });
    const verdict = await verifyBackup(deps(), key);
    expect(failed(verdict)).toEqual([]);
    expect(statusOf(verdict, 'content')).toBe('passed');
    expect(verdict.figures).toMatchObject({ 'tar.regularFiles': 3, 'tar.fileBytes': 70_009, 'tar.endMarker': true });
  });

  /** The key of a backup taken in another second of the same minute: a copy never takes the original's key. */
  function anotherSecond(key: string): string {
    return key.replace(/(\d{8}T\d{4})(\d{2})Z/, (_stamp, minute: string, second: string) => `${minute}${second === '59' ? '58' : '59'}Z`);
  }

  it('GIVEN a store that drops the lock the upload asked for WHEN the script backs up and the verifier reads the version THEN the lock check fails naming both dates', async () => {
    // The front's fault: this bucket locks with its default (GOVERNANCE, 1 day), not the 30 days asked.
    const dropping = await moto.createBackupBucket('front-drops-lock-verify');
    mkdirSync(join(work, 'dropped'));
    writeFileSync(join(work, 'dropped', 'a.jpg'), Buffer.alloc(10_000, 7));
    const stored = await runBackupScript(backupEnv(moto, { BK_TARGET: 'media', BK_KIND: 'files', BK_BUCKET: dropping.bucket, BK_KMS_KEY_ID: dropping.keyArn, BK_PATH: join(work, 'dropped') }));
    // The upload's response cannot show the lock: the script stores the backup and its manifest.
    expect(stored.status, stored.stderr).toBe(0);
    expect(stored.stderr).toMatch(/stored as version \S+, asked to be locked GOVERNANCE until \S+/);
    const verdict = await verifyBackup({ ...deps(), bucket: dropping.bucket, backupKeyArn: dropping.keyArn }, stored.result?.key ?? '');
    expect(failed(verdict)).toContain('lock');
    expect(verdict.checks.find((check) => check.name === 'lock')?.detail).toMatch(
      new RegExp(`^the version is locked GOVERNANCE until \\S+, earlier than the ${String(stored.result?.retainUntil).replace('Z', '.000Z')} its manifest states`),
    );
    expect(statusOf(verdict, 'integrity')).toBe('passed');
  });

  it("GIVEN an instance that asks for a one-day lock on a 30-day tier (a compromised one, whose manifest says the same) WHEN verified THEN the lock check fails on S3's clock", async () => {
    mkdirSync(join(work, 'short-lock'));
    writeFileSync(join(work, 'short-lock', 'a.txt'), 'short');
    // The bucket policy bounds a lock from above only: nothing refuses the short one at upload.
    const key = await backUp({ BK_TARGET: 'short-lock', BK_KIND: 'files', BK_PATH: join(work, 'short-lock'), BK_RETENTION_DAYS: '1' });
    const verdict = await verifyBackup(deps(), key);
    expect(failed(verdict)).toEqual(['lock']);
    expect(verdict.checks.find((check) => check.name === 'lock')?.detail).toMatch(/short of its tier's 30 days from when S3 stored it .*: its writer asked for a shorter lock/);
  });

  it('moves a key to another second of its minute, whichever second it was taken in', () => {
    expect(anotherSecond('daily/a/2026/12/03/a_20261203T024859Z.sql.gz')).toBe('daily/a/2026/12/03/a_20261203T024858Z.sql.gz');
    expect(anotherSecond('daily/a/2026/12/03/a_20261203T024807Z.sql.gz')).toBe('daily/a/2026/12/03/a_20261203T024859Z.sql.gz');
  });

  /**
   * A copy of a script-made backup, its dump `change`d after the script read it: stored under a new
   * key with a manifest whose bytes and SHA-256 describe the changed object (damaged before the
   * manifest was written), everything else as the script wrote it.
   */
  async function damagedBeforeManifest(key: string, change: (dump: Buffer) => Buffer): Promise<string> {
    const manifest = JSON.parse(await (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: `${key}.manifest.json` }))).Body!.transformToString());
    const original = Buffer.from(await (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body!.transformToByteArray());
    const dump = gunzipSync(original);
    expect(manifest.content).toEqual({ bytes: dump.length, sha256: createHash('sha256').update(dump).digest('hex') });
    const body = gzipSync(change(dump));
    const damagedKey = anotherSecond(key);
    expect(damagedKey).not.toBe(key);
    // Locked as the script locks what it writes: the damage, not the lock, is what is tested.
    const lock = { ObjectLockMode: 'GOVERNANCE' as const, ObjectLockRetainUntilDate: new Date(manifest.retainUntil) };
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: damagedKey, Body: body, ...lock }));
    await s3.send(new CopyObjectCommand({ Bucket: replicaBucket, Key: damagedKey, CopySource: `${bucket}/${damagedKey}` }));
    const damagedManifest = { ...manifest, key: damagedKey, bytes: body.length, sha256: createHash('sha256').update(body).digest('hex') };
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: `${damagedKey}.manifest.json`, Body: JSON.stringify(damagedManifest), ...lock }));
    return damagedKey;
  }

  it('GIVEN a script-made files backup whose one file is changed before the manifest (object and its SHA-256 agree) WHEN verified THEN the content digest and the per-file index the script took catch it', async () => {
    const tree = join(work, 'photos');
    mkdirSync(tree, { recursive: true });
    writeFileSync(join(tree, 'p1.jpg'), Buffer.alloc(40_000, 0x11));
    writeFileSync(join(tree, 'p2.jpg'), Buffer.alloc(40_000, 0x22));
    const key = await backUp({ BK_TARGET: 'photos', BK_KIND: 'files', BK_PATH: tree });
    // One byte of p2.jpg's data, the same size: tar and the counts are as they were.
    const damagedKey = await damagedBeforeManifest(key, (dump) => {
      dump[dump.indexOf(Buffer.alloc(64, 0x22))] = 0x23;
      return dump;
    });
    const verdict = await verifyBackup(deps(), damagedKey);
    // (the size check compares it with the intact backup just before it, compressed another way)
    expect(failed(verdict).filter((name) => name !== 'size')).toEqual(['format', 'content']);
    expect(statusOf(verdict, 'integrity')).toBe('passed');
    // the per-file index the script took from the tar stream names the kind of damage: a file's content
    expect(verdict.checks.find((check) => check.name === 'format')?.detail).toMatch(/^tar: the files are not those the backup read: the per-file index taken at backup lists 2 files/);
  });

  it.each([
    ['postgres', '\tc1717\n', '\tc1771\n'],
    ['mysql', "(2,'coffee')", "(2,'toffee')"],
    ['sqlite', 'marker-of-row-2', 'marker-of-row-9'],
  ])('GIVEN a script-made %s backup with one value changed before the manifest WHEN verified THEN only the content digest the script took catches it', async (kind, from, to) => {
    const database = { BK_DB_HOST: '127.0.0.1', BK_DB_NAME: 'shop' };
    const inputs: Record<string, Record<string, string>> = {
      postgres: { ...database, BK_DB_PORT: String(pg.port), BK_DB_USER: pg.user, BK_PASSWORD_SSM_PARAMETER: '/verify/pg' },
      mysql: { ...database, BK_DB_PORT: String(my.port), BK_DB_USER: my.user, BK_PASSWORD_SSM_PARAMETER: '/verify/mysql' },
      sqlite: { BK_PATH: join(work, 'markers.db') },
    };
    if (kind === 'sqlite') run('sqlite3', [join(work, 'markers.db'), "CREATE TABLE notes(body TEXT); INSERT INTO notes VALUES ('marker-of-row-1'), ('marker-of-row-2');"]);
    const key = await backUp({ BK_TARGET: `changed-${kind}`, BK_KIND: kind, ...inputs[kind] });
    const verdict = await verifyBackup(deps(), await damagedBeforeManifest(key, (dump) => replaceOnce(dump, from, to)));
    expect(failed(verdict).filter((name) => name !== 'size')).toEqual(['content']);
    expect(verdict.checks.find((check) => check.name === 'content')?.detail).toMatch(/the dump is not the one the script read before compressing it/);
  });

  it('GIVEN a truncated copy written over a script-made backup WHEN verified THEN it fails as written over, and the verified version is the intact first one', async () => {
    const path = join(work, 'cut.db');
    run('sqlite3', [path, 'CREATE TABLE t(x); INSERT INTO t VALUES (1);']);
    const key = await backUp({ BK_TARGET: 'cut-sqlite', BK_KIND: 'sqlite', BK_PATH: path });
    const first = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    const original = Buffer.from(await first.Body!.transformToByteArray());
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: original.subarray(0, original.length - 9) }));
    const verdict = await verifyBackup(deps(), key);
    expect(failed(verdict)).toEqual(['versions']);
    expect(verdict.checks.find((check) => check.name === 'versions')?.detail).toMatch(/the backup key holds 2 versions: written over after the backup/);
    expect(verdict).toMatchObject({ passed: false, versionId: first.VersionId });
    expect(verdict.checks.find((check) => check.name === 'integrity')?.status).toBe('passed');
  });
});
