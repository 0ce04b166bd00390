import { Signer } from '@aws-sdk/rds-signer';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { RequestRejectedError } from '../../contracts/errors';
import type { DatabaseProbeSettings, ProbeProtocol, ProbeRequest } from '../../contracts/database-probe';
import { databaseAuthToken } from '../../lambda/database-probe/auth-token';
import { openSession, type SessionOptions } from '../../lambda/database-probe/connections';
import { probeCopy, type ProbeDependencies } from '../../lambda/database-probe/core';
import { MariaDbServer } from '../support/mariadb';
import { PostgresServer } from '../support/postgres';

/**
 * The database probe against real PostgreSQL and MariaDB servers: the statements run read-only,
 * one at a time, and each answer is judged by the drills' rule. The copy's RDS endpoint is mapped
 * to the local server; the IAM token is the local user's password.
 */

const REGION = 'eu-west-1';
const COPY_HOST = `awsbackup-restore-test-8f1c2e.c9akciq32.${REGION}.rds.amazonaws.com`;
const PROBE_PASSWORD = 'probe-secret-789';

describe('database probe', () => {
  let pg: PostgresServer;
  let maria: MariaDbServer;

  beforeAll(async () => {
    [pg, maria] = await Promise.all([PostgresServer.start(), MariaDbServer.start()]);
    pg.psql('postgres', 'CREATE DATABASE shop');
    pg.psql('shop', `CREATE TABLE orders (id int PRIMARY KEY, placed_at timestamptz NOT NULL); INSERT INTO orders SELECT g, now() - g * interval '1 hour' FROM generate_series(1, 50) g;`);
    // The probe users may write and create here, so that only the read-only session stands in a write's way.
    pg.psql('shop', `CREATE USER backup_probe PASSWORD '${PROBE_PASSWORD}'; GRANT SELECT, DELETE ON orders TO backup_probe; GRANT CREATE ON SCHEMA public TO backup_probe;`);
    maria.rootSql('CREATE DATABASE shop');
    maria.rootSql(`CREATE TABLE orders (id INT PRIMARY KEY, placed_at DATETIME NOT NULL); INSERT INTO orders SELECT seq, NOW() - INTERVAL seq HOUR FROM seq_1_to_50;`, 'shop');
    maria.rootSql(`CREATE USER 'backup_probe'@'127.0.0.1' IDENTIFIED BY '${PROBE_PASSWORD}'; GRANT SELECT, DELETE, CREATE, DROP ON shop.* TO 'backup_probe'@'127.0.0.1';`);
  }, 120_000);

  afterAll(async () => {
    await Promise.all([pg?.stop(), maria?.stop()]);
  });

  const settings = (statements: string[], user = 'backup_probe'): DatabaseProbeSettings => ({ region: REGION, databases: [{ resource: 'rds:orders-db', database: 'shop', user, statements }] });
  const request = (protocol: ProbeProtocol, host = COPY_HOST): ProbeRequest => ({ resource: 'rds:orders-db', protocol, host, port: 5432 });

  /** Opens sessions on the local servers wherever the request says the copy is, and records each token asked for. */
  function local(password = PROBE_PASSWORD) {
    const tokens: string[] = [];
    const opened: SessionOptions[] = [];
    const deps: ProbeDependencies = {
      token: (host, port, user) => {
        tokens.push(`${user}@${host}:${port}`);
        return password;
      },
      open: (protocol, options) => {
        opened.push(options);
        const port = protocol === 'postgres' ? pg.port : maria.port;
        return openSession(protocol, { ...options, host: '127.0.0.1', port, tls: false });
      },
    };
    return { deps, tokens, opened };
  }

  const orders = { postgres: () => pg.psql('shop', 'SELECT count(*) FROM orders').trim(), mysql: () => maria.rootSql('SELECT COUNT(*) FROM orders', 'shop').trim() };

  describe.each(['postgres', 'mysql'] as const)('%s', (protocol) => {
    it('signs in as the configured user with a token for the copy, and judges each answer by the drills rule', async () => {
      const recent = protocol === 'postgres' ? "SELECT max(placed_at) > now() - interval '2 days' FROM orders" : 'SELECT MAX(placed_at) > NOW() - INTERVAL 2 DAY FROM orders';
      const { deps, tokens } = local();
      const result = await probeCopy(request(protocol), settings([recent, 'SELECT count(*) FROM orders', 'SELECT count(*) FROM orders WHERE id > 1000', 'SELECT NULL', 'SELECT 1 WHERE 1 = 0']), deps);
      expect(tokens).toEqual([`backup_probe@${COPY_HOST}:5432`]);
      expect(result.connected).toBe(true);
      expect(result.checks.map((check) => [check.held, check.detail])).toEqual([
        [true, protocol === 'postgres' ? 'returned true' : 'returned 1'],
        [true, 'returned 50'],
        [false, 'returned 0'],
        [false, 'returned NULL'],
        [false, 'returned no row'],
      ]);
    });

    it('a statement that fails is a failed check, and the others still run', async () => {
      const result = await probeCopy(request(protocol), settings(['SELECT count(*) FROM no_such_table', 'SELECT count(*) > 0 FROM orders']), local().deps);
      expect(result.checks[0]).toMatchObject({ held: false, detail: expect.stringMatching(/^failed: .*no_such_table/) });
      expect(result.checks[1]?.held).toBe(true);
    });

    it('cannot change the copy: a write is refused by the read-only transaction, a second statement by the protocol', async () => {
      const before = orders[protocol]();
      const result = await probeCopy(
        request(protocol),
        settings([
          'DELETE FROM orders WHERE id = 1',
          'SELECT 1; DELETE FROM orders',
          'COMMIT',
          'DELETE FROM orders WHERE id = 2',
          'CREATE TABLE probe_was_here (id int)',
          protocol === 'postgres' ? 'SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE' : 'SET SESSION TRANSACTION READ WRITE',
          'DELETE FROM orders WHERE id = 3',
          'SELECT count(*) FROM orders',
        ]),
        local().deps,
      );
      expect(result.checks.map((check) => check.held)).toEqual([false, false, expect.any(Boolean), false, false, expect.any(Boolean), false, true]);
      for (const index of [0, 3, 4, 6]) expect(result.checks[index]?.detail).toMatch(/^failed: .*read.only/i);
      expect(result.checks[1]?.detail).toMatch(/^failed: /);
      expect(orders[protocol]()).toBe(before);
      const tables = protocol === 'postgres' ? pg.psql('shop', "SELECT count(*) FROM pg_tables WHERE tablename = 'probe_was_here'") : maria.rootSql("SELECT COUNT(*) FROM information_schema.tables WHERE table_name = 'probe_was_here'");
      expect(tables.trim()).toBe('0');
    });

    it('a refused sign-in is an answer that says where and as whom, with no check run', async () => {
      const result = await probeCopy(request(protocol), settings(['SELECT 1']), local('wrong-password').deps);
      expect(result).toMatchObject({ connected: false, checks: [] });
      expect(result.error).toContain(`could not sign in to ${COPY_HOST}:5432 as backup_probe (database shop)`);
      expect(result.error).not.toContain('wrong-password');
    });
  });

  it('refuses a database without probes and any host that is not an AWS Backup test copy, before signing anything', async () => {
    const { deps, tokens, opened } = local();
    await expect(probeCopy({ ...request('postgres'), resource: 'rds:billing' }, settings(['SELECT 1']), deps)).rejects.toThrow(RequestRejectedError);
    for (const host of [
      `orders-db.c9akciq32.${REGION}.rds.amazonaws.com`,
      `awsbackup-restore-test-1.c9akciq32.us-east-1.rds.amazonaws.com`,
      'awsbackup-restore-test-1.c9akciq32.eu-west-1.rds.amazonaws.com.evil.example',
      '127.0.0.1',
      'awsbackup-restore-test-1.evil.example',
    ]) {
      await expect(probeCopy(request('postgres', host), settings(['SELECT 1']), deps)).rejects.toThrow(/host: .* must be the endpoint of one of AWS Backup's restore test copies/);
    }
    await expect(probeCopy(request('postgres', `awsbackup-restore-test-1.cluster-c9akciq32.${REGION}.rds.amazonaws.com`), settings(['SELECT 1']), { ...deps, open: () => Promise.reject(new Error('unreachable')) })).resolves.toMatchObject({ connected: false });
    expect(tokens).toEqual([`backup_probe@awsbackup-restore-test-1.cluster-c9akciq32.${REGION}.rds.amazonaws.com:5432`]);
    expect(opened).toEqual([]);
  });
});

describe('IAM database authentication token', () => {
  it("is the token AWS's own signer makes, with and without a session token", async () => {
    vi.useFakeTimers({ now: new Date('2026-12-03T10:11:12.345Z') });
    try {
      for (const sessionToken of [undefined, 'IQoJb3JpZ2luX2VjE/session+token=']) {
        const credentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY', ...(sessionToken ? { sessionToken } : {}) };
        const hostname = COPY_HOST;
        const ours = databaseAuthToken({ hostname, port: 5432, username: 'backup_probe', region: REGION, credentials });
        const theirs = await new Signer({ hostname, port: 5432, username: 'backup_probe', region: REGION, credentials }).getAuthToken();
        const parts = (token: string) => {
          const url = new URL(`https://${token}`);
          return { host: url.host, path: url.pathname, query: Object.fromEntries([...url.searchParams.entries()].sort()) };
        };
        expect(parts(ours)).toEqual(parts(theirs));
        expect(parts(ours).query['X-Amz-Signature']).toMatch(/^[0-9a-f]{64}$/);
      }
    } finally {
      vi.useRealTimers();
    }
  });
});
