import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { CreateTopicCommand, SNSClient, SubscribeCommand } from '@aws-sdk/client-sns';
import { CreateQueueCommand, GetQueueAttributesCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { gzipSync, gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backupKey, verdictKeyFor, type BackupKind } from '../../contracts/manifest';
import type { Verdict } from '../../contracts/verdict';
import { verifyBackup, type VerifyDeps } from '../../lambda/verify/verify-backup';
import { filesBackup, filesIndexOf, manifestFor, mysqlBackup, postgresBackup, putBackup, replaceOnce, sqliteBackup, type MadeBackup } from '../support/backups';
import fc from 'fast-check';
import { PgCustomInspector, readPgArchive } from '../../lambda/verify/formats/pg-custom';
import { MariaDbServer } from '../support/mariadb';
import { run, scratchDir } from '../support/processes';
import { linkSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MOTO_REGION, MotoServer } from '../support/moto';
import { PostgresServer } from '../support/postgres';
import { TEST_SETTINGS, capturingMetrics, quietLogger } from './helpers';

/**
 * The corruption matrix against moto server: real dumps made with the same tools as the backup
 * scripts, stored in a versioned Object Lock bucket, then damaged one way each. Every damage
 * must fail with the right check and reason; every good backup must pass.
 */
let moto: MotoServer;
let pg: PostgresServer;
let my: MariaDbServer;
let s3: S3Client;
let bucket: string;
let keyArn: string;
const replicaBucket = 'matrix-replica';
let topicArn: string;
let alertQueueUrl: string;
const good = new Map<BackupKind, MadeBackup>();
const HOUR = 3_600_000;

function deps(overrides: Partial<VerifyDeps> = {}): VerifyDeps & { emitted: ReturnType<typeof capturingMetrics>['emitted'] } {
  const { metrics, emitted } = capturingMetrics();
  return {
    s3,
    replicaS3: moto.replicaS3(),
    sns: new SNSClient({ endpoint: moto.endpoint, region: MOTO_REGION, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } }),
    metrics,
    logger: quietLogger(),
    bucket,
    replicaBucket,
    backupKeyArn: keyArn,
    alertTopicArn: topicArn,
    region: MOTO_REGION,
    settings: TEST_SETTINGS,
    // Two hours after the uploads: past the replication allowance.
    now: () => new Date(Date.now() + 2 * HOUR),
    ...overrides,
    emitted,
  };
}

let counter = 0;
/** Stores `body` (and its manifest unless null) as the newest backup of a fresh target; replicates it unless told not to. */
async function store(kind: BackupKind, body: Buffer, manifestBody: MadeBackup | null, options: { ageHours?: number; replicate?: boolean; target?: string; tier?: string } = {}) {
  const target = options.target ?? `t${++counter}-${kind}`;
  const tier = options.tier ?? 'daily';
  const at = new Date(Date.now() - (options.ageHours ?? 3) * HOUR);
  const key = backupKey(tier, target, kind, at);
  const manifest = manifestBody ? manifestFor(manifestBody, { bucket, key, target, tier, finishedAt: new Date(at.getTime() + 60_000) }) : null;
  await putBackup(s3, bucket, key, body, manifest);
  if (options.replicate ?? true) await s3.send(new PutObjectCommand({ Bucket: replicaBucket, Key: key, Body: body }));
  return { key, target, tier };
}

const failedChecks = (verdict: Verdict) => verdict.checks.filter((check) => check.status === 'failed').map((check) => check.name).sort();
const detailOf = (verdict: Verdict, name: string) => verdict.checks.find((check) => check.name === name)?.detail ?? '';

async function drainAlerts(): Promise<{ Subject?: string; Message: string }[]> {
  const sqs = new SQSClient({ endpoint: moto.endpoint, region: MOTO_REGION, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } });
  const messages: { Subject?: string; Message: string }[] = [];
  for (;;) {
    const received = await sqs.send(new ReceiveMessageCommand({ QueueUrl: alertQueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }));
    if (!received.Messages?.length) break;
    for (const message of received.Messages) messages.push(JSON.parse(message.Body ?? '{}'));
    const { DeleteMessageCommand } = await import('@aws-sdk/client-sqs');
    for (const message of received.Messages) await sqs.send(new DeleteMessageCommand({ QueueUrl: alertQueueUrl, ReceiptHandle: message.ReceiptHandle }));
  }
  return messages;
}

beforeAll(async () => {
  [moto, pg, my] = await Promise.all([MotoServer.start(), PostgresServer.start(), MariaDbServer.start()]);
  s3 = moto.s3();
  ({ bucket, keyArn } = await moto.createBackupBucket('matrix-backups'));
  await s3.send(new CreateBucketCommand({ Bucket: replicaBucket, CreateBucketConfiguration: { LocationConstraint: MOTO_REGION } }));
  const clientConfig = { endpoint: moto.endpoint, region: MOTO_REGION, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } };
  const sns = new SNSClient(clientConfig);
  const sqs = new SQSClient(clientConfig);
  topicArn = (await sns.send(new CreateTopicCommand({ Name: 'alerts' }))).TopicArn ?? '';
  alertQueueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: 'alert-inbox' }))).QueueUrl ?? '';
  const queueArn = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: alertQueueUrl, AttributeNames: ['QueueArn'] }))).Attributes?.QueueArn;
  await sns.send(new SubscribeCommand({ TopicArn: topicArn, Protocol: 'sqs', Endpoint: queueArn }));

  pg.createDatabase('shop');
  pg.psql('shop', `CREATE TABLE customers(id int PRIMARY KEY, name text);
    INSERT INTO customers SELECT g, md5(g::text) FROM generate_series(1, 3000) g;
    CREATE TABLE orders(id int PRIMARY KEY, customer int REFERENCES customers, total numeric);
    INSERT INTO orders SELECT g, 1 + g % 3000, g * 1.5 FROM generate_series(1, 5000) g;
    CREATE TABLE events(at timestamptz, body jsonb) PARTITION BY RANGE (at);
    CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
    INSERT INTO events VALUES ('2024-05-01', '{"a": 1}');
    CREATE VIEW big_orders AS SELECT * FROM orders WHERE total > 100;
    SELECT lo_from_bytea(0, 'large object payload');`);
  my.rootSql(`CREATE DATABASE shop; CREATE TABLE shop.products(id int PRIMARY KEY, name text); INSERT INTO shop.products VALUES (1, 'tea'), (2, 'coffee');
    CREATE TABLE shop.stock(product int, qty int); INSERT INTO shop.stock VALUES (1, 10); CREATE VIEW shop.in_stock AS SELECT * FROM shop.stock;`);
  good.set('postgres', postgresBackup(pg, 'shop'));
  good.set('mysql', mysqlBackup(my, 'shop'));
  good.set('sqlite', sqliteBackup(300));
  good.set('files', filesBackup(7));
});

