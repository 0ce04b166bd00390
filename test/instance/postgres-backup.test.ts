import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backupKey } from '../../contracts/manifest';
import {
  backupEnv,
  createSecret,
  fetchBackup,
  listKeys,
  processesExposing,
  putSecureStringParameter,
  runBackupScript,
  trickyPassword,
} from '../support/backup-script';
import { MotoServer } from '../support/moto';
import { PostgresServer } from '../support/postgres';
import { removeDir, run, scratchDir, stopProcess } from '../support/processes';

describe('backup.sh, kind postgres', () => {
  let moto: MotoServer;
  let pg: PostgresServer;
  let bucket: string;
  let keyArn: string;
  let work: string;
  const password = trickyPassword();

  /** Row count and an order-independent content checksum of each table (all four, `sales."Order Lines"` among them). */
  const fingerprint = (database: string): Record<string, string> => {
    const tables = pg.fingerprint(database);
    expect(Object.keys(tables)).toEqual(['public.customers', 'public.events', 'public.orders', 'sales.Order Lines']);
    return tables;
  };

  beforeAll(async () => {
    [moto, pg] = await Promise.all([MotoServer.start(), PostgresServer.start()]);
    ({ bucket, keyArn } = await moto.createBackupBucket('pg-backups'));
    work = scratchDir('pg-backup');
    pg.createDatabase('shop');
    pg.psql(
      'shop',
      `CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL, email text, joined date);
       INSERT INTO customers (name, email, joined) SELECT 'Customer ' || i || ' Zoë', CASE WHEN i % 7 = 0 THEN NULL ELSE 'c' || i || '@example.com' END, date '2020-01-01' + i FROM generate_series(1, 500) i;
       CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id int REFERENCES customers, amount numeric(12,2), placed_at timestamptz, details jsonb, receipt bytea);
       INSERT INTO orders (customer_id, amount, placed_at, details, receipt) SELECT 1 + i % 500, i * 1.37, timestamptz '2024-01-01 00:00+00' + i * interval '17 minutes', jsonb_build_object('items', i % 5, 'note', repeat('x', i % 40)), decode(md5(i::text), 'hex') FROM generate_series(1, 3000) i;
       CREATE SCHEMA sales;
       CREATE TABLE sales."Order Lines" (order_id bigint, line int, sku text, PRIMARY KEY (order_id, line));
       INSERT INTO sales."Order Lines" SELECT i, l, 'SKU-' || (i * l) FROM generate_series(1, 400) i, generate_series(1, 3) l;
       CREATE TABLE events (id bigserial PRIMARY KEY, note text, at timestamptz DEFAULT now());
       CREATE VIEW big_orders AS SELECT * FROM orders WHERE amount > 1000;`,
    );
    // A least-privilege backup login (PostgreSQL 14+: pg_read_all_data) with a password that
    // needs escaping in a password file.
    pg.psql('postgres', `CREATE ROLE backup_reader LOGIN PASSWORD '${password.replace(/'/g, "''")}'; GRANT pg_read_all_data TO backup_reader;`);
    await putSecureStringParameter(moto, '/backup-kit/shop/db-password', password);
    createSecret(moto, 'backup-kit/shop-db', JSON.stringify({ username: 'backup_reader', password, engine: 'postgres' }));
  });

  afterAll(async () => {
    await Promise.all([moto?.stop(), pg?.stop()]);
    removeDir(work);
  });

  const inputs = (extra: Record<string, string | undefined> = {}) =>
    backupEnv(moto, {
      BK_TARGET: 'shop-db',
      BK_KIND: 'postgres',
      BK_BUCKET: bucket,
      BK_KMS_KEY_ID: keyArn,
      BK_DB_HOST: '127.0.0.1',
      BK_DB_PORT: String(pg.port),
      BK_DB_NAME: 'shop',
      BK_DB_USER: 'backup_reader',
      BK_PASSWORD_SSM_PARAMETER: '/backup-kit/shop/db-password',
      ...extra,
    });

  const restore = (dump: Buffer, database: string): void => {
    const file = join(work, `${database}.pgdump`);
    writeFileSync(file, dump);
    pg.createDatabase(database);
    run('pg_restore', ['--no-owner', '--exit-on-error', '-d', database, file], { env: pg.env(database) });
  };

  it('dumps with the password from an SSM SecureString; the dump restores to the same rows and content', async () => {
    // GIVEN the password in an SSM SecureString parameter
    // WHEN the backup runs
    const { value: run1, exposed } = await processesExposing(password, () => runBackupScript(inputs()));

    // THEN it succeeds, and the password was never in a command line, an environment or the output
    expect(run1.status, run1.stderr).toBe(0);
    expect(exposed).toEqual([]);
    expect(run1.stdout + run1.stderr).not.toContain(password);

    // AND the object matches its manifest, which matches the result line
    const stored = await fetchBackup(moto, bucket, run1.result!.key);
    expect(run1.result).toMatchObject({ target: 'shop-db', tier: 'daily', kind: 'postgres', bucket, bytes: stored.manifest.bytes, sha256: stored.manifest.sha256 });
    expect(run1.result!.key).toBe(backupKey('daily', 'shop-db', 'postgres', new Date(stored.manifest.startedAt)));
    expect(stored.manifest).toMatchObject({ kind: 'postgres', format: 'pg_custom', compression: 'gzip' });
    expect(stored.manifest.tools).toHaveProperty('pg_dump');
    expect(stored.dump.subarray(0, 5).toString()).toBe('PGDMP');

    // AND it restores with pg_restore to the same rows and content, counted in the manifest
    restore(stored.dump, 'restored_ssm');
    expect(fingerprint('restored_ssm')).toEqual(fingerprint('shop'));
    expect(stored.manifest.database).toEqual({
      tableCount: 4,
      rowCounts: { 'public.customers': 500, 'public.orders': 3000, 'sales.Order Lines': 1200, 'public.events': 0 },
    });
    expect(pg.psql('restored_ssm', 'SELECT count(*) FROM big_orders').trim()).toBe(pg.psql('shop', 'SELECT count(*) FROM big_orders').trim());
  });

  it('reads the password from a JSON Secrets Manager secret', async () => {
    const { value: run1, exposed } = await processesExposing(password, () =>
      runBackupScript(inputs({ BK_PASSWORD_SSM_PARAMETER: undefined, BK_PASSWORD_SECRET_ID: 'backup-kit/shop-db' })),
    );
    expect(run1.status, run1.stderr).toBe(0);
    expect(exposed).toEqual([]);
    expect(run1.stdout + run1.stderr).not.toContain(password);
    const stored = await fetchBackup(moto, bucket, run1.result!.key);
    restore(stored.dump, 'restored_secret');
    expect(fingerprint('restored_secret')).toEqual(fingerprint('shop'));
  });

  it('counts rows in the very snapshot it dumps while a writer keeps inserting', async () => {
    // GIVEN a writer inserting into events every few milliseconds
    const writer: ChildProcess = spawn(
      'bash',
      ['-c', `for i in $(seq 1 200000); do echo "INSERT INTO events (note) VALUES ('event $i');"; done | psql -X -q -v ON_ERROR_STOP=1 -d shop`],
      { env: pg.env('shop'), stdio: 'ignore' },
    );
    try {
      const countEvents = (database: string) => Number(pg.psql(database, 'SELECT count(*) FROM events').trim());
      const before = countEvents('shop');

      // WHEN the backup runs meanwhile
      const run1 = await runBackupScript(inputs({ BK_TARGET: 'busy-db' }));
      const after = countEvents('shop');

      // THEN the manifest's count is exactly the dumped rows, though the table kept growing
      expect(run1.status, run1.stderr).toBe(0);
      const stored = await fetchBackup(moto, bucket, run1.result!.key);
      restore(stored.dump, 'restored_busy');
      const counted = stored.manifest.database?.rowCounts['public.events'];
      expect(countEvents('restored_busy')).toBe(counted);
      expect(counted).toBeGreaterThan(before);
      expect(after).toBeGreaterThan(counted!);
    } finally {
      await stopProcess(writer);
    }
  });

  it('leaves tables above BK_ROW_COUNT_MAX_TABLE_MB out of the row counts but still counts them as tables', async () => {
    const run1 = await runBackupScript(inputs({ BK_ROW_COUNT_MAX_TABLE_MB: '0', BK_TARGET: 'no-counts' }));
    expect(run1.status, run1.stderr).toBe(0);
    const { manifest } = await fetchBackup(moto, bucket, run1.result!.key);
    expect(manifest.database?.tableCount).toBe(4);
    expect(Object.keys(manifest.database?.rowCounts ?? {})).not.toContain('public.orders');
  });

  it('exits 3 (credentials) when the database refuses the password, and stores nothing', async () => {
    await putSecureStringParameter(moto, '/backup-kit/shop/wrong-password', 'not-the-password');
    const run1 = await runBackupScript(inputs({ BK_TARGET: 'wrong-pw', BK_PASSWORD_SSM_PARAMETER: '/backup-kit/shop/wrong-password' }));
    expect(run1.status).toBe(3);
    expect(run1.stderr).toMatch(/stage credentials failed \(exit 3\): PostgreSQL at 127\.0\.0\.1:\d+, database 'shop', user 'backup_reader' refused the password/);
    expect((await listKeys(moto, bucket)).filter((key) => key.includes('/wrong-pw/'))).toEqual([]);
  });

  it('exits 3 (credentials) when the SSM parameter does not exist', async () => {
    const run1 = await runBackupScript(inputs({ BK_TARGET: 'no-param', BK_PASSWORD_SSM_PARAMETER: '/backup-kit/missing' }));
    expect(run1.status).toBe(3);
    expect(run1.stderr).toMatch(/cannot read SSM parameter '\/backup-kit\/missing' \(BK_PASSWORD_SSM_PARAMETER\): .*ParameterNotFound/);
  });

  it('exits 4 (dump) when the database does not exist, and stores nothing', async () => {
    const run1 = await runBackupScript(inputs({ BK_TARGET: 'no-db', BK_DB_NAME: 'no_such_db' }));
    expect(run1.status).toBe(4);
    expect(run1.stderr).toMatch(/stage dump failed \(exit 4\): cannot connect to PostgreSQL .*database "no_such_db" does not exist/);
    expect((await listKeys(moto, bucket)).filter((key) => key.includes('/no-db/'))).toEqual([]);
  });
});
