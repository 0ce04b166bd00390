import { type S3Client } from '@aws-sdk/client-s3';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MariaDbServer } from '../support/mariadb';
import { MotoServer } from '../support/moto';
import { run, scratchDir } from '../support/processes';
import { backupScriptEnv, scriptBackupPerState, changedContentCopyOf, corruptCopyOf, killRestoreWhen, markVerified, putPassword, runInstanceScript, storeBackup, type StoredBackup } from '../support/restore-fixtures';

/** restore.sh against a real MariaDB server and moto. */

let moto: MotoServer;
let db: MariaDbServer;
let s3: S3Client;
let work: string;
let keyArn: string;
const BUCKET = 'restore-mysql-backups';
const TARGET = 'shop-db';

beforeAll(async () => {
  [moto, db] = await Promise.all([MotoServer.start(), MariaDbServer.start()]);
  s3 = moto.s3();
  work = scratchDir('restore-mysql');
  ({ keyArn } = await moto.createBackupBucket(BUCKET));
  await putPassword(moto, '/app/shop/db-password', db.password);
  db.rootSql('CREATE DATABASE shop CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci');
  db.sql(
    'shop',
    `CREATE TABLE products (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(100) NOT NULL, price DECIMAL(10,2)) ENGINE=InnoDB;
     CREATE TABLE orders (id INT AUTO_INCREMENT PRIMARY KEY, product_id INT, quantity INT, note TEXT, FOREIGN KEY (product_id) REFERENCES products(id)) ENGINE=InnoDB;
     INSERT INTO products (name, price) SELECT CONCAT('product ', seq), seq * 0.5 FROM seq_1_to_400;
     INSERT INTO orders (product_id, quantity, note) SELECT 1 + seq % 400, seq % 7, REPEAT('é', seq % 30) FROM seq_1_to_3000;`,
  );
});

afterAll(async () => {
  await Promise.all([moto?.stop(), db?.stop()]);
});

/** backup.sh's backup of the source as it is now (one run per state of its tables). */
const scriptBackup = scriptBackupPerState(() => fingerprint('shop'));

function fingerprint(database: string): Record<string, string> {
  const columnsByTable = db
    .sql(database, `SELECT TABLE_NAME, GROUP_CONCAT(COLUMN_NAME ORDER BY ORDINAL_POSITION) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = '${database}' GROUP BY TABLE_NAME ORDER BY 1`)
    .trim()
    .split('\n')
    .map((line) => line.split('\t') as [string, string]);
  // One query for all tables: a row per table, its name then its count and content hash (of all
  // of it: GROUP_CONCAT stops at 1024 bytes unless told otherwise).
  const perTable = columnsByTable.map(
    ([table, columns]) => `SELECT '${table}', CONCAT(COUNT(*), ':', MD5(COALESCE(GROUP_CONCAT(CONCAT_WS('|', ${columns}) ORDER BY id SEPARATOR '\\n'), ''))) FROM \`${table}\``,
  );
  const lines = db.sql(database, `SET SESSION group_concat_max_len = 1073741824; ${perTable.join(' UNION ALL ')}`).trim().split('\n');
  return Object.fromEntries(lines.map((line) => line.split('\t') as [string, string]));
}

function schemas(): string[] {
  return db.rootSql('SHOW DATABASES').trim().split('\n');
}

async function backupOf(database: string, at: Date, verified = true): Promise<StoredBackup & { body: Buffer }> {
  db.rootSql('SET GLOBAL group_concat_max_len = 67108864');
  const file = join(work, `${database}-${at.getTime()}.sql.gz`);
  run('bash', ['-c', `set -o pipefail; mariadb-dump --no-defaults -h 127.0.0.1 -P ${db.port} -u${db.user} --single-transaction --routines --triggers ${database} | gzip -c > ${file}`], {
    env: { ...process.env, MYSQL_PWD: db.password },
  });
  const body = readFileSync(file);
  const rowCounts = Object.fromEntries(Object.entries(fingerprint(database)).map(([table, value]) => [table, Number(value.split(':')[0])]));
  const stored = await storeBackup(s3, { bucket: BUCKET, tier: 'daily', target: TARGET, kind: 'mysql', body, at, verified, database: { tableCount: Object.keys(rowCounts).length, rowCounts } });
  return { ...stored, body };
}

function restoreEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  return backupScriptEnv(moto, keyArn, {
    BK_TARGET: TARGET,
    BK_KIND: 'mysql',
    BK_BUCKET: BUCKET,
    BK_DB_HOST: '127.0.0.1',
    BK_DB_PORT: String(db.port),
    BK_DB_NAME: 'shop',
    BK_DB_USER: db.user,
    BK_PASSWORD_SSM_PARAMETER: '/app/shop/db-password',
    RS_WORK_DIR: work,
    RS_TIERS: 'daily predeploy',
    ...extra,
  });
}

describe('restore.sh with MySQL (MariaDB)', () => {
  it('restores into a scratch schema equal to the source, with the live charset, leaving live alone', async () => {
    // GIVEN a verified backup and a change after it
    db.rootSql('SET GLOBAL group_concat_max_len = 67108864');
    const stored = await backupOf('shop', new Date('2026-11-20T02:00:00Z'));
    const source = fingerprint('shop');
    db.sql('shop', "DELETE FROM orders WHERE id <= 10");
    const live = fingerprint('shop');
    // WHEN restored in scratch mode
    const restore = runInstanceScript('restore.sh', restoreEnv({ RS_MODE: 'scratch', RS_SCRATCH_NAME: 'shop_scratch' }));
    // THEN the scratch schema equals the source at backup time, the live one is unchanged
    expect(restore.status, restore.stderr).toBe(0);
    expect(restore.result).toMatchObject({ key: stored.key, restoredTo: 'shop_scratch' });
    expect(fingerprint('shop_scratch')).toEqual(source);
    expect(fingerprint('shop')).toEqual(live);
    expect(db.rootSql("SELECT DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'shop_scratch'").trim()).toBe('utf8mb4_unicode_ci');
  });

  it('refuses a truncated backup before creating any schema', async () => {
    // GIVEN a stored object cut short of what its manifest describes
    const stored = await backupOf('shop', new Date('2026-11-19T02:00:00Z'));
    const key = await corruptCopyOf(s3, BUCKET, stored.key, (body) => body.subarray(0, body.length - 100));
    const before = { live: fingerprint('shop'), schemas: schemas() };
    // WHEN restored
    const restore = runInstanceScript('restore.sh', restoreEnv({ RS_MODE: 'scratch', RS_KEY: key, RS_SCRATCH_NAME: 'shop_truncated' }));
    // THEN refused with exit 7, nothing created or changed
    expect(restore.status).toBe(7);
    expect(restore.stderr).toMatch(/REFUSED: the backup does not match its manifest \(bytes \d+ vs \d+/);
    expect(schemas()).toEqual(before.schemas);
    expect(fingerprint('shop')).toEqual(before.live);
  });

  it('refuses a dump whose content is not what the backup script read, though object and manifest agree, before creating any schema', async () => {
    // GIVEN a backup one byte of whose dump changed before its manifest was written
    const stored = await backupOf('shop', new Date('2026-11-13T05:00:00Z'));
    const key = await changedContentCopyOf(s3, BUCKET, stored.key, (dump) => {
      dump.writeUInt8(dump.readUInt8(dump.length >> 1) ^ 0x01, dump.length >> 1);
      return dump;
    });
    const before = { live: fingerprint('shop'), schemas: schemas() };
    // WHEN restored THEN exit 7 naming the content digest, nothing created or changed
    const restore = runInstanceScript('restore.sh', restoreEnv({ RS_MODE: 'scratch', RS_KEY: key, RS_SCRATCH_NAME: 'shop_changed' }));
    expect(restore.status).toBe(7);
    expect(restore.stderr).toMatch(/decompresses to a dump other than the one the backup script read/);
    expect(schemas()).toEqual(before.schemas);
    expect(fingerprint('shop')).toEqual(before.live);
  });

  it('refuses a dump that selects its own database, which would write into live', async () => {
    // GIVEN a dump made with --databases (it carries USE `shop`)
    const file = join(work, 'with-use.sql.gz');
    run('bash', ['-c', `set -o pipefail; mariadb-dump --no-defaults -h 127.0.0.1 -P ${db.port} -u${db.user} --databases shop | gzip -c > ${file}`], {
      env: { ...process.env, MYSQL_PWD: db.password },
    });
    const stored = await storeBackup(s3, { bucket: BUCKET, tier: 'daily', target: TARGET, kind: 'mysql', body: readFileSync(file), at: new Date('2026-11-18T02:00:00Z'), verified: true });
    const live = fingerprint('shop');
    // WHEN restored in scratch mode THEN refused with exit 2, live unchanged
    const restore = runInstanceScript('restore.sh', restoreEnv({ RS_MODE: 'scratch', RS_KEY: stored.key, RS_SCRATCH_NAME: 'shop_use' }));
    expect(restore.status).toBe(2);
    expect(restore.stderr).toMatch(/selects its database/);
    expect(schemas()).not.toContain('shop_use');
    expect(fingerprint('shop')).toEqual(live);
  });

  it('drills: row counts and probes checked, scratch schema removed', async () => {
    // GIVEN a verified backup
    const stored = await backupOf('shop', new Date('2026-11-17T02:00:00Z'));
    const probes = Buffer.from(JSON.stringify(['SELECT COUNT(*) = 400 FROM products'])).toString('base64');
    // WHEN drilled
    const restore = runInstanceScript('restore.sh', restoreEnv({ RS_MODE: 'scratch', RS_KEY: stored.key, RS_DRILL: '1', RS_DRILL_PROBES: probes }));
    // THEN passed, and no scratch schema is left
    expect(restore.status, restore.stderr).toBe(0);
    expect(restore.drill).toMatchObject({ passed: true, key: stored.key });
    expect(restore.drill?.checks.filter((check) => check.status !== 'passed')).toEqual([]);
    expect(schemas().filter((name) => name.startsWith('shop_restore_'))).toEqual([]);
  });

  it('checks every restore against the manifest: a few rows written between the count and the dump pass with a note, half a table missing fails', async () => {
    // GIVEN a dump of 400 products whose manifest counted 410 (writes between the two snapshots), and one that counted 900
    const stored = await backupOf('shop', new Date('2026-11-16T02:00:00Z'));
    const manifestWith = async (products: number, at: Date) => {
      const counts = Object.fromEntries(Object.entries(fingerprint('shop')).map(([table, value]) => [table, Number(value.split(':')[0])]));
      return storeBackup(s3, { bucket: BUCKET, tier: 'daily', target: TARGET, kind: 'mysql', body: stored.body, at, verified: true, database: { tableCount: Object.keys(counts).length, rowCounts: { ...counts, products } } });
    };
    const close = await manifestWith(410, new Date('2026-11-15T02:00:00Z'));
    const far = await manifestWith(900, new Date('2026-11-14T02:00:00Z'));
    // WHEN each is restored into a scratch schema
    const passed = runInstanceScript('restore.sh', restoreEnv({ RS_MODE: 'scratch', RS_KEY: close.key, RS_SCRATCH_NAME: 'shop_close' }));
    const failed = runInstanceScript('restore.sh', restoreEnv({ RS_MODE: 'scratch', RS_KEY: far.key, RS_SCRATCH_NAME: 'shop_far' }));
    // THEN the first is restored; the second fails with exit 11 naming the table, and leaves no schema
    expect(passed.status, passed.stderr).toBe(0);
    expect(failed.status).toBe(11);
    expect(failed.stderr).toMatch(/does not match the backup's manifest \(rowCounts: products: manifest 900, restored 400\)/);
    expect(schemas()).toContain('shop_close');
    expect(schemas()).not.toContain('shop_far');
  });

  it('replace: safety backup, tables moved aside and the restored ones in with one RENAME TABLE', async () => {
    // GIVEN a verified backup by backup.sh, then a table dropped and rows changed
    const { key } = scriptBackup(restoreEnv({}));
    await markVerified(s3, BUCKET, key, true);
    const atBackup = fingerprint('shop');
    db.sql('shop', "DROP TABLE orders; UPDATE products SET price = 0; CREATE TABLE scratchpad (id INT PRIMARY KEY)");
    const damaged = fingerprint('shop');
    // WHEN replaced with confirmation
    const restore = runInstanceScript('restore.sh', restoreEnv({ RS_MODE: 'replace', RS_CONFIRM: TARGET, RS_SAFETY_TIER: 'predeploy', RS_KEY: key }));
    // THEN live holds exactly the backup's tables, the damaged ones are in the aside schema, a safety backup exists
    expect(restore.status, restore.stderr).toBe(0);
    expect(fingerprint('shop')).toEqual(atBackup);
    const aside = String(restore.result?.previousDataKeptAs);
    expect(aside).toMatch(/^shop_pre_restore_\d{14}$/);
    expect(fingerprint(aside)).toEqual(damaged);
    expect(String(restore.result?.safetyBackupKey)).toMatch(new RegExp(`^predeploy/${TARGET}/`));
    expect(schemas().filter((name) => name.startsWith('shop_rs_'))).toEqual([]);
  });

  it('replace where the schema does not exist (a rebuilt server): no safety backup, the backup restored under the live name', async () => {
    // GIVEN a verified backup, and a server without the schema
    const { key } = scriptBackup(restoreEnv({}));
    await markVerified(s3, BUCKET, key, true);
    const atBackup = fingerprint('shop');
    const charset = db.sql('information_schema', "SELECT CONCAT(DEFAULT_CHARACTER_SET_NAME, ' ', DEFAULT_COLLATION_NAME) FROM SCHEMATA WHERE SCHEMA_NAME = 'shop'").trim().split(' ');
    db.sql('mysql', 'DROP DATABASE shop');
    const schemasBefore = schemas();
    try {
      // WHEN replaced with confirmation
      const restore = runInstanceScript('restore.sh', restoreEnv({ RS_MODE: 'replace', RS_CONFIRM: TARGET, RS_SAFETY_TIER: 'predeploy', RS_KEY: key }));
      // THEN the schema exists with the backup's tables, and nothing was kept or backed up first
      expect(restore.status, restore.stderr).toBe(0);
      expect(restore.stderr).toMatch(/replace: database shop does not exist here, so there is nothing to keep: no safety backup/);
      expect(fingerprint('shop')).toEqual(atBackup);
      expect(restore.result).toMatchObject({ restoredTo: 'shop', previousDataKeptAs: null, safetyBackupKey: null });
      expect(schemas().filter((name) => !schemasBefore.includes(name))).toEqual(['shop']);
    } finally {
      db.sql('mysql', `CREATE DATABASE IF NOT EXISTS shop; ALTER DATABASE shop CHARACTER SET ${charset[0]} COLLATE ${charset[1]}`);
    }
  });

  it('refuses replace when live has a view RENAME TABLE cannot move, before any safety backup', async () => {
    // GIVEN a view in the live schema
    const { key } = scriptBackup(restoreEnv({}));
    db.sql('shop', 'CREATE VIEW cheap AS SELECT * FROM products WHERE price < 10');
    const before = { live: fingerprint('shop'), schemas: schemas() };
    try {
      // WHEN replaced THEN exit 2 saying to use scratch mode, nothing created
      const restore = runInstanceScript('restore.sh', restoreEnv({ RS_MODE: 'replace', RS_CONFIRM: TARGET, RS_SAFETY_TIER: 'predeploy', RS_KEY: key }));
      expect(restore.status).toBe(2);
      expect(restore.stderr).toMatch(/1 view\(s\), which RENAME TABLE cannot move: restore with RS_MODE=scratch/);
      expect(restore.stderr).not.toMatch(/safety backup/);
      expect(schemas()).toEqual(before.schemas);
      expect(fingerprint('shop')).toEqual(before.live);
    } finally {
      db.sql('shop', 'DROP VIEW cheap');
    }
  });

  it('a replace killed while loading the dump leaves the live schema intact', async () => {
    // GIVEN a backup with enough rows that loading takes a moment
    db.sql('shop', 'CREATE TABLE events (id INT PRIMARY KEY, payload CHAR(32)); INSERT INTO events SELECT seq, MD5(seq) FROM seq_1_to_300000');
    const { key } = scriptBackup(restoreEnv({}));
    db.sql('shop', "DROP TABLE events; UPDATE products SET name = UPPER(name)");
    const before = fingerprint('shop');
    // WHEN SIGKILLed once the incoming schema exists
    const killed = await killRestoreWhen(
      restoreEnv({ RS_MODE: 'replace', RS_CONFIRM: TARGET, RS_SAFETY_TIER: 'predeploy', RS_KEY: key }),
      () => schemas().some((name) => name.startsWith('shop_rs_')),
    );
    // THEN no table moved: live is exactly as it was
    expect(killed.killed).toBe(true);
    expect(killed.result).toBeUndefined();
    expect(fingerprint('shop')).toEqual(before);
  });
});