afterAll(async () => {
  await Promise.all([moto?.stop(), pg?.stop(), my?.stop()]);
});

const KINDS: BackupKind[] = ['postgres', 'mysql', 'sqlite', 'files'];
const made = (kind: BackupKind): MadeBackup => {
  const backup = good.get(kind);
  if (!backup) throw new Error(`no ${kind} backup made`);
  return backup;
};

describe('good backups pass', () => {
  it.each(KINDS)('GIVEN a complete %s backup with its manifest and replica WHEN verified THEN every check passes and the verdict is stored', async (kind) => {
    const { key, target } = await store(kind, made(kind).body, made(kind));
    const d = deps();

    const verdict = await verifyBackup(d, key);

    expect(failedChecks(verdict)).toEqual([]);
    expect(verdict.passed).toBe(true);
    for (const name of ['object', 'versions', 'manifest', 'integrity', 'decompression', 'format', 'content', 'age', 'replica'] as const) {
      expect(verdict.checks.find((check) => check.name === name)?.status, name).toBe('passed');
    }
    // the verdict pins the versions it read and the SHA-256 they agree on, under verdicts/
    expect(verdict).toMatchObject({ verdictVersion: 2, versionId: expect.any(String), manifestVersionId: expect.any(String), sha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
    // and speaks for the replica it found (restores in the DR region read it there)
    expect(verdict.replicaBucket).toBe(replicaBucket);
    const stored = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: verdictKeyFor(key, new Date(verdict.verifiedAt)) }));
    expect(stored.ServerSideEncryption).toBe('aws:kms');
    expect(JSON.parse((await stored.Body?.transformToString()) ?? '{}')).toMatchObject({ key, passed: true, target });
    expect(d.emitted).toContainEqual({ name: 'VerificationFailed', value: 0, dimensions: { service: 'verify', Target: target, Tier: 'daily' } });
    expect(verdict.figures.hoursSinceLastVerifiedBackup).toBeCloseTo(5 - 1 / 60, 1);
    // A good backup sends only VerificationFailed = 0 and its size: no anomaly or replica series is billed for it.
    expect(d.emitted.map((metric) => metric.name).sort()).toEqual(['BackupBytes', 'VerificationFailed']);
    // The tier's alarm series hears only of failures.
    expect(d.emitted.filter((metric) => metric.dimensions.Target === undefined)).toEqual([]);
  });

  it('GIVEN a PostgreSQL backup WHEN verified THEN the archive figures come from its header and TOC', async () => {
    const { key } = await store('postgres', made('postgres').body, made('postgres'));
    const verdict = await verifyBackup(deps(), key);
    expect(verdict.figures).toMatchObject({ 'pg_custom.compression': 'none', 'pg_custom.database': 'shop', 'pg_custom.tableDataEntries': 3, 'pg_custom.partitionedTables': 1 });
  });

  it.each(['gnu', 'pax'] as const)('GIVEN a %s tar with a hard link, a newline in a name and a long path WHEN verified THEN the per-file index the verifier recomputes is the one taken from the tree', async (format) => {
    const dir = scratchDir('tar-links');
    const tree = join(dir, 'tree');
    mkdirSync(join(tree, 'x'.repeat(120)), { recursive: true });
    writeFileSync(join(tree, 'original.jpg'), Buffer.alloc(3000, 9));
    linkSync(join(tree, 'original.jpg'), join(tree, 'x'.repeat(120), 'second name.jpg'));
    writeFileSync(join(tree, 'line\nbreak.txt'), 'newline\n');
    run('tar', [`--format=${format}`, '-cf', join(dir, 'tree.tar'), '-C', tree, '.']);
    const body = gzipSync(readFileSync(join(dir, 'tree.tar')));
    const index = filesIndexOf(tree);
    expect(index.count).toBe(3);
    const verdict = await verifyBackup(deps(), (await store('files', body, { kind: 'files', body, files: { fileCount: 2, totalBytes: 3008, index } })).key);
    expect(failedChecks(verdict)).toEqual([]);
    expect(verdict.figures).toMatchObject({ 'tar.indexedFiles': 3, 'tar.hardLinks': 1 });
  });

  it('GIVEN a pax-format tar WHEN verified THEN it passes with the manifest file count', async () => {
    const pax = filesBackup(4, 'pax');
    const { key } = await store('files', pax.body, pax);
    const verdict = await verifyBackup(deps(), key);
    expect(failedChecks(verdict)).toEqual([]);
    expect(verdict.figures['tar.regularFiles']).toBe(4);
  });
});

