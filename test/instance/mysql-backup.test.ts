import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backupKey } from '../../contracts/manifest';
import { backupEnv, createSecret, fetchBackup, listKeys, processesExposing, putSecureStringParameter, runBackupScript, trickyPassword } from '../support/backup-script';
import { MariaDbServer } from '../support/mariadb';
import { MotoServer } from '../support/moto';
import { run } from '../support/processes';

const TABLES = ['customers', 'orders', 'order lines', 'audit_log'];

describe('backup.sh, kind mysql (MariaDB)', () => {
  let moto: MotoServer;
  let db: MariaDbServer;
  let bucket: string;
  let keyArn: string;
  const password = trickyPassword();
  const sqlString = (value: string) => `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

  /** Row count and CHECKSUM TABLE of each table. */
  const fingerprint = (database: string): Record<string, string> =>
    Object.fromEntries(
      TABLES.map((table) => {
        const count = db.rootSql(`SELECT COUNT(*) FROM \`${table}\``, database).trim();
        const checksum = db.rootSql(`CHECKSUM TABLE \`${table}\``, database).trim().split('\t')[1];
        return [table, `${count} ${checksum}`];
      }),
    );

  beforeAll(async () => {
    [moto, db] = await Promise.all([MotoServer.start(), MariaDbServer.start()]);
    ({ bucket, keyArn } = await moto.createBackupBucket('mysql-backups'));
    db.rootSql(`CREATE DATABASE shop CHARACTER SET utf8mb4`);
    db.rootSql(
      `SET NAMES utf8mb4;
       CREATE TABLE customers (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(100) NOT NULL, email VARCHAR(100) NULL, joined DATE) ENGINE=InnoDB;
       INSERT INTO customers (name, email, joined) SELECT CONCAT('Customer ', seq, ' Zoë 🚗'), IF(seq % 7 = 0, NULL, CONCAT('c', seq, '@example.com')), DATE_ADD('2020-01-01', INTERVAL seq DAY) FROM seq_1_to_500;
       CREATE TABLE orders (id BIGINT AUTO_INCREMENT PRIMARY KEY, customer_id INT, amount DECIMAL(12,2), placed_at DATETIME(3), receipt VARBINARY(32), notes TEXT, FOREIGN KEY (customer_id) REFERENCES customers(id)) ENGINE=InnoDB;
       INSERT INTO orders (customer_id, amount, placed_at, receipt, notes) SELECT 1 + seq % 500, seq * 1.37, DATE_ADD('2024-01-01', INTERVAL seq * 17 MINUTE), UNHEX(MD5(seq)), REPEAT('it''s "quoted"\\n', seq % 5) FROM seq_1_to_3000;
       CREATE TABLE \`order lines\` (order_id BIGINT, line INT, sku VARCHAR(40), PRIMARY KEY (order_id, line)) ENGINE=InnoDB;
       INSERT INTO \`order lines\` SELECT o.seq, l.seq, CONCAT('SKU-', o.seq * l.seq) FROM seq_1_to_400 o, seq_1_to_3 l;
       CREATE TABLE audit_log (id INT AUTO_INCREMENT PRIMARY KEY, what VARCHAR(100)) ENGINE=InnoDB;
       CREATE VIEW big_orders AS SELECT * FROM orders WHERE amount > 1000;
       CREATE TRIGGER orders_audit AFTER INSERT ON orders FOR EACH ROW INSERT INTO audit_log (what) VALUES (CONCAT('order ', NEW.id));
       CREATE FUNCTION order_total(c INT) RETURNS DECIMAL(14,2) READS SQL DATA RETURN (SELECT SUM(amount) FROM orders WHERE customer_id = c);
       CREATE EVENT purge_audit ON SCHEDULE EVERY 1 DAY DISABLE DO DELETE FROM audit_log WHERE id < 0;`,
      'shop',
    );
    // A least-privilege backup login whose password needs quoting in an option file.
    db.rootSql(
      `CREATE USER 'backup_reader'@'127.0.0.1' IDENTIFIED BY ${sqlString(password)};
       GRANT SELECT, SHOW VIEW, TRIGGER, EVENT, LOCK TABLES ON shop.* TO 'backup_reader'@'127.0.0.1';
       GRANT SELECT ON mysql.proc TO 'backup_reader'@'127.0.0.1';`,
    );
    createSecret(moto, 'backup-kit/shop-mysql', password);
    await putSecureStringParameter(moto, '/backup-kit/shop-mysql/wrong', 'not-the-password');
  });

  afterAll(async () => {
    await Promise.all([moto?.stop(), db?.stop()]);
  });

  const inputs = (extra: Record<string, string | undefined> = {}) =>
    backupEnv(moto, {
      BK_TARGET: 'shop-mysql',
      BK_KIND: 'mysql',
      BK_BUCKET: bucket,
      BK_KMS_KEY_ID: keyArn,
      BK_DB_HOST: '127.0.0.1',
      BK_DB_PORT: String(db.port),
      BK_DB_NAME: 'shop',
      BK_DB_USER: 'backup_reader',
      BK_PASSWORD_SECRET_ID: 'backup-kit/shop-mysql',
      ...extra,
    });

  it('dumps with the password from a plain-string secret; the dump restores to the same rows, content and routines', async () => {
    // GIVEN the password as a plain-string Secrets Manager secret
    // WHEN the backup runs
    const { value: run1, exposed } = await processesExposing(password, () => runBackupScript(inputs()));

    // THEN it succeeds without the password in any command line, environment or output
    expect(run1.status, run1.stderr).toBe(0);
    expect(exposed).toEqual([]);
    expect(run1.stdout + run1.stderr).not.toContain(password);

    // AND the object matches the manifest and the result line
    const stored = await fetchBackup(moto, bucket, run1.result!.key);
    expect(run1.result).toMatchObject({ target: 'shop-mysql', kind: 'mysql', bytes: stored.manifest.bytes, sha256: stored.manifest.sha256 });
    expect(run1.result!.key).toBe(backupKey('daily', 'shop-mysql', 'mysql', new Date(stored.manifest.startedAt)));
    expect(stored.manifest).toMatchObject({ kind: 'mysql', format: 'mysql_sql', compression: 'gzip' });
    expect(Object.keys(stored.manifest.tools)).toEqual(expect.arrayContaining(['mysql-server', 'mariadb-dump', 'aws']));
    expect(stored.manifest.database).toEqual({ tableCount: 4, rowCounts: { customers: 500, orders: 3000, 'order lines': 1200, audit_log: 0 } });
    const dump = stored.dump.toString('utf8');
    expect(dump).not.toMatch(/CREATE DATABASE|^USE /m); // restorable into a database of any name
    expect(dump).toMatch(/-- Dump completed/);

    // AND it restores into a scratch database to the same rows, content, view, trigger, routine and event
    db.rootSql('CREATE DATABASE restored CHARACTER SET utf8mb4');
    run('mariadb', ['--no-defaults', `--socket=${db.socket}`, '-uroot', 'restored'], { input: stored.dump });
    expect(fingerprint('restored')).toEqual(fingerprint('shop'));
    expect(db.rootSql('SELECT COUNT(*) FROM big_orders', 'restored')).toBe(db.rootSql('SELECT COUNT(*) FROM big_orders', 'shop'));
    expect(db.rootSql(`SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = 'restored'`).trim()).toBe('orders_audit');
    expect(db.rootSql('SELECT order_total(1)', 'restored')).toBe(db.rootSql('SELECT order_total(1)', 'shop'));
    expect(db.rootSql(`SELECT EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA = 'restored'`).trim()).toBe('purge_audit');
  });

  it('exits 3 (credentials) when the server refuses the password, and stores nothing', async () => {
    const run1 = await runBackupScript(inputs({ BK_TARGET: 'wrong-pw', BK_PASSWORD_SECRET_ID: undefined, BK_PASSWORD_SSM_PARAMETER: '/backup-kit/shop-mysql/wrong' }));
    expect(run1.status).toBe(3);
    expect(run1.stderr).toMatch(/stage credentials failed \(exit 3\): MySQL at 127\.0\.0\.1:\d+, database 'shop', user 'backup_reader' refused the password: .*Access denied/);
    expect((await listKeys(moto, bucket)).filter((key) => key.includes('/wrong-pw/'))).toEqual([]);
  });

  it('exits 3 (credentials) when the secret does not exist', async () => {
    const run1 = await runBackupScript(inputs({ BK_TARGET: 'no-secret', BK_PASSWORD_SECRET_ID: 'backup-kit/missing' }));
    expect(run1.status).toBe(3);
    expect(run1.stderr).toMatch(/cannot read secret 'backup-kit\/missing' \(BK_PASSWORD_SECRET_ID\): .*ResourceNotFoundException/);
  });

  it('exits 4 (dump) when the database does not exist, and stores nothing', async () => {
    const run1 = await runBackupScript(inputs({ BK_TARGET: 'no-db', BK_DB_NAME: 'no_such_db' }));
    expect(run1.status).toBe(4);
    // A user without rights on a database is told "access denied" whether or not it exists.
    expect(run1.stderr).toMatch(/stage dump failed \(exit 4\): cannot connect to MySQL .*(Unknown database|Access denied for user .* to database) 'no_such_db'/);
    expect((await listKeys(moto, bucket)).filter((key) => key.includes('/no-db/'))).toEqual([]);
  });
});
