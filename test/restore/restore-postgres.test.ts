import { type S3Client } from '@aws-sdk/client-s3';
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MotoServer } from '../support/moto';
import { PostgresServer } from '../support/postgres';
import { run, scratchDir, waitFor } from '../support/processes';
import { backupScriptEnv, scriptBackupPerState, changedContentCopyOf, corruptCopyOf, killRestoreWhen, markVerified, putPassword, runInstanceScript, storeBackup, type StoredBackup } from '../support/restore-fixtures';

/**
 * restore.sh against a real PostgreSQL server and moto: a backup made with pg_dump goes back
 * into a scratch database equal to the source; a backup that does not match its manifest is
 * refused before any database is created; a drill checks and removes its copy.
 */

let moto: MotoServer;
let pg: PostgresServer;
let s3: S3Client;
let work: string;
let keyArn: string;
const BUCKET = 'restore-pg-backups';
const TARGET = 'orders-db';

beforeAll(async () => {
  [moto, pg] = await Promise.all([MotoServer.start(), PostgresServer.start()]);
  s3 = moto.s3();
  work = scratchDir('restore-pg');
  ({ keyArn } = await moto.createBackupBucket(BUCKET));
  await putPassword(moto, '/app/orders/db-password', pg.password);
  pg.createDatabase('orders');
  pg.psql(
    'orders',
    `CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL, email text UNIQUE);
     CREATE TABLE orders (id serial PRIMARY KEY, customer_id int REFERENCES customers, total numeric(10,2), note text);
     CREATE SCHEMA billing;
     CREATE TABLE billing.invoices (id bigserial PRIMARY KEY, order_id int REFERENCES orders, issued date);
     INSERT INTO customers (name, email) SELECT 'customer ' || i, 'c' || i || '@example.com' FROM generate_series(1, 300) i;
     INSERT INTO orders (customer_id, total, note) SELECT 1 + i % 300, i * 1.25, repeat('x', i % 50) FROM generate_series(1, 2000) i;
     INSERT INTO billing.invoices (order_id, issued) SELECT i, DATE '2026-01-01' + i % 365 FROM generate_series(1, 1500) i;`,
  );
});

afterAll(async () => {
  await Promise.all([moto?.stop(), pg?.stop()]);
});

/** Row count and a content hash per table: equal fingerprints mean equal data. */
/** backup.sh's backup of the source as it is now (one run per state of its tables). */
const scriptBackup = scriptBackupPerState(() => fingerprint('orders'));

function fingerprint(database: string): Record<string, string> {
  return pg.fingerprint(database);
}

function databases(): string[] {
  return pg.psql('postgres', 'SELECT datname FROM pg_database ORDER BY 1').trim().split('\n');
}

/** pg_dump custom format, gzip-compressed, with the row counts the manifest carries. */
async function backupOf(database: string, at: Date, verified: boolean | undefined = true): Promise<StoredBackup & { body: Buffer }> {
  const file = join(work, `${database}-${at.getTime()}.pgdump.gz`);
  run('bash', ['-c', `set -o pipefail; pg_dump -Fc -d ${database} | gzip -c > ${file}`], { env: pg.env(database) });
  const body = readFileSync(file);
  const rowCounts = Object.fromEntries(Object.entries(fingerprint(database)).map(([table, value]) => [table, Number(value.split(':')[0])]));
  const stored = await storeBackup(s3, {
    bucket: BUCKET,
    tier: 'daily',
    target: TARGET,
    kind: 'postgres',
    body,
    at,
    verified,
    database: { tableCount: Object.keys(rowCounts).length, rowCounts },
  });
  return { ...stored, body };
}

/** A real dump of `orders` whose manifest counts one customer more than it holds. */
async function backupCountingOneCustomerMore(at: Date): Promise<StoredBackup> {
  const file = join(work, `one-more-${at.getTime()}.pgdump.gz`);
  run('bash', ['-c', `set -o pipefail; pg_dump -Fc -d orders | gzip -c > ${file}`], { env: pg.env('orders') });
  const counts = Object.fromEntries(Object.entries(fingerprint('orders')).map(([table, value]) => [table, Number(value.split(':')[0])]));
  return storeBackup(s3, {
    bucket: BUCKET,
    tier: 'daily',
    target: TARGET,
    kind: 'postgres',
    body: readFileSync(file),
    at,
    verified: true,
    database: { tableCount: 3, rowCounts: { ...counts, 'public.customers': (counts['public.customers'] ?? 0) + 1 } },
  });
}

function restoreEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  return backupScriptEnv(moto, keyArn, {
    BK_TARGET: TARGET,
    BK_KIND: 'postgres',
    BK_BUCKET: BUCKET,
    BK_DB_HOST: '127.0.0.1',
    BK_DB_PORT: String(pg.port),
    BK_DB_NAME: 'orders',
    BK_DB_USER: pg.user,
    BK_PASSWORD_SSM_PARAMETER: '/app/orders/db-password',
    RS_WORK_DIR: work,
    ...extra,
  });
}

describe('restore.sh with PostgreSQL', () => {
  it('restores the newest verified backup into a scratch database equal to the source, leaving live alone', async () => {
    // GIVEN a verified backup, then a newer one whose verification failed
    const good = await backupOf('orders', new Date('2026-11-20T02:00:00Z'));
    await backupOf('orders', new Date('2026-11-21T02:00:00Z'), false);
    const source = fingerprint('orders');
    pg.psql('orders', "INSERT INTO customers (name) VALUES ('written after the backup')");
    const live = fingerprint('orders');
    // WHEN restored in scratch mode without naming a backup
    const restore = runInstanceScript('restore.sh', restoreEnv({ RS_MODE: 'scratch', RS_SCRATCH_NAME: 'orders_scratch', RS_TIERS: 'daily weekly' }));
    // THEN the verified one was chosen and the scratch database equals the source at backup time
    expect(restore.status, restore.stderr).toBe(0);
    expect(restore.result).toMatchObject({ key: good.key, mode: 'scratch', restoredTo: 'orders_scratch', bytes: good.body.length, previousDataKeptAs: null });
    expect(fingerprint('orders_scratch')).toEqual(source);
    // AND the live database is exactly as it was
    expect(fingerprint('orders')).toEqual(live);
  });

  it('refuses a backup whose bytes differ from its manifest before creating any database', async () => {
    // GIVEN a backup whose stored object differs from what its manifest describes (one flipped bit)
    const stored = await backupOf('orders', new Date('2026-11-19T02:00:00Z'));
    const key = await corruptCopyOf(s3, BUCKET, stored.key, (corrupted) => {
      const middle = Math.floor(corrupted.length / 2);
      corrupted.writeUInt8(corrupted.readUInt8(middle) ^ 0x01, middle);
      return corrupted;
    });
    const before = { live: fingerprint('orders'), databases: databases() };
    // WHEN it is restored by key
    const restore = runInstanceScript('restore.sh', restoreEnv({ RS_MODE: 'scratch', RS_KEY: key, RS_SCRATCH_NAME: 'orders_corrupt' }));
    // THEN the script refuses with exit 7, names the mismatch, and no database was created or changed
    expect(restore.status).toBe(7);
    expect(restore.stderr).toMatch(/REFUSED: the backup does not match its manifest.*sha256/);
    expect(restore.result).toBeUndefined();
    expect(databases()).toEqual(before.databases);
    expect(fingerprint('orders')).toEqual(before.live);
  });

  it('refuses a dump whose content is not what the backup script read, though object and manifest agree, before creating any database', async () => {
    // GIVEN a backup one byte of whose dump changed before its manifest was written
    const stored = await backupOf('orders', new Date('2026-11-13T05:00:00Z'));
    const key = await changedContentCopyOf(s3, BUCKET, stored.key, (dump) => {
      dump.writeUInt8(dump.readUInt8(dump.length >> 1) ^ 0x01, dump.length >> 1);
      return dump;
    });
    const before = { live: fingerprint('orders'), databases: databases() };
    // WHEN it is restored by key THEN exit 7 naming the content digest, and no database was created or changed
    const restore = runInstanceScript('restore.sh', restoreEnv({ RS_MODE: 'scratch', RS_KEY: key, RS_SCRATCH_NAME: 'orders_changed' }));
    expect(restore.status).toBe(7);
    expect(restore.stderr).toMatch(/decompresses to a dump other than the one the backup script read/);
    expect(databases()).toEqual(before.databases);
    expect(fingerprint('orders')).toEqual(before.live);
  });

  it('picks the newest backup started at or before RS_BEFORE', async () => {
    // GIVEN backups at 01:00 and 03:00
    const early = await backupOf('orders', new Date('2026-11-18T01:00:00Z'), undefined);
    await backupOf('orders', new Date('2026-11-18T03:00:00Z'), undefined);
    // WHEN asked for the state before 02:30 in another zone
    const restore = runInstanceScript('restore.sh', restoreEnv({ RS_MODE: 'scratch', RS_BEFORE: '2026-11-18T03:30:00+01:00', RS_SCRATCH_NAME: 'orders_before' }));
    // THEN the 01:00 backup is restored
    expect(restore.status, restore.stderr).toBe(0);
    expect(restore.result).toMatchObject({ key: early.key });
  });

  it('drills: checks tables, row counts and probes, removes the scratch copy and reports', async () => {
    // GIVEN a verified backup and a probe that must hold in it
    const stored = await backupOf('orders', new Date('2026-11-17T02:00:00Z'));
    const probes = Buffer.from(JSON.stringify(["SELECT count(*) > 100 FROM customers", "SELECT 1 FROM billing.invoices LIMIT 1"])).toString('base64');
    // WHEN drilled
    const restore = runInstanceScript('restore.sh', restoreEnv({ RS_MODE: 'scratch', RS_KEY: stored.key, RS_DRILL: '1', RS_DRILL_PROBES: probes }));
    // THEN every check passed and the scratch database is gone
    expect(restore.status, restore.stderr).toBe(0);
    expect(restore.drill?.passed).toBe(true);
    expect(restore.drill?.checks.map((check) => [check.name, check.status])).toEqual([
      ['restore', 'passed'],
      ['tables', 'passed'],
      ['rowCounts', 'passed'],
      ['probe1', 'passed'],
      ['probe2', 'passed'],
      ['cleanup', 'passed'],
    ]);
    expect(databases().filter((name) => name.startsWith('orders_restore_'))).toEqual([]);
  });

  it('fails a drill whose restored rows differ from the manifest, and still removes the copy', async () => {
    // GIVEN a manifest that claims one more customer than the dump holds
    const stored = await backupCountingOneCustomerMore(new Date('2026-11-16T02:00:00Z'));
    const probes = Buffer.from(JSON.stringify(['SELECT false'])).toString('base64');
    // WHEN drilled
    const restore = runInstanceScript('restore.sh', restoreEnv({ RS_MODE: 'scratch', RS_KEY: stored.key, RS_DRILL: '1', RS_DRILL_PROBES: probes }));
    // THEN the drill fails with exit 9, naming the table and the probe, and the copy is removed
    expect(restore.status).toBe(9);
    expect(restore.drill?.passed).toBe(false);
    expect(restore.drill?.checks).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ name: 'rowCounts', status: 'failed', detail: expect.stringMatching(/public\.customers: manifest \d+, restored \d+/) }),
        expect.objectContaining({ name: 'probe1', status: 'failed' }),
      ]),
    );
    expect(databases().filter((name) => name.startsWith('orders_restore_'))).toEqual([]);
  });

  it('fails a scratch restore whose restored rows differ from the manifest, naming the table, and removes the copy', async () => {
    // GIVEN a structurally valid dump whose manifest counted one more customer (a row lost before the upload)
    const stored = await backupCountingOneCustomerMore(new Date('2026-11-15T02:00:00Z'));
    const before = databases();
    // WHEN restored into a scratch database
    const restore = runInstanceScript('restore.sh', restoreEnv({ RS_MODE: 'scratch', RS_KEY: stored.key, RS_SCRATCH_NAME: 'orders_short' }));
    // THEN it fails (exit 11) naming the table and both counts, reports no restore, and leaves no copy
    expect(restore.status).toBe(11);
    expect(restore.stderr).toMatch(/does not match the backup's manifest \(rowCounts: public\.customers: manifest \d+, restored \d+\); nothing was put in place/);
    expect(restore.result).toBeUndefined();
    expect(databases()).toEqual(before);

    // AND a replace of the same backup keeps the live database as it is
    const live = fingerprint('orders');
    const replace = runInstanceScript('restore.sh', restoreEnv({ RS_MODE: 'replace', RS_CONFIRM: TARGET, RS_SAFETY_TIER: 'predeploy', RS_KEY: stored.key }));
    expect(replace.status).toBe(11);
    expect(replace.stderr).toMatch(/does not match the backup's manifest .* the live data is untouched/);
    expect(fingerprint('orders')).toEqual(live);
    expect(databases().filter((name) => name.startsWith('orders_rs_') || name.startsWith('orders_pre_restore_'))).toEqual(before.filter((name) => name.startsWith('orders_pre_restore_')));
  });

  it('refuses replace without confirmation, and scratch into the live database', () => {
    // WHEN replace lacks RS_CONFIRM THEN exit 2 naming it
    const replace = runInstanceScript('restore.sh', restoreEnv({ RS_MODE: 'replace', RS_SAFETY_TIER: 'predeploy' }));
    expect(replace.status).toBe(2);
    expect(replace.stderr).toMatch(/RS_CONFIRM must equal the target name 'orders-db'/);
    // WHEN the scratch name is the live database THEN exit 2
    const scratch = runInstanceScript('restore.sh', restoreEnv({ RS_MODE: 'scratch', RS_SCRATCH_NAME: 'orders' }));
    expect(scratch.status).toBe(2);
    expect(scratch.stderr).toMatch(/RS_SCRATCH_NAME 'orders' is a system, live or other target's database/);
  });

  it('says which backup is missing when the manifest is absent', async () => {
    // GIVEN a key with no object or manifest
    const key = `daily/${TARGET}/2026/11/01/${TARGET}_20261101T020000Z.pgdump.gz`;
    writeFileSync(join(work, 'unused'), '');
    // WHEN restored THEN exit 5, saying a backup without a manifest is incomplete
    const restore = runInstanceScript('restore.sh', restoreEnv({ RS_MODE: 'scratch', RS_KEY: key }));
    expect(restore.status).toBe(5);
    expect(restore.stderr).toMatch(/without a manifest is incomplete/);
  });

  it('round trip with the real backup script: its manifest counts match the restored copy', async () => {
    // GIVEN a backup taken by backup.sh and verified
    const { key } = scriptBackup(restoreEnv({}));
    await markVerified(s3, BUCKET, key, true);
    const source = fingerprint('orders');
    // WHEN drilled from it
    const restore = runInstanceScript('restore.sh', restoreEnv({ RS_MODE: 'scratch', RS_KEY: key, RS_DRILL: '1' }));
    // THEN the drill passes against backup.sh's own counts, and the source is unchanged
    expect(restore.status, restore.stderr).toBe(0);
    expect(restore.drill?.checks.filter((check) => check.status !== 'passed')).toEqual([]);
    expect(fingerprint('orders')).toEqual(source);
  });

  it('replace: safety backup, restore into a new database, swap by rename with sessions open, old kept', async () => {
    // GIVEN a verified backup, then a bad change, and an application session on the live database
    const { key } = scriptBackup(restoreEnv({}));
    await markVerified(s3, BUCKET, key, true);
    const atBackup = fingerprint('orders');
    pg.psql('orders', 'DELETE FROM billing.invoices WHERE id % 2 = 0');
    const damaged = fingerprint('orders');
    const session = spawn('psql', ['-X', '-q', '-d', 'orders'], { env: pg.env('orders'), stdio: ['pipe', 'ignore', 'ignore'] });
    session.stdin.write('SELECT 1;\n');
    await waitFor('the session to connect', () => pg.psql('postgres', "SELECT count(*) FROM pg_stat_activity WHERE datname = 'orders'").trim() !== '0');
    try {
      // WHEN replaced with confirmation
      const restore = runInstanceScript('restore.sh', restoreEnv({ RS_MODE: 'replace', RS_CONFIRM: TARGET, RS_SAFETY_TIER: 'predeploy', RS_KEY: key }));
      // THEN the live name holds the backup's data, the damaged one is kept aside, a safety backup exists
      expect(restore.status, restore.stderr).toBe(0);
      expect(fingerprint('orders')).toEqual(atBackup);
      const aside = String(restore.result?.previousDataKeptAs);
      expect(aside).toMatch(/^orders_pre_restore_\d{14}$/);
      expect(fingerprint(aside)).toEqual(damaged);
      expect(String(restore.result?.safetyBackupKey)).toMatch(new RegExp(`^predeploy/${TARGET}/`));
      expect(databases().filter((name) => name.startsWith('orders_rs_'))).toEqual([]);
      // AND the application can connect again
      expect(pg.psql('orders', 'SELECT count(*) FROM customers').trim()).toMatch(/^\d+$/);
    } finally {
      session.kill();
    }
  });

  it('replace where the database does not exist (a rebuilt server): no safety backup, the backup restored under the live name', async () => {
    // GIVEN a verified backup, and an instance whose server has no such database (here: moved out of the way)
    const { key } = scriptBackup(restoreEnv({}));
    await markVerified(s3, BUCKET, key, true);
    const atBackup = fingerprint('orders');
    pg.psql('postgres', 'ALTER DATABASE orders RENAME TO orders_elsewhere');
    const databasesBefore = databases();
    try {
      // WHEN replaced with confirmation
      const restore = runInstanceScript('restore.sh', restoreEnv({ RS_MODE: 'replace', RS_CONFIRM: TARGET, RS_SAFETY_TIER: 'predeploy', RS_KEY: key }));
      // THEN the database exists under its live name with the backup's data, and nothing was kept or backed up first
      expect(restore.status, restore.stderr).toBe(0);
      expect(restore.stderr).toMatch(/replace: database orders does not exist here, so there is nothing to keep: no safety backup/);
      expect(fingerprint('orders')).toEqual(atBackup);
      expect(restore.result).toMatchObject({ restoredTo: 'orders', previousDataKeptAs: null, safetyBackupKey: null });
      expect(databases().filter((name) => !databasesBefore.includes(name))).toEqual(['orders']);
    } finally {
      pg.psql('postgres', 'DROP DATABASE IF EXISTS orders');
      pg.psql('postgres', 'ALTER DATABASE orders_elsewhere RENAME TO orders');
    }
  });

  it('a replace killed during pg_restore leaves the live database intact', async () => {
    // GIVEN a backup with enough rows that pg_restore takes a moment
    pg.psql('orders', "CREATE TABLE IF NOT EXISTS events AS SELECT i AS id, md5(i::text) AS payload FROM generate_series(1, 300000) i");
    const { key } = scriptBackup(restoreEnv({}));
    pg.psql('orders', 'DROP TABLE events; UPDATE customers SET name = upper(name)');
    const before = { live: fingerprint('orders'), databases: databases() };
    // WHEN the restore is SIGKILLed once its incoming database exists
    const killed = await killRestoreWhen(
      restoreEnv({ RS_MODE: 'replace', RS_CONFIRM: TARGET, RS_SAFETY_TIER: 'predeploy', RS_KEY: key }),
      () => databases().some((name) => name.startsWith('orders_rs_')),
    );
    // THEN it died before any swap: the live database is exactly as it was and still accepts connections
    expect(killed.killed).toBe(true);
    expect(killed.result).toBeUndefined();
    expect(fingerprint('orders')).toEqual(before.live);
    expect(databases().filter((name) => name.startsWith('orders_pre_restore_'))).toEqual(before.databases.filter((name) => name.startsWith('orders_pre_restore_')));
  });

  it("a failed existence check never ends in dropping a database the restore did not create", async () => {
    // GIVEN someone else's database, and a psql whose existence query for it fails (a dropped connection)
    const stored = await backupOf('orders', new Date('2026-11-16T02:00:00Z'));
    pg.createDatabase('victim_db');
    pg.psql('victim_db', "CREATE TABLE kept (note text); INSERT INTO kept VALUES ('still here')");
    const shim = join(work, 'flaky-psql');
    mkdirSync(shim, { recursive: true });
    const realPsql = run('bash', ['-c', 'command -v psql']).trim();
    writeFileSync(
      join(shim, 'psql'),
      `#!/bin/bash\nfor arg in "$@"; do case "$arg" in *"FROM pg_database WHERE datname = 'victim_db'"*) echo 'psql: error: server closed the connection unexpectedly' >&2; exit 2 ;; esac; done\nexec ${realPsql} "$@"\n`,
      { mode: 0o755 },
    );
    // WHEN a scratch restore names it
    const restore = runInstanceScript('restore.sh', restoreEnv({ RS_MODE: 'scratch', RS_KEY: stored.key, RS_SCRATCH_NAME: 'victim_db', PATH: `${shim}:${process.env.PATH ?? ''}` }));
    // THEN the restore fails closed, and the database is there with its data
    expect(restore.status).toBe(4);
    expect(restore.stderr).toMatch(/cannot check whether database victim_db exists/);
    expect(pg.psql('victim_db', 'SELECT note FROM kept').trim()).toBe('still here');
  });
});