describe('damaged backups fail with the right reason', () => {
  it.each(KINDS)('GIVEN a %s backup truncated at a random offset WHEN verified THEN integrity and decompression fail', async (kind) => {
    const body = made(kind).body;
    for (const offset of [1, Math.floor(Math.random() * (body.length - 2)) + 1, body.length - 1]) {
      const { key } = await store(kind, body.subarray(0, offset), made(kind));
      const verdict = await verifyBackup(deps(), key);
      expect(failedChecks(verdict), `offset ${offset}`).toEqual(['decompression', 'integrity']);
      expect(detailOf(verdict, 'integrity')).toMatch(new RegExp(`${offset} bytes stored but the manifest says ${body.length}`));
      expect(detailOf(verdict, 'decompression')).toMatch(/truncated|corrupt|gzip/);
    }
  });

  it.each(KINDS)('GIVEN a %s backup with one flipped byte WHEN verified THEN the SHA-256 check fails', async (kind) => {
    const body = Buffer.from(made(kind).body);
    const at = Math.floor(body.length / 2);
    body[at] = (body[at] ?? 0) ^ 0xff;
    const { key } = await store(kind, body, made(kind));
    const verdict = await verifyBackup(deps(), key);
    expect(verdict.passed).toBe(false);
    expect(failedChecks(verdict)).toContain('integrity');
    expect(detailOf(verdict, 'integrity')).toMatch(/SHA-256 [0-9a-f]{64} differs from the manifest's/);
  });

  it('GIVEN an empty object WHEN verified THEN integrity and decompression fail saying it is empty', async () => {
    const { key } = await store('postgres', Buffer.alloc(0), made('postgres'));
    const verdict = await verifyBackup(deps(), key);
    expect(failedChecks(verdict)).toEqual(['decompression', 'integrity']);
    expect(detailOf(verdict, 'decompression')).toMatch(/the object is empty/);
  });

  it('GIVEN a backup without a manifest WHEN verified THEN the manifest check fails as an incomplete backup and an alert names it', async () => {
    await drainAlerts();
    const { key, target } = await store('mysql', made('mysql').body, null);
    const verdict = await verifyBackup(deps(), key);
    expect(failedChecks(verdict)).toEqual(['manifest']);
    expect(detailOf(verdict, 'manifest')).toMatch(/no manifest .* the backup is incomplete/);
    const alerts = await drainAlerts();
    expect(alerts).toHaveLength(1);
    expect(alerts[0]?.Subject).toBe(`Backup verification failed: ${target} daily (manifest)`);
    expect(alerts[0]?.Message).toContain(`Key:    s3://${bucket}/${key}`);
    expect(alerts[0]?.Message).toMatch(/What to do: The backup did not finish/);
  });

  it('GIVEN a manifest with a wrong hash WHEN verified THEN the SHA-256 check fails', async () => {
    const wrong = { ...made('sqlite') };
    const { key, target, tier } = { ...(await store('sqlite', made('sqlite').body, null)) };
    const manifest = manifestFor(wrong, { bucket, key, target, tier, finishedAt: new Date(Date.now() - 3 * HOUR) }, { sha256: 'a'.repeat(64) });
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: `${key}.manifest.json`, Body: JSON.stringify(manifest) }));
    const verdict = await verifyBackup(deps(), key);
    expect(failedChecks(verdict)).toEqual(['integrity']);
    expect(detailOf(verdict, 'integrity')).toMatch(/differs from the manifest's a{64}/);
  });

  it('GIVEN a newest backup older than the tier allows WHEN verified THEN the age check fails as stale', async () => {
    const { key } = await store('files', made('files').body, made('files'), { ageHours: 72 });
    const verdict = await verifyBackup(deps(), key);
    expect(failedChecks(verdict)).toEqual(['age']);
    expect(detailOf(verdict, 'age')).toMatch(/the newest backup is 7\d(\.\d+)? h old, above the 26 h limit of tier 'daily'/);
  });

  it('GIVEN a weekly backup six days old WHEN verified THEN the weekly allowance keeps it fresh', async () => {
    const { key } = await store('files', made('files').body, made('files'), { ageHours: 6 * 24, tier: 'weekly' });
    const verdict = await verifyBackup(deps(), key);
    expect(verdict.checks.find((check) => check.name === 'age')?.status).toBe('passed');
  });

  it('GIVEN seven earlier backups and a much smaller newest one WHEN verified THEN the size check fails as a drop and SizeAnomaly is 1', async () => {
    const target = `sized-${++counter}`;
    const big = { ...made('files'), body: Buffer.concat([made('files').body, Buffer.alloc(50_000, 1)]) };
    for (let day = 8; day >= 1; day--) await store('files', big.body, big, { target, ageHours: day * 24 + 3 });
    const { key } = await store('files', made('files').body, made('files'), { target });
    const d = deps();
    const verdict = await verifyBackup(d, key);
    expect(failedChecks(verdict)).toEqual(['size']);
    expect(detailOf(verdict, 'size')).toMatch(/size drop: .* below 0.8x/);
    expect(verdict.figures.previousBackups).toBe(7);
    expect(d.emitted).toContainEqual({ name: 'SizeAnomaly', value: 1, dimensions: { service: 'verify', Target: target, Tier: 'daily' } });
    // and the series its one alarm reads, over every target and tier, with the failed verification
    expect(d.emitted).toContainEqual({ name: 'SizeAnomaly', value: 1, dimensions: { service: 'verify' } });
    expect(d.emitted).toContainEqual({ name: 'VerificationFailed', value: 1, dimensions: { service: 'verify' } });
  });

  it('GIVEN a backup identical to the previous one (unchanged data) WHEN verified THEN the size check passes as unchanged and nothing alarms', async () => {
    const target = `same-${++counter}`;
    const { key: previous } = await store('sqlite', made('sqlite').body, made('sqlite'), { target, ageHours: 27 });
    const { key } = await store('sqlite', made('sqlite').body, made('sqlite'), { target });
    const d = deps();
    const verdict = await verifyBackup(d, key);
    expect(verdict.passed).toBe(true);
    expect(verdict.checks.find((check) => check.name === 'size')).toEqual({ name: 'size', status: 'passed', detail: `unchanged: the same SHA-256 as the previous backup ${previous} (the data did not change)` });
    // No anomaly: nothing for the size alarm, nor a standing 0 billed per target.
    expect(d.emitted.filter((metric) => metric.name === 'SizeAnomaly')).toEqual([]);
  });

  it('GIVEN a backup of exactly the size of the previous one but other content WHEN verified THEN it passes with a size warning, which is no alarm', async () => {
    const target = `same-size-${++counter}`;
    const other = { ...made('sqlite'), body: Buffer.alloc(made('sqlite').body.length, 7) };
    await store('sqlite', other.body, other, { target, ageHours: 27 });
    const { key } = await store('sqlite', made('sqlite').body, made('sqlite'), { target });
    const d = deps();
    const verdict = await verifyBackup(d, key);
    expect(verdict.passed).toBe(true);
    expect(verdict.checks.find((check) => check.name === 'size')).toMatchObject({ status: 'warning', detail: expect.stringMatching(/exactly the same size .* with other content/) });
    // No anomaly: nothing for the size alarm, nor a standing 0 billed per target.
    expect(d.emitted.filter((metric) => metric.name === 'SizeAnomaly')).toEqual([]);
  });

  it('GIVEN a backup with no copy in the replica bucket after the allowance WHEN verified THEN the replica check fails and ReplicaMissing is 1', async () => {
    const { key, target } = await store('postgres', made('postgres').body, made('postgres'), { replicate: false });
    const d = deps();
    const verdict = await verifyBackup(d, key);
    expect(failedChecks(verdict)).toEqual(['replica']);
    expect(detailOf(verdict, 'replica')).toMatch(new RegExp(`no replica in s3://${replicaBucket}`));
    expect(verdict.replicaBucket).toBeUndefined();
    expect(d.emitted).toContainEqual({ name: 'ReplicaMissing', value: 1, dimensions: { service: 'verify', Target: target, Tier: 'daily' } });
    // and the series its one alarm reads, over every target and tier, with the failed verification
    expect(d.emitted).toContainEqual({ name: 'ReplicaMissing', value: 1, dimensions: { service: 'verify' } });
    expect(d.emitted).toContainEqual({ name: 'VerificationFailed', value: 1, dimensions: { service: 'verify' } });
  });

  it('GIVEN a backup uploaded minutes ago without a replica yet WHEN verified THEN the replica check is pending, not failed', async () => {
    const { key } = await store('postgres', made('postgres').body, made('postgres'), { replicate: false });
    const verdict = await verifyBackup(deps({ now: () => new Date(Date.now() + 5 * 60_000) }), key);
    expect(verdict.passed).toBe(true);
    expect(verdict.checks.find((check) => check.name === 'replica')?.status).toBe('pending');
  });

  it('GIVEN an object larger than one invocation may verify WHEN verified THEN it fails up front saying so', async () => {
    const { key } = await store('files', made('files').body, made('files'));
    const verdict = await verifyBackup(deps({ settings: { ...TEST_SETTINGS, maxObjectBytes: 100 } }), key);
    expect(failedChecks(verdict)).toEqual(['integrity']);
    expect(detailOf(verdict, 'integrity')).toMatch(/above the 0.00 GiB one invocation can verify .*verification.maxObjectGiB/);
  });

  it('GIVEN a deadline that has passed WHEN verified THEN the verdict says it ran out of time instead of timing out', async () => {
    const { key } = await store('files', made('files').body, made('files'));
    const verdict = await verifyBackup(deps({ deadline: () => Date.now() - 1 }), key);
    expect(detailOf(verdict, 'integrity')).toMatch(/ran out of time after reading \d+ of \d+ bytes/);
  });
});

