import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MotoServer } from '../support/moto';
import { readyLine, removeDir, run, scratchDir } from '../support/processes';
import { backupScriptEnv, backupWithScript, markVerified, runInstanceScript } from '../support/restore-fixtures';
import { treeOf } from '../support/trees';

/**
 * restore.sh against hostile inputs and a hostile application user: a scratch copy goes only
 * below its private scratch root, whatever path it is given; a replace in a directory the
 * application can write is not turned against anything outside it by links swapped in while it
 * runs; database scratch names never take a system or another target's database.
 */

const APP_UID = 65534; // nobody: the application user, who may write the live data's directory
const BUCKET = 'restore-confinement-backups';

let moto: MotoServer;
let keyArn: string;
let work: string;
let app: string;
let victim: string;
let scratchRoot: string;

/** What must never change: a root-owned directory with a file, as a system directory would be. */
function victimState(): Record<string, string> {
  const state: Record<string, string> = {};
  for (const name of readdirSync(victim)) {
    const path = join(victim, name);
    const info = lstatSync(path);
    state[name] = `${info.uid}:${info.gid}:${(info.mode & 0o7777).toString(8)}:${info.isFile() ? readFileSync(path, 'hex') : 'dir'}`;
  }
  const top = lstatSync(victim);
  state['.'] = `${top.uid}:${top.gid}:${(top.mode & 0o7777).toString(8)}`;
  return state;
}

beforeAll(async () => {
  moto = await MotoServer.start();
  ({ keyArn } = await moto.createBackupBucket(BUCKET));
  work = scratchDir('restore-confinement');
  chmodSync(work, 0o711); // the application user passes through to its own directory
  app = join(work, 'app');
  mkdirSync(app);
  chownSync(app, APP_UID, APP_UID);
  victim = join(work, 'victim');
  mkdirSync(victim, { mode: 0o755 });
  writeFileSync(join(victim, 'shadow'), 'root:*:20000:0:99999:7:::\n', { mode: 0o640 });
  scratchRoot = join(work, 'restores');
});

afterAll(async () => {
  await moto?.stop();
  removeDir(work);
});

function env(target: string, kind: 'files' | 'sqlite', path: string, extra: Record<string, string>): NodeJS.ProcessEnv {
  return backupScriptEnv(moto, keyArn, { BK_TARGET: target, BK_KIND: kind, BK_BUCKET: BUCKET, BK_PATH: path, RS_WORK_DIR: work, RS_TIERS: 'daily', RS_SCRATCH_ROOT: scratchRoot, ...extra });
}

/** A directory of the application user's, with enough data that extracting it takes a while. */
function mediaTree(name: string): string {
  const live = join(app, name);
  mkdirSync(join(live, 'photos'), { recursive: true });
  for (let index = 0; index < 40; index += 1) writeFileSync(join(live, 'photos', `${index}.jpg`), randomBytes(256 * 1024));
  writeFileSync(join(live, 'index.html'), '<h1>repairs</h1>\n');
  run('chown', ['-R', `${APP_UID}:${APP_UID}`, live]);
  return live;
}

function sqliteFile(name: string): string {
  const live = join(app, name);
  run('sqlite3', [live, `CREATE TABLE repairs (id INTEGER PRIMARY KEY, note TEXT); INSERT INTO repairs (note) SELECT hex(randomblob(2000)) FROM (WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000) SELECT i FROM n);`]);
  chownSync(live, APP_UID, APP_UID);
  return live;
}

async function verifiedBackup(environment: NodeJS.ProcessEnv): Promise<string> {
  const { key } = backupWithScript(environment);
  await markVerified(moto.s3(), BUCKET, key, true);
  return key;
}

/**
 * As the application user, for as long as it runs: every new entry the restore could make in
 * the application's directory (staging, temporary and aside names, old and new) is renamed away
 * the moment inotify reports it and replaced by a link to `target` (test/support/link_swapper.py,
 * passed as source: the application user may not be able to read the checkout).
 */
