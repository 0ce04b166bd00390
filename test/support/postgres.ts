import type { ChildProcess } from 'node:child_process';
import { existsSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, removeDir, run, scratchDir, startDetached, stopProcess, waitFor } from './processes';

const PG_BIN = process.env.PG_BIN ?? findPgBin();

function findPgBin(): string {
  const versions = ['17', '16', '15', '14'].map((version) => `/usr/lib/postgresql/${version}/bin`);
  return versions.find((dir) => existsSync(`${dir}/postgres`)) ?? '/usr/lib/postgresql/15/bin';
}

/** PostgreSQL refuses to run as root; as root the server runs as the `postgres` user. */
function asServerUser(command: string, args: readonly string[]): [string, string[]] {
  return process.getuid?.() === 0 ? ['runuser', ['-u', 'postgres', '--', command, ...args]] : [command, [...args]];
}

const SUPERUSER = 'backup';
const PASSWORD = 'test-password-123';

/**
 * A fresh cluster made by initdb once per test run (under the run's TMPDIR): workers that find it
 * copy it. Made aside and renamed into place, so a worker never copies a half-made one; two
 * workers that both start first make one each, and one rename wins.
 */
function templateCluster(): string {
  const template = join(tmpdir(), `backup-kit-pg-template-${PG_BIN.replace(/\W+/g, '-')}`);
  if (existsSync(template)) return template;
  const dir = scratchDir('pg-template');
  const data = join(dir, 'data');
  const pwfile = join(dir, 'pwfile');
  writeFileSync(pwfile, `${PASSWORD}\n`);
  if (process.getuid?.() === 0) run('chown', ['-R', 'postgres:postgres', dir]);
  const [initCmd, initArgs] = asServerUser(`${PG_BIN}/initdb`, ['-D', data, '-U', SUPERUSER, '--auth=scram-sha-256', `--pwfile=${pwfile}`, '-E', 'UTF8', '--no-sync']);
  run(initCmd, initArgs);
  try {
    renameSync(data, template);
  } catch (error) {
    if (!existsSync(template)) throw error;
  }
  removeDir(dir);
  return template;
}

/** A throwaway PostgreSQL server in a temp directory on loopback, with password auth. */
export class PostgresServer {
  private constructor(
    readonly port: number,
    readonly user: string,
    readonly password: string,
    private readonly dir: string,
    private readonly child: ChildProcess,
  ) {}

  /** A new cluster; on `port` when given (a replacement server where the lost one listened), else a free one. */
  static async start(options: { readonly port?: number } = {}): Promise<PostgresServer> {
    const dir = scratchDir('pg');
    const data = join(dir, 'data');
    if (process.getuid?.() === 0) run('chown', ['postgres:postgres', dir]);
    // A copy of the run's template cluster (same user and password): initdb once, not per server.
    // (cp -a: owner and modes as initdb left them; the server refuses a data directory others can read.)
    run('cp', ['-a', templateCluster(), data]);
    const port = options.port ?? (await freePort());
    const [cmd, args] = asServerUser(`${PG_BIN}/postgres`, ['-D', data, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', `unix_socket_directories=${dir}`, '-c', 'fsync=off']);
    const child = startDetached(cmd, args);
    const server = new PostgresServer(port, SUPERUSER, PASSWORD, dir, child);
    await waitFor('postgres to accept connections', () => {
      try {
        run(`${PG_BIN}/pg_isready`, ['-h', '127.0.0.1', '-p', String(port)]);
        return true;
      } catch {
        return false;
      }
    });
    return server;
  }

  /** The cluster's data directory (for physical backup tools such as pgBackRest). */
  get dataDirectory(): string {
    return join(this.dir, 'data');
  }

  /** The directory of its Unix socket. */
  get socketDirectory(): string {
    return this.dir;
  }

  /** Environment for psql/pg_dump against this server. */
  env(database = 'postgres'): NodeJS.ProcessEnv {
    return { ...process.env, PGHOST: '127.0.0.1', PGPORT: String(this.port), PGUSER: this.user, PGPASSWORD: this.password, PGDATABASE: database };
  }

  psql(database: string, sql: string): string {
    return run(`${PG_BIN}/psql`, ['-X', '-q', '-t', '-A', '-v', 'ON_ERROR_STOP=1', '-d', database, '-c', sql], { env: this.env(database) });
  }

  /**
   * Row count and content hash of every user table (`schema.table` → `count:md5`), in one query:
   * equal fingerprints mean equal data.
   */
  fingerprint(database: string): Record<string, string> {
    const perTable = `SELECT count(*) || ':' || md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) AS v FROM %I.%I t`;
    const lines = this.psql(
      database,
      `SELECT schemaname || '.' || tablename || E'\\t' || (xpath('/row/v/text()', query_to_xml(format('${perTable.replace(/'/g, "''")}', schemaname, tablename), false, true, '')))[1]::text
         FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1`,
    );
    return Object.fromEntries(
      lines
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => line.split('\t') as [string, string]),
    );
  }

  createDatabase(name: string): void {
    this.psql('postgres', `CREATE DATABASE "${name}"`);
  }

  async stop(): Promise<void> {
    await stopProcess(this.child);
    removeDir(this.dir);
  }
}