describe('dumps that gzip cleanly but are incomplete fail the format check', () => {
  /** Cuts the decompressed dump and re-compresses it, with a manifest that matches: only the format can tell. */
  async function storeCut(kind: BackupKind, keep: (dump: Buffer) => Buffer) {
    const dump = gunzipSync(made(kind).body);
    const body = gzipSync(keep(dump));
    return store(kind, body, { ...made(kind), body });
  }

  it('GIVEN a PostgreSQL archive cut inside its data WHEN verified THEN the format check says truncated', async () => {
    const { key } = await storeCut('postgres', (dump) => dump.subarray(0, dump.length - 100));
    const verdict = await verifyBackup(deps(), key);
    expect(failedChecks(verdict)).toEqual(['content', 'format']);
    expect(detailOf(verdict, 'format')).toMatch(/PostgreSQL archive: stream ends \d+ byte\(s\) early .* truncated/);
  });

  it('GIVEN a file that is not a PostgreSQL archive WHEN verified as one THEN the format check names the header', async () => {
    const { key } = await storeCut('postgres', () => Buffer.from('-- plain SQL, not custom format\n'));
    const verdict = await verifyBackup(deps(), key);
    expect(detailOf(verdict, 'format')).toMatch(/not a PostgreSQL custom-format archive/);
  });

  it('GIVEN a PostgreSQL archive with fewer tables than the manifest counted WHEN verified THEN the format check says tables are missing', async () => {
    const base = made('postgres');
    const { key } = await store('postgres', base.body, { ...base, database: { tableCount: 9, rowCounts: {} } });
    const verdict = await verifyBackup(deps(), key);
    expect(detailOf(verdict, 'format')).toMatch(/3 TABLE DATA entries but the manifest counted 9 tables/);
  });

  it('GIVEN a MySQL dump without its completion trailer WHEN verified THEN the format check says it stopped early', async () => {
    const { key } = await storeCut('mysql', (dump) => dump.subarray(0, dump.lastIndexOf('-- Dump completed')));
    const verdict = await verifyBackup(deps(), key);
    expect(failedChecks(verdict)).toEqual(['content', 'format']);
    expect(detailOf(verdict, 'format')).toMatch(/the dump stopped before it finished/);
  });

  it('GIVEN a SQLite file missing its last page WHEN verified THEN the format check says truncated', async () => {
    const { key } = await storeCut('sqlite', (dump) => dump.subarray(0, dump.length - 4096));
    const verdict = await verifyBackup(deps(), key);
    expect(detailOf(verdict, 'format')).toMatch(/SQLite: the header says \d+ pages .* truncated/);
  });

  it('GIVEN a SQLite database with a corrupted page WHEN verified THEN PRAGMA integrity_check reports it', async () => {
    const { key } = await storeCut('sqlite', (dump) => {
      const copy = Buffer.from(dump);
      // Page 2 is a b-tree page of the first table: overwrite its page header and cell pointers.
      copy.fill(0x5a, 4096, 4096 + 64);
      return copy;
    });
    const verdict = await verifyBackup(deps(), key);
    expect(failedChecks(verdict)).toEqual(['content', 'format']);
    expect(detailOf(verdict, 'format')).toMatch(/SQLite: (PRAGMA integrity_check reports|the database cannot be read)/);
  });

  it.each([
    ['rows deleted', 'DELETE FROM notes WHERE id % 10 = 0;', /table notes: 270 rows in the backup, the manifest counted 300/],
    ['a table emptied', 'INSERT INTO tags VALUES (1);', /table tags: 1 rows in the backup, the manifest counted 0/],
    ['a table dropped', 'DROP TABLE tags;', /table tags: the manifest counted 0 rows, the backup has no such table/],
  ])('GIVEN a valid SQLite database with %s after the counts were taken WHEN verified THEN the format check names the table and both counts', async (_what, change, reason) => {
    // A real, intact database file whose rows differ from the manifest's counts (damaged before the manifest).
    const dir = scratchDir('sqlite-rows');
    const file = join(dir, 'db');
    writeFileSync(file, gunzipSync(made('sqlite').body));
    run('sqlite3', [file, `${change} VACUUM;`]);
    const body = gzipSync(readFileSync(file));
    const verdict = await verifyBackup(deps(), (await store('sqlite', body, { ...made('sqlite'), body })).key);
    expect(failedChecks(verdict)).toEqual(['content', 'format']);
    expect(detailOf(verdict, 'format')).toMatch(reason);
  });

  it('GIVEN a SQLite database above the integrity-check limit WHEN verified THEN the check is skipped with the reason, not passed silently', async () => {
    const { key } = await store('sqlite', made('sqlite').body, made('sqlite'));
    const verdict = await verifyBackup(deps({ settings: { ...TEST_SETTINGS, sqliteIntegrityCheckMaxBytes: 1024 } }), key);
    expect(verdict.figures['sqlite.integrityCheck']).toBe('skipped');
    expect(detailOf(verdict, 'format')).toMatch(/skipped: SQLite integrity_check and row counts: the database is \d+ bytes, above the 1024-byte limit/);
  });

  it('GIVEN a tar without its end-of-archive blocks WHEN verified THEN the format check says truncated', async () => {
    const { key } = await storeCut('files', (dump) => {
      let end = dump.length;
      while (end > 0 && dump[end - 1] === 0) end--;
      return dump.subarray(0, Math.ceil(end / 512) * 512);
    });
    const verdict = await verifyBackup(deps(), key);
    expect(detailOf(verdict, 'format')).toMatch(/tar: .*without the end-of-archive marker/);
  });

  it('GIVEN a tar whose file count differs from the manifest WHEN verified THEN the format check names both counts', async () => {
    const base = made('files');
    const { key } = await store('files', base.body, { ...base, files: { fileCount: 8, totalBytes: base.files?.totalBytes ?? 0 } });
    const verdict = await verifyBackup(deps(), key);
    expect(detailOf(verdict, 'format')).toMatch(/tar: 7 regular files in the archive but the manifest counted 8/);
  });
});

