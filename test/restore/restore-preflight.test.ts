import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MotoServer } from '../support/moto';
import { PostgresServer } from '../support/postgres';
import { freePort, removeDir, scratchDir } from '../support/processes';
import { backupScriptEnv, backupWithScript, putPassword, runInstanceScript } from '../support/restore-fixtures';

/**
 * restore.sh RS_MODE=check, run for real: what an instance lacks before a restore onto it, found
 * without changing anything (a database server that is not there, a directory not deployed), and
 * "ready" when nothing is missing.
 */

let moto: MotoServer;
let pg: PostgresServer;
let work: string;
let keyArn: string;
const BUCKET = 'preflight-backups';
let pgKey: string;
let filesKey: string;

const statuses = (checks: readonly { name: string; status: string }[] | undefined) => Object.fromEntries((checks ?? []).map((check) => [check.name, check.status]));

beforeAll(async () => {
  [moto, pg] = await Promise.all([MotoServer.start(), PostgresServer.start()]);
  work = scratchDir('preflight');
  ({ keyArn } = await moto.createBackupBucket(BUCKET));
  await putPassword(moto, '/app/shop/db-password', pg.password);
  pg.createDatabase('shop');
  pg.psql('shop', 'CREATE TABLE items (id int PRIMARY KEY, name text); INSERT INTO items SELECT i, md5(i::text) FROM generate_series(1, 500) i;');
  pgKey = backupWithScript(pgEnv()).key;
  mkdirSync(join(work, 'srv', 'media'), { recursive: true });
  writeFileSync(join(work, 'srv', 'media', 'a.jpg'), 'jpeg');
  filesKey = backupWithScript(filesEnv(join(work, 'srv', 'media'))).key;
});

afterAll(async () => {
  await Promise.all([moto?.stop(), pg?.stop()]);
  removeDir(work);
});

function pgEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return backupScriptEnv(moto, keyArn, {
    BK_TARGET: 'shop-db', BK_KIND: 'postgres', BK_BUCKET: BUCKET, BK_DB_HOST: '127.0.0.1', BK_DB_PORT: String(pg.port), BK_DB_NAME: 'shop', BK_DB_USER: pg.user,
    BK_PASSWORD_SSM_PARAMETER: '/app/shop/db-password', RS_WORK_DIR: work, ...extra,
  });
}

function filesEnv(path: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return backupScriptEnv(moto, keyArn, { BK_TARGET: 'media', BK_KIND: 'files', BK_BUCKET: BUCKET, BK_PATH: path, RS_WORK_DIR: work, RS_SCRATCH_ROOT: join(work, 'restores'), ...extra });
}

const databases = () => pg.psql('postgres', 'SELECT datname FROM pg_database ORDER BY 1');

describe('restore.sh RS_MODE=check (the preflight of an instance a restore goes onto)', () => {
  it('PostgreSQL running with the target\'s user: ready, with the tools, the connection, CREATEDB and the live database named; nothing created', async () => {
    const before = databases();
    const run = runInstanceScript('restore.sh', pgEnv({ RS_MODE: 'check', RS_KEY: pgKey }));
    expect(run.status, run.stderr).toBe(0);
    expect(run.preflight).toMatchObject({ target: 'shop-db', kind: 'postgres', key: pgKey, ready: true });
    expect(statuses(run.preflight?.checks)).toEqual({ backup: 'passed', workSpace: 'passed', tools: 'passed', connect: 'passed', createDatabase: 'passed', liveData: 'passed' });
    expect(run.preflight?.checks.find((check) => check.name === 'liveData')?.detail).toMatch(/database shop exists: replace takes a safety backup/);
    expect(run.result).toBeUndefined();
    expect(databases()).toBe(before);
  });

  it('no PostgreSQL on the new server: not ready, and the check says what to install; exits 0 (the checks ran)', async () => {
    const run = runInstanceScript('restore.sh', pgEnv({ RS_MODE: 'check', RS_KEY: pgKey, BK_DB_PORT: String(await freePort()) }));
    expect(run.status, run.stderr).toBe(0);
    expect(run.preflight?.ready).toBe(false);
    expect(run.preflight?.checks.find((check) => check.name === 'connect')).toMatchObject({
      status: 'failed',
      detail: expect.stringMatching(/cannot connect to PostgreSQL at 127\.0\.0\.1:\d+ as backup: install and start PostgreSQL with the target's user and password first/),
    });
  });

  it('a files target whose directory is not deployed: not ready, naming the directory; nothing is created', async () => {
    const path = join(work, 'new-server', 'srv', 'media');
    const run = runInstanceScript('restore.sh', filesEnv(path, { RS_MODE: 'check', RS_KEY: filesKey }));
    expect(run.status, run.stderr).toBe(0);
    expect(run.preflight?.ready).toBe(false);
    expect(run.preflight?.checks.find((check) => check.name === 'directory')).toMatchObject({ status: 'failed', detail: `${join(work, 'new-server', 'srv')} does not exist: deploy the application (its directories) first` });
    expect(existsSync(join(work, 'new-server'))).toBe(false);
  });

  it('a files target on a new server with its directory deployed: ready, and the restore will put the copy in place (nothing to keep)', async () => {
    mkdirSync(join(work, 'deployed', 'srv'), { recursive: true });
    const run = runInstanceScript('restore.sh', filesEnv(join(work, 'deployed', 'srv', 'media'), { RS_MODE: 'check', RS_KEY: filesKey }));
    expect(run.status, run.stderr).toBe(0);
    expect(run.preflight).toMatchObject({ ready: true });
    expect(statuses(run.preflight?.checks)).toEqual({ backup: 'passed', workSpace: 'passed', tools: 'passed', space: 'passed', liveData: 'passed' });
    expect(run.preflight?.checks.find((check) => check.name === 'liveData')?.detail).toMatch(/does not exist: replace puts the restored copy in its place \(nothing to keep\)/);
  });
});
