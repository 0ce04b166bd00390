import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, removeDir, run, scratchDir, startDetached, stopProcess, waitFor } from './processes';

/** A throwaway MariaDB server in a temp directory on loopback, with a password user. */
export class MariaDbServer {
  private constructor(
    readonly port: number,
    readonly user: string,
    readonly password: string,
    readonly socket: string,
    private readonly dir: string,
    private readonly child: ChildProcess,
  ) {}

  static async start(): Promise<MariaDbServer> {
    const dir = scratchDir('mariadb');
    const data = join(dir, 'data');
    const socket = join(dir, 'mysqld.sock');
    const asRoot = process.getuid?.() === 0;
    run('mariadb-install-db', ['--no-defaults', `--datadir=${data}`, '--auth-root-authentication-method=normal', '--skip-test-db', ...(asRoot ? ['--user=root'] : [])]);
    const port = await freePort();
    const child = startDetached('mariadbd', [
      '--no-defaults',
      `--datadir=${data}`,
      `--socket=${socket}`,
      `--port=${port}`,
      '--bind-address=127.0.0.1',
      `--pid-file=${join(dir, 'mysqld.pid')}`,
      '--skip-log-bin',
      '--innodb-flush-log-at-trx-commit=0',
      ...(asRoot ? ['--user=root'] : []),
    ]);
    await waitFor('mariadb to accept connections', () => existsSync(socket), 60_000);
    const server = new MariaDbServer(port, 'backup', 'test-password-456', socket, dir, child);
    await waitFor('mariadb to answer', () => {
      try {
        server.rootSql('SELECT 1');
        return true;
      } catch {
        return false;
      }
    }, 60_000);
    server.rootSql(
      `CREATE USER 'backup'@'127.0.0.1' IDENTIFIED BY '${server.password}'; GRANT ALL PRIVILEGES ON *.* TO 'backup'@'127.0.0.1'; FLUSH PRIVILEGES;`,
    );
    return server;
  }

  /** SQL as root over the socket (setup only). */
  rootSql(sql: string, database?: string): string {
    return run('mariadb', ['--no-defaults', `--socket=${this.socket}`, '-uroot', '-N', '-B', ...(database ? [database] : []), '-e', sql]);
  }

  /** SQL as the backup user over TCP, like the scripts connect. */
  sql(database: string, sql: string): string {
    return run('mariadb', ['--no-defaults', '-h', '127.0.0.1', '-P', String(this.port), `-u${this.user}`, '-N', '-B', database, '-e', sql], {
      env: { ...process.env, MYSQL_PWD: this.password },
    });
  }

  async stop(): Promise<void> {
    await stopProcess(this.child);
    removeDir(this.dir);
  }
}