describe('PostgreSQL archives that parse but would restore wrong data', () => {
  /** The decompressed archive, its TOC and blocks, and the block of one table's data with its byte range. */
  function archive() {
    const dump = gunzipSync(made('postgres').body);
    const parsed = readPgArchive(dump);
    if (parsed.problem) throw new Error(parsed.problem);
    const blockOf = (table: string) => {
      const entry = parsed.toc.find((candidate) => candidate.desc === 'TABLE DATA' && candidate.name === table);
      const index = parsed.blocks.findIndex((block) => block.dumpId === entry?.dumpId);
      const block = parsed.blocks[index];
      if (!entry || !block) throw new Error(`no data block for ${table}`);
      return { entry, start: block.start, end: parsed.blocks[index + 1]?.start ?? dump.length };
    };
    return { dump, ...parsed, blockOf };
  }

  /** Stores the damaged archive with a manifest made over it (damaged before the manifest): only the format check can tell. */
  async function storeDamaged(dump: Buffer) {
    const body = gzipSync(dump);
    return store('postgres', body, { ...made('postgres'), body });
  }

  it('GIVEN the intact archive WHEN read THEN its rows per table are those the manifest counted', () => {
    expect(Object.fromEntries(archive().rows)).toEqual(made('postgres').database?.rowCounts);
  });

  it('GIVEN a table dumped with rows missing (a structurally valid archive) WHEN verified THEN the format check names the table and both counts', async () => {
    // The same database with one customer fewer, dumped by pg_dump: only the row counts can tell.
    pg.createDatabase('shop_short');
    pg.psql('shop_short', `CREATE TABLE customers(id int PRIMARY KEY, name text); INSERT INTO customers SELECT g, md5(g::text) FROM generate_series(1, 2999) g;`);
    const short = postgresBackup(pg, 'shop_short');
    const { key } = await store('postgres', short.body, { ...short, database: { tableCount: 1, rowCounts: { 'public.customers': 3000 } } });
    const verdict = await verifyBackup(deps(), key);
    expect(failedChecks(verdict)).toEqual(['format']);
    expect(detailOf(verdict, 'format')).toMatch(/table public\.customers: 2999 rows in the archive, the manifest counted 3000/);
  });

  it('GIVEN the archive fed in pieces of any size (length fields and rows split across them) WHEN inspected THEN the rows are the same and nothing is wrong', async () => {
    const { dump } = archive();
    const expectedRows = Object.values(made('postgres').database?.rowCounts ?? {}).reduce((sum, count) => sum + count, 0);
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 4096 }), async (size) => {
        const inspector = new PgCustomInspector(made('postgres'));
        for (let at = 0; at < dump.length; at += size) inspector.write(dump.subarray(at, at + size));
        const report = await inspector.finish();
        expect(report.problems).toEqual([]);
        expect(report.figures.rowsInArchive).toBe(expectedRows);
      }),
      { numRuns: 40 },
    );
  });

  it('GIVEN a chunk length with its sign byte set, or the archive cut inside a chunk length or a row WHEN inspected THEN the problem names the table and what was being read', async () => {
    const { dump, blockOf } = archive();
    const chunkAt = blockOf('public.orders').start + 1 + 5;
    const inspect = async (damaged: Buffer, size: number) => {
      const inspector = new PgCustomInspector(made('postgres'));
      for (let at = 0; at < damaged.length; at += size) inspector.write(damaged.subarray(at, at + size));
      return (await inspector.finish()).problems.join('; ');
    };
    const negative = Buffer.from(dump);
    negative[chunkAt] = 1;
    for (const size of [3, 4096, dump.length]) {
      expect(await inspect(negative, size)).toMatch(/data of TABLE DATA public\.orders: negative chunk length -\d+: corrupt data/);
      expect(await inspect(dump.subarray(0, chunkAt + 3), size)).toMatch(/stream ends 2 byte\(s\) early at offset \d+, while reading chunk length in data of TABLE DATA public\.orders: the dump is truncated/);
      expect(await inspect(dump.subarray(0, chunkAt + 5 + 2), size)).toMatch(/stream ends \d+ byte\(s\) early at offset \d+, while reading data of TABLE DATA public\.orders: the dump is truncated/);
    }
  });

  it('GIVEN rows cut out of a COPY block after the manifest was written WHEN verified THEN integrity and the row count both fail', async () => {
    const { dump, blockOf } = archive();
    const { start } = blockOf('public.orders');
    // The block: type byte, dump ID (sign byte + 4), then chunks of (sign byte + 4-byte length, rows); pg_dump -Z0 writes a
    // chunk per COPY row. Drop the first chunk: a structurally valid block, one row short.
    const chunkAt = start + 1 + 5;
    const length = dump.readUInt32LE(chunkAt + 1);
    expect(dump.subarray(chunkAt + 5, chunkAt + 5 + length).includes(0x0a)).toBe(true);
    const cut = Buffer.concat([dump.subarray(0, chunkAt), dump.subarray(chunkAt + 5 + length)]);
    const rowsCut = dump.subarray(chunkAt + 5, chunkAt + 5 + length).filter((byte) => byte === 0x0a).length;
    const { key } = await store('postgres', gzipSync(cut), made('postgres'));
    const verdict = await verifyBackup(deps(), key);
    expect(failedChecks(verdict)).toEqual(['content', 'format', 'integrity']);
    expect(detailOf(verdict, 'format')).toContain(`table public.orders: ${5000 - rowsCut} rows in the archive, the manifest counted 5000`);
  });

  it('GIVEN a TOC entry flagged as having no data while its block is present WHEN verified THEN the format check says pg_restore would restore the table empty', async () => {
    const { dump, blockOf } = archive();
    const damaged = Buffer.from(dump);
    damaged[blockOf('public.customers').entry.flagAt] = 3;
    const verdict = await verifyBackup(deps(), (await storeDamaged(damaged)).key);
    expect(failedChecks(verdict)).toEqual(['content', 'format']);
    expect(detailOf(verdict, 'format')).toMatch(/TOC says TABLE DATA public\.customers has no data, so pg_restore would not read this block and would restore it empty/);
  });

  it("GIVEN a data block carrying another table's dump ID WHEN verified THEN the format check names the second block", async () => {
    const { dump, blockOf } = archive();
    const damaged = Buffer.from(dump);
    damaged.writeUInt32LE(blockOf('public.customers').entry.dumpId, blockOf('public.orders').start + 2);
    const verdict = await verifyBackup(deps(), (await storeDamaged(damaged)).key);
    expect(detailOf(verdict, 'format')).toMatch(/a second data block for TABLE DATA public\.customers/);
  });

  it('GIVEN two data blocks swapped WHEN verified THEN the format check says they are out of order', async () => {
    const { dump, blocks } = archive();
    const [first, second, third] = blocks;
    if (!first || !second) throw new Error('the archive has fewer than two data blocks');
    const end = third?.start ?? dump.length;
    const swapped = Buffer.concat([dump.subarray(0, first.start), dump.subarray(second.start, end), dump.subarray(first.start, second.start), dump.subarray(end)]);
    const verdict = await verifyBackup(deps(), (await storeDamaged(swapped)).key);
    expect(detailOf(verdict, 'format')).toMatch(/comes after the data of a later TOC entry: the blocks are out of order/);
  });

  it.each([-1, 1])('GIVEN a header whose archive version is off by %i from the body it describes WHEN verified THEN the format check fails instead of reading on misaligned', async (step) => {
    const { dump } = archive();
    const damaged = Buffer.from(dump);
    const minor = dump[6] ?? 0;
    // Stay within the versions the reader knows (1.12 to 1.16), so only the body can give it away.
    const other = minor + step < 12 || minor + step > 16 ? minor - step : minor + step;
    damaged[6] = other;
    const verdict = await verifyBackup(deps(), (await storeDamaged(damaged)).key);
    expect(failedChecks(verdict)).toEqual(['content', 'format']);
    expect(detailOf(verdict, 'format')).toMatch(/PostgreSQL archive: /);
  });

  it('GIVEN an archive that compresses its table data with gzip (pg_dump -Z6) WHEN verified THEN every block is inflated, checked and row-counted', async () => {
    const compressed = postgresBackup(pg, 'shop', 6);
    const verdict = await verifyBackup(deps(), (await store('postgres', compressed.body, compressed)).key);
    expect(failedChecks(verdict)).toEqual([]);
    expect(verdict.figures).toMatchObject({ 'pg_custom.compression': 'gzip (level 6)', 'pg_custom.rowsInArchive': 3000 + 5000 + 1 });
    expect(detailOf(verdict, 'format')).not.toMatch(/skipped/);
  });

  it('GIVEN a gzip-compressed archive of a table with rows missing WHEN verified THEN the inflated rows are counted and the table named', async () => {
    pg.createDatabase('shop_short_z');
    pg.psql('shop_short_z', `CREATE TABLE customers(id int PRIMARY KEY, name text); INSERT INTO customers SELECT g, md5(g::text) FROM generate_series(1, 2999) g;`);
    const short = postgresBackup(pg, 'shop_short_z', 6);
    const verdict = await verifyBackup(deps(), (await store('postgres', short.body, { ...short, database: { tableCount: 1, rowCounts: { 'public.customers': 3000 } } })).key);
    expect(failedChecks(verdict)).toEqual(['format']);
    expect(detailOf(verdict, 'format')).toMatch(/table public\.customers: 2999 rows in the archive, the manifest counted 3000/);
  });

  it.each([
    ['inside the deflate data', (chunks: { start: number; end: number }[]) => Math.floor(((chunks[0]?.start ?? 0) + (chunks[0]?.end ?? 0)) / 2), /the compressed data does not inflate|Adler-32/],
    ['in the Adler-32 checksum', (chunks: { start: number; end: number }[]) => (chunks.at(-1)?.end ?? 0) - 2, /does not match its Adler-32 checksum/],
  ])('GIVEN a gzip-compressed archive with a byte flipped %s WHEN verified THEN the format check names the table data', async (_where, at, reason) => {
    const compressed = postgresBackup(pg, 'shop', 6);
    const dump = gunzipSync(compressed.body);
    const parsed = readPgArchive(dump);
    const entry = parsed.toc.find((candidate) => candidate.desc === 'TABLE DATA' && candidate.name === 'public.orders');
    const index = parsed.blocks.findIndex((block) => block.dumpId === entry?.dumpId);
    // The block: type byte, dump ID (sign + 4), then chunks of (sign + 4-byte length, part of the zlib stream) up to a zero length.
    const chunks: { start: number; end: number }[] = [];
    for (let at = (parsed.blocks[index]?.start ?? 0) + 1 + 5; ; ) {
      const length = dump.readUInt32LE(at + 1);
      if (length === 0) break;
      chunks.push({ start: at + 5, end: at + 5 + length });
      at += 5 + length;
    }
    const flip = at(chunks);
    dump.writeUInt8(dump.readUInt8(flip) ^ 0x10, flip);
    const body = gzipSync(dump);
    const verdict = await verifyBackup(deps(), (await store('postgres', body, { ...compressed, body })).key);
    expect(failedChecks(verdict)).toContain('format');
    expect(detailOf(verdict, 'format')).toMatch(/data of TABLE DATA public\.orders/);
    expect(detailOf(verdict, 'format')).toMatch(reason);
  });

  it('GIVEN a second archive appended after the first, inside the same gzip stream WHEN verified THEN the format check refuses the bytes after the end', async () => {
    const { dump } = archive();
    const verdict = await verifyBackup(deps(), (await storeDamaged(Buffer.concat([dump, dump]))).key);
    expect(failedChecks(verdict)).toEqual(['content', 'format']);
    expect(detailOf(verdict, 'format')).toMatch(/PostgreSQL archive: data block \d+: type 80 is neither|unexpected byte/);
  });

  it.each(KINDS)('GIVEN a second %s dump appended as a second gzip stream WHEN verified THEN decompression fails: exactly one dump per backup', async (kind) => {
    const body = Buffer.concat([made(kind).body, made(kind).body]);
    const verdict = await verifyBackup(deps(), (await store(kind, body, { ...made(kind), body })).key);
    expect(failedChecks(verdict)).toEqual(['decompression']);
    expect(detailOf(verdict, 'decompression')).toMatch(/not exactly one gzip stream/);
  });

  it.each(KINDS)('GIVEN %s bytes after the end of the gzip stream, starting with NUL WHEN verified THEN decompression fails', async (kind) => {
    const body = Buffer.concat([made(kind).body, Buffer.from([0, 0, 0x13, 0x37])]);
    const verdict = await verifyBackup(deps(), (await store(kind, body, { ...made(kind), body })).key);
    expect(failedChecks(verdict)).toEqual(['decompression']);
  });
});