async function startSwapper(target: string): Promise<ChildProcess> {
  const source = readFileSync(join(__dirname, '..', 'support', 'link_swapper.py'), 'utf8');
  const child = spawn('setpriv', [`--reuid=${APP_UID}`, `--regid=${APP_UID}`, '--clear-groups', '--', 'python3', '-c', source, app, target], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await readyLine(child, 'the link swapper');
  return child;
}

/** Entries the swapper renamed away so far: each one a link it put in the restore's way. */
function swapsSoFar(): number {
  return readdirSync(app).filter((name) => name.includes('.moved-')).length;
}

let swapper: ChildProcess | undefined;
afterEach(() => {
  swapper?.kill('SIGKILL');
  swapper = undefined;
});

describe('restore.sh: scratch copies stay inside the scratch root', () => {
  let live: string;
  let tree: Map<string, string>;
  beforeAll(async () => {
    live = mediaTree('site');
    tree = treeOf(live);
    await verifiedBackup(env('site', 'files', live, {}));
  });

  it.each([
    ['a system path', () => '/etc/backup-kit-restore-test', /RS_SCRATCH_PATH '\/etc\/backup-kit-restore-test' is not inside the scratch root/],
    ['a path walking out with ..', () => `${scratchRoot}/../victim/x`, /RS_SCRATCH_PATH .* has an empty, '\.' or '\.\.' segment/],
    ['a path with //', () => `${scratchRoot}//x`, /RS_SCRATCH_PATH .* has an empty, '\.' or '\.\.' segment/],
    ['the live path', () => live, /is not inside the scratch root/],
    ['the scratch root itself', () => scratchRoot, /is not inside the scratch root/],
  ])('refuses %s (exit 2) and writes nothing', (_what, path, message) => {
    const before = victimState();
    const restore = runInstanceScript('restore.sh', env('site', 'files', live, { RS_MODE: 'scratch', RS_SCRATCH_PATH: path() }));
    expect(restore.status, restore.stderr).toBe(2);
    expect(restore.stderr).toMatch(message);
    expect(existsSync('/etc/backup-kit-restore-test')).toBe(false);
    expect(victimState()).toEqual(before);
    expect(treeOf(live)).toEqual(tree);
  });

  it('refuses paths and version IDs longer than their limits, naming each (exit 2), and writes nothing', () => {
    const before = victimState();
    const cases: [Record<string, string>, RegExp][] = [
      [{ BK_PATH: `/${'a'.repeat(4096)}` }, /BK_PATH '\/a{4096}' is not valid \(.*4096 characters at most\)/],
      [{ RS_SCRATCH_ROOT: `/${'r'.repeat(4096)}` }, /RS_SCRATCH_ROOT must be an absolute path below \//],
      [{ RS_SCRATCH_PATH: `${scratchRoot}/${'p'.repeat(4096)}` }, /RS_SCRATCH_PATH must be an absolute path/],
      [{ RS_KEY_VERSION_ID: 'v'.repeat(1025), RS_MANIFEST_VERSION_ID: 'm' }, /the version ID of .* is not valid \('v{1025}'\)/],
    ];
    for (const [overlong, message] of cases) {
      const restore = runInstanceScript('restore.sh', env('site', 'files', live, { RS_MODE: 'scratch', ...overlong }));
      expect(restore.status, restore.stderr).toBe(2);
      expect(restore.stderr).toMatch(message);
    }
    expect(victimState()).toEqual(before);
    expect(treeOf(live)).toEqual(tree);
  });

  it('refuses a scratch path that a link inside the root leads out of it', () => {
    mkdirSync(scratchRoot, { recursive: true, mode: 0o700 });
    symlinkSync(victim, join(scratchRoot, 'escape'));
    const before = victimState();
    const restore = runInstanceScript('restore.sh', env('site', 'files', live, { RS_MODE: 'scratch', RS_SCRATCH_PATH: join(scratchRoot, 'escape', 'copy') }));
    expect(restore.status, restore.stderr).toBe(2);
    expect(restore.stderr).toMatch(/is not inside the scratch root/);
    expect(victimState()).toEqual(before);
  });

  it.each([
    ['owned by the application user', (root: string) => chownSync(root, APP_UID, APP_UID), /belongs to user 65534/],
    ['writable by others', (root: string) => chmodSync(root, 0o1777), /is writable by other users \(mode 1777\)/],
  ])('refuses a scratch root %s, which could redirect the copy', (_what, spoil, message) => {
    const root = join(work, `spoiled-root-${randomBytes(3).toString('hex')}`);
    mkdirSync(root, { mode: 0o700 });
    spoil(root);
    const restore = runInstanceScript('restore.sh', env('site', 'files', live, { RS_MODE: 'scratch', RS_SCRATCH_ROOT: root }));
    expect(restore.status, restore.stderr).toBe(2);
    expect(restore.stderr).toMatch(message);
    expect(readdirSync(root)).toEqual([]);
  });

  it("refuses a work directory the application user can write (it could swap the download's directory)", () => {
    const shared = join(app, 'downloads');
    mkdirSync(shared, { recursive: true });
    chownSync(shared, APP_UID, APP_UID);
    const restore = runInstanceScript('restore.sh', env('site', 'files', live, { RS_MODE: 'scratch', RS_WORK_DIR: shared }));
    expect(restore.status).toBe(2);
    expect(restore.stderr).toMatch(/RS_WORK_DIR: .*belongs to user 65534, who could redirect the restore/);
    expect(readdirSync(shared)).toEqual([]);
  });

  it('refuses a scratch root that passes through a link, or that holds the live data', () => {
    symlinkSync(work, join(work, 'link-to-work'));
    const linked = runInstanceScript('restore.sh', env('site', 'files', live, { RS_MODE: 'scratch', RS_SCRATCH_ROOT: join(work, 'link-to-work', 'restores') }));
    expect(linked.status).toBe(2);
    expect(linked.stderr).toMatch(/RS_SCRATCH_ROOT .* passes through a symbolic link/);
    const around = runInstanceScript('restore.sh', env('site', 'files', live, { RS_MODE: 'scratch', RS_SCRATCH_ROOT: app }));
    expect(around.status).toBe(2);
    expect(around.stderr).toMatch(/RS_SCRATCH_ROOT .* and the live path .* overlap/);
  });

  it('by default creates the root 0700 and restores below it, the copy readable by root only and equal to the source', () => {
    const root = join(work, 'fresh', 'restores', 'site');
    const restore = runInstanceScript('restore.sh', env('site', 'files', live, { RS_MODE: 'scratch', RS_SCRATCH_ROOT: root }));
    expect(restore.status, restore.stderr).toBe(0);
    const restoredTo = String(restore.result?.restoredTo);
    expect(restoredTo).toMatch(new RegExp(`^${root}/site\\.restore-\\d{14}$`));
    expect(statSync(root).mode & 0o7777).toBe(0o700);
    expect(statSync(join(work, 'fresh')).mode & 0o7777).toBe(0o700);
    expect(statSync(restoredTo).mode & 0o7777).toBe(0o700);
    expect(statSync(restoredTo).uid).toBe(0);
    // the content below the top is the source's (names, bytes, modes), and keeps its owners
    expect(treeOf(restoredTo)).toEqual(tree);
    expect(statSync(join(restoredTo, 'photos', '0.jpg')).uid).toBe(APP_UID);
    // nothing was written beside the live data
    expect(readdirSync(app).filter((name) => name.startsWith('site.'))).toEqual([]);
  });
});

describe('restore.sh: a replace in a directory the application user can write', () => {
  it('files: links swapped in for every name it makes change nothing outside, and the live tree is replaced or left as it was', async () => {
    // GIVEN a verified backup of the application's directory, then a change to it
    const live = mediaTree('media');
    const tree = treeOf(live);
    await verifiedBackup(env('media', 'files', live, {}));
    writeFileSync(join(live, 'index.html'), '<h1>defaced</h1>\n');
    const liveTree = treeOf(live);
    const before = victimState();
    const swapsBefore = swapsSoFar();
    // WHEN the application user swaps links in while a replace runs
    swapper = await startSwapper(victim);
    const restore = runInstanceScript('restore.sh', env('media', 'files', live, { RS_MODE: 'replace', RS_CONFIRM: 'media', RS_SAFETY_TIER: 'predeploy' }));
    // THEN links were swapped in, and nothing outside the application's directory changed: no file, owner or mode of the victim
    expect(swapsSoFar()).toBeGreaterThan(swapsBefore);
    expect(victimState()).toEqual(before);
    // AND the restore either finished with the backup's tree in place or stopped leaving live as it was
    if (restore.status === 0) expect(treeOf(live)).toEqual(tree);
    else {
      expect(restore.status, restore.stderr).toBe(4);
      expect(treeOf(live)).toEqual(liveTree);
    }
  });

  it('sqlite: links swapped in for every name it makes change nothing outside, and no ownership of anything else', async () => {
    const live = sqliteFile('repairs.db');
    const victimFile = join(victim, 'shadow');
    await verifiedBackup(env('repairs', 'sqlite', live, {}));
    const before = victimState();
    const swapsBefore = swapsSoFar();
    swapper = await startSwapper(victimFile);
    const restore = runInstanceScript('restore.sh', env('repairs', 'sqlite', live, { RS_MODE: 'replace', RS_CONFIRM: 'repairs', RS_SAFETY_TIER: 'predeploy' }));
    expect(swapsSoFar()).toBeGreaterThan(swapsBefore);
    expect(victimState()).toEqual(before);
    expect([0, 4]).toContain(restore.status);
    expect(lstatSync(live).uid).toBe(APP_UID);
    expect(run('sqlite3', [live, 'SELECT count(*) FROM repairs']).trim()).toBe('3000');
  });

  it('refuses to replace a live path that is a link (the swap would replace the link, not the data)', async () => {
    const real = sqliteFile('real.db');
    const linked = join(app, 'linked.db');
    symlinkSync(real, linked);
    await verifiedBackup(env('linked', 'sqlite', linked, {}));
    const restore = runInstanceScript('restore.sh', env('linked', 'sqlite', linked, { RS_MODE: 'replace', RS_CONFIRM: 'linked', RS_SAFETY_TIER: 'predeploy' }));
    expect(restore.status).toBe(2);
    expect(restore.stderr).toMatch(/linked\.db is a symbolic link; configure the path it points to/);
    expect(lstatSync(linked).isSymbolicLink()).toBe(true);
  });
});

describe('restore.sh: scratch database names', () => {
  function databaseEnv(kind: 'postgres' | 'mysql', extra: Record<string, string>): NodeJS.ProcessEnv {
    // No server is needed: the names are refused before any connection.
    return backupScriptEnv(moto, keyArn, {
      BK_TARGET: 'orders-db',
      BK_KIND: kind,
      BK_BUCKET: BUCKET,
      BK_DB_HOST: '127.0.0.1',
      BK_DB_PORT: '1',
      BK_DB_NAME: 'orders',
      BK_DB_USER: 'backup',
      BK_PASSWORD_SSM_PARAMETER: '/orders/password',
      RS_MODE: 'scratch',
      RS_WORK_DIR: work,
      ...extra,
    });
  }

  it.each([
    ['postgres', 'postgres', {}],
    ['postgres', 'Template1', {}],
    ['mysql', 'mysql', {}],
    ['mysql', 'INFORMATION_SCHEMA', {}],
    ['postgres', 'orders', {}],
    ['postgres', 'Ledger', { RS_PROTECTED_DATABASES: 'billing ledger' }],
  ])('%s: refuses %s (exit 2) before connecting', (kind, name, extra) => {
    const restore = runInstanceScript('restore.sh', databaseEnv(kind as 'postgres' | 'mysql', { RS_SCRATCH_NAME: name, ...extra }));
    expect(restore.status).toBe(2);
    expect(restore.stderr).toMatch(new RegExp(`RS_SCRATCH_NAME '${name}' is a system, live or other target's database`));
  });
});