describe('MySQL dumps that parse but would restore wrong data', () => {
  const dumpText = () => gunzipSync(made('mysql').body).toString('utf8');
  async function storeDamaged(text: string) {
    const body = gzipSync(Buffer.from(text));
    return store('mysql', body, { ...made('mysql'), body });
  }

  it('GIVEN the intact dump WHEN verified THEN its rows per table are those the manifest counted', async () => {
    const verdict = await verifyBackup(deps(), (await store('mysql', made('mysql').body, made('mysql'))).key);
    expect(failedChecks(verdict)).toEqual([]);
    expect(verdict.figures['mysql_sql.rowsInDump']).toBe(Object.values(made('mysql').database?.rowCounts ?? {}).reduce((sum, count) => sum + count, 0));
    expect(verdict.figures['mysql_sql.rowCountDifferences']).toBeUndefined();
  });

  it("GIVEN a dump with one table's INSERTs removed (damaged before the manifest) WHEN verified THEN the format check names the table and both counts", async () => {
    const text = dumpText().replace(/^INSERT INTO `products` VALUES[^;]*;\n/m, '');
    expect(text).not.toBe(dumpText());
    const verdict = await verifyBackup(deps(), (await storeDamaged(text)).key);
    expect(failedChecks(verdict)).toEqual(['content', 'format']);
    expect(detailOf(verdict, 'format')).toMatch(/rows are missing from the dump: table products: 0 rows in the dump, the manifest counted 2/);
  });

  it('GIVEN an older dump appended to the dump in the same gzip stream WHEN verified THEN the format check says the file holds two dumps', async () => {
    const older = dumpText().replace(/\(2,'coffee'\)/, "(2,'old coffee')");
    const verdict = await verifyBackup(deps(), (await storeDamaged(dumpText() + older)).key);
    expect(failedChecks(verdict)).toEqual(['content', 'format']);
    expect(detailOf(verdict, 'format')).toMatch(/2 dump headers .* the file holds more than one dump/);
  });
});

describe('tar archives whose counts were made to match', () => {
  /** Sets a tar header's size field and recomputes its checksum. */
  function setSize(archive: Buffer, headerAt: number, size: number): void {
    archive.write(`${size.toString(8).padStart(11, '0')}\0`, headerAt + 124, 'latin1');
    archive.fill(0x20, headerAt + 148, headerAt + 156);
    let sum = 0;
    for (let i = headerAt; i < headerAt + 512; i++) sum += archive[i] ?? 0;
    archive.write(`${sum.toString(8).padStart(6, '0')}\0 `, headerAt + 148, 'latin1');
  }

  it('GIVEN a member cut short so that it absorbs the next (directory) header, with file count and bytes made to match WHEN verified THEN the entry counts by type catch it', async () => {
    // GIVEN ./a.txt (exactly one block) followed by the header of ./d1/, and ./d1/b.txt
    const dir = scratchDir('tar-absorb');
    mkdirSync(join(dir, 'tree', 'd1'), { recursive: true });
    writeFileSync(join(dir, 'tree', 'a.txt'), Buffer.alloc(512, 0x61));
    writeFileSync(join(dir, 'tree', 'd1', 'b.txt'), 'b\n');
    run('tar', ['--format=gnu', '--sort=name', '-cf', join(dir, 'tree.tar'), '-C', join(dir, 'tree'), '.']);
    const archive = readFileSync(join(dir, 'tree.tar'));
    const aAt = 512; // after the header of ./
    expect(archive.subarray(aAt, aAt + 7).toString('latin1')).toBe('./a.txt');
    expect(String.fromCharCode(archive[aAt + 512 + 512 + 156] ?? 0)).toBe('5');
    // WHEN a.txt's size is raised by a block: its data now swallows the header of ./d1/
    const damaged = Buffer.from(archive);
    setSize(damaged, aAt, 1024);
    const body = gzipSync(damaged);
    // AND the manifest's file count and bytes agree with the damaged archive, its entry counts with the tree
    const verdict = await verifyBackup(deps(), (await store('files', body, { kind: 'files', body, files: { fileCount: 2, totalBytes: 1024 + 2, directoryCount: 2, symlinkCount: 0, hardLinkCount: 0 } })).key);
    // THEN the format check names the directory that went missing
    expect(failedChecks(verdict)).toEqual(['format']);
    expect(detailOf(verdict, 'format')).toMatch(/tar: 1 directories in the archive but the manifest counted 2/);
  });
});

describe('content changed inside a structurally valid dump: only the content digest can tell', () => {
  const changed = (kind: BackupKind, from: string, to: string) => replaceOnce(gunzipSync(made(kind).body), from, to);

  /** Damaged before the manifest: the manifest's bytes and SHA-256 describe the damaged object, its content digest the dump the script read. */
  async function verifyDamagedBefore(kind: BackupKind, dump: Buffer) {
    const body = gzipSync(dump);
    const verdict = await verifyBackup(deps(), (await store(kind, body, { ...made(kind), body })).key);
    return verdict;
  }

  it('GIVEN one character changed in a PostgreSQL COPY row WHEN verified THEN only the content check fails, naming both digests', async () => {
    // md5('1') is the name of customer 1; change its first character.
    const name = 'c4ca4238a0b923820dcc509a6f75849b';
    const verdict = await verifyDamagedBefore('postgres', changed('postgres', `1	${name}
`, `1	d${name.slice(1)}
`));
    expect(failedChecks(verdict)).toEqual(['content']);
    expect(detailOf(verdict, 'content')).toMatch(new RegExp(`not the one the script read before compressing it: SHA-256 [0-9a-f]{64}, the script's ${made('postgres').content?.sha256}`));
    expect(detailOf(verdict, 'format')).toMatch(/structure read to its end/);
  });

  it('GIVEN one value changed in a MySQL INSERT WHEN verified THEN only the content check fails', async () => {
    const verdict = await verifyDamagedBefore('mysql', changed('mysql', "(1,'tea')", "(1,'tee')"));
    expect(failedChecks(verdict)).toEqual(['content']);
  });

  it('GIVEN one row changed in a valid SQLite database WHEN verified THEN only the content check fails', async () => {
    const dir = scratchDir('sqlite-content');
    const file = join(dir, 'db');
    writeFileSync(file, gunzipSync(made('sqlite').body));
    run('sqlite3', [file, "UPDATE notes SET body = 'X' || substr(body, 2) WHERE id = 7;"]);
    const verdict = await verifyDamagedBefore('sqlite', readFileSync(file));
    expect(failedChecks(verdict)).toEqual(['content']);
    expect(verdict.figures['sqlite.integrityCheck']).toBe('ok');
  });

  it("GIVEN a file's bytes replaced at the same size WHEN verified THEN the content digest and the per-file index both fail", async () => {
    const verdict = await verifyDamagedBefore('files', changed('files', 'file 3 file 3 ', 'FILE 3 file 3 '));
    expect(failedChecks(verdict)).toEqual(['content', 'format']);
    expect(verdict.figures['tar.regularFiles']).toBe(7);
    expect(detailOf(verdict, 'format')).toMatch(/tar: the files are not those the backup read: the per-file index taken at backup lists 7 files \(SHA-256 [0-9a-f]{64}\), the archive holds 7 \(SHA-256 [0-9a-f]{64}\)/);
  });

  it('GIVEN a file renamed inside the archive (its header checksum made to match) WHEN verified THEN only the content check fails', async () => {
    const dump = changed('files', './f0.txt\0', './g0.txt\0');
    // The header's checksum over the new name, so that tar itself would read it.
    const at = dump.indexOf('./g0.txt\0');
    dump.fill(0x20, at + 148, at + 156);
    let sum = 0;
    for (let i = at; i < at + 512; i++) sum += dump[i] ?? 0;
    dump.write(`${sum.toString(8).padStart(6, '0')}\0 `, at + 148, 'latin1');
    const verdict = await verifyDamagedBefore('files', dump);
    expect(failedChecks(verdict)).toEqual(['content', 'format']);
    expect(detailOf(verdict, 'format')).toMatch(/the per-file index taken at backup lists 7 files/);
  });

  it('GIVEN a manifest whose per-file index lists another file set WHEN verified THEN the format check fails naming both counts', async () => {
    const base = made('files');
    const verdict = await verifyBackup(deps(), (await store('files', base.body, { ...base, files: { ...base.files!, index: { count: 8, sha256: 'a'.repeat(64) } } })).key);
    expect(failedChecks(verdict)).toEqual(['format']);
    expect(detailOf(verdict, 'format')).toMatch(/lists 8 files \(SHA-256 a{64}\), the archive holds 7/);
  });

  it('GIVEN an intact files backup WHEN verified THEN every file is hashed and the per-file index matches', async () => {
    const verdict = await verifyBackup(deps(), (await store('files', made('files').body, made('files'))).key);
    expect(failedChecks(verdict)).toEqual([]);
    expect(verdict.figures['tar.indexedFiles']).toBe(7);
    expect(detailOf(verdict, 'format')).toBe('tar structure read to its end');
  });

  it('GIVEN a files manifest without a per-file index (no python3 on the instance) WHEN verified THEN the format check passes and says the index was not taken', async () => {
    const base = made('files');
    const { index: _index, ...withoutIndex } = base.files!;
    const verdict = await verifyBackup(deps(), (await store('files', base.body, { ...base, files: withoutIndex })).key);
    expect(failedChecks(verdict)).toEqual([]);
    expect(detailOf(verdict, 'format')).toMatch(/skipped: per-file index: the manifest has none \(the backup instance had no python3, or an older script\)/);
  });

  it('GIVEN a dump changed after the manifest was written WHEN verified THEN integrity and content both fail', async () => {
    const body = gzipSync(changed('mysql', "(2,'coffee')", "(2,'toffee')"));
    const verdict = await verifyBackup(deps(), (await store('mysql', body, made('mysql'))).key);
    expect(failedChecks(verdict)).toEqual(['content', 'integrity']);
  });

  it('GIVEN a manifest without a content digest (an older script) WHEN verified THEN the content check is skipped with the reason, not passed', async () => {
    const { key } = await store('sqlite', made('sqlite').body, { ...made('sqlite'), content: undefined, body: made('sqlite').body });
    const verdict = await verifyBackup(deps(), key);
    expect(verdict.passed).toBe(true);
    expect(verdict.checks.find((check) => check.name === 'content')).toMatchObject({ status: 'skipped', detail: expect.stringMatching(/no content digest \(made by an older backup script\)/) });
  });
});

describe('archived and missing objects', () => {
  it('GIVEN a backup already moved to Glacier WHEN verified THEN the content checks are skipped with the reason', async () => {
    const target = `cold-${++counter}`;
    const at = new Date(Date.now() - 3 * HOUR);
    const key = backupKey('monthly', target, 'files', at);
    await putBackup(s3, bucket, key, made('files').body, manifestFor(made('files'), { bucket, key, target, tier: 'monthly', finishedAt: at }), { storageClass: 'GLACIER' });
    await s3.send(new PutObjectCommand({ Bucket: replicaBucket, Key: key, Body: made('files').body }));
    const verdict = await verifyBackup(deps(), key);
    expect(verdict.passed).toBe(true);
    expect(verdict.checks.find((check) => check.name === 'integrity')).toMatchObject({ status: 'skipped', detail: expect.stringMatching(/is in GLACIER/) });
  });

  it('GIVEN a key that is not a backup key WHEN verified THEN it is rejected naming the layout', async () => {
    await expect(verifyBackup(deps(), 'daily/app/notes.txt')).rejects.toThrow(/is not a backup key/);
  });
});
