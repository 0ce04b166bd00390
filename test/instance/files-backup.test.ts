import { HeadObjectCommand, ListObjectVersionsCommand } from '@aws-sdk/client-s3';
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, linkSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { hostname } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backupKey } from '../../contracts/manifest';
import { BACKUP_SCRIPT, backupEnv, fetchBackup, listIncompleteUploads, listKeys, runBackupScript } from '../support/backup-script';
import { MotoServer } from '../support/moto';
import { commandLines, freePort, pathWithout, removeDir, run, scratchDir, waitFor } from '../support/processes';
import { filesIndexOf } from '../support/backups';

/** Regular files (relative path → sha256) and symlinks (relative path → target) under `root`. */
function treeOf(root: string): Map<string, string> {
  const entries = new Map<string, string>();
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      const stat = lstatSync(path);
      if (stat.isDirectory()) walk(path);
      else if (stat.isSymbolicLink()) entries.set(relative(root, path), `-> ${readlinkSync(path)}`);
      else if (stat.isFile()) entries.set(relative(root, path), createHash('sha256').update(readFileSync(path)).digest('hex'));
    }
  };
  walk(root);
  return entries;
}


describe('backup.sh, kind files', () => {
  let moto: MotoServer;
  let bucket: string;
  let keyArn: string;
  let work: string;
  let source: string;

  beforeAll(async () => {
    moto = await MotoServer.start();
    ({ bucket, keyArn } = await moto.createBackupBucket('files-backups'));
    work = scratchDir('files');
    source = join(work, 'media');
    mkdirSync(join(source, 'photos', '2024', 'before'), { recursive: true });
    mkdirSync(join(source, 'cache', 'thumbs'), { recursive: true });
    mkdirSync(join(source, 'empty dir'));
    writeFileSync(join(source, 'photos', '2024', 'before', 'car 1 (front).jpg'), Buffer.from(Array.from({ length: 200_000 }, (_, i) => (i * 7919) % 251)));
    writeFileSync(join(source, 'photos', '2024', 'naïve résumé.txt'), 'unicode name\n');
    writeFileSync(join(source, 'photos', 'line\nbreak.txt'), 'a newline in the name\n');
    writeFileSync(join(source, '.hidden'), 'dot file\n');
    writeFileSync(join(source, 'empty.txt'), '');
    writeFileSync(join(source, 'upload.tmp'), 'excluded by *.tmp\n');
    writeFileSync(join(source, 'photos', 'partial.tmp'), 'excluded by *.tmp\n');
    writeFileSync(join(source, 'cache', 'thumbs', 't1.png'), 'excluded by cache\n');
    symlinkSync('photos/2024', join(source, 'latest'));
  });

  afterAll(async () => {
    await moto?.stop();
    removeDir(work);
  });

  const inputs = (extra: Record<string, string | undefined> = {}) =>
    backupEnv(moto, { BK_TARGET: 'media', BK_KIND: 'files', BK_BUCKET: bucket, BK_KMS_KEY_ID: keyArn, BK_PATH: source, BK_EXCLUDES: 'cache:*.tmp', ...extra });

  it('archives the tree without the excluded paths, and the archive restores to the same files', async () => {
    // GIVEN a tree with nested directories, odd names, a symlink and excluded paths
    // WHEN the backup runs
    const run1 = await runBackupScript(inputs());

    // THEN it succeeds and its result line names the stored object
    expect(run1.status, run1.stderr).toBe(0);
    const result = run1.result!;
    expect(result).toMatchObject({ target: 'media', tier: 'daily', kind: 'files', bucket });
    const stored = await fetchBackup(moto, bucket, result.key);
    expect(result.bytes).toBe(stored.manifest.bytes);
    expect(result.sha256).toBe(stored.manifest.sha256);
    expect(result.durationSeconds).toBeGreaterThan(0);
    expect(stored.manifest).toMatchObject({ target: 'media', kind: 'files', tier: 'daily', format: 'tar', compression: 'gzip', instance: 'i-0123456789abcdef0', key: result.key });
    expect(result.key).toBe(backupKey('daily', 'media', 'files', new Date(stored.manifest.startedAt)));
    expect(stored.manifest.tools).toHaveProperty('tar');
    // The CLI's version comes from the same start that checks it can send If-None-Match.
    expect(stored.manifest.tools.aws).toMatch(/^aws-cli\/1\.\d+\.\d+ Python\/\S+ \S+ botocore\/\d/);

    // AND the archive extracts to exactly the source minus the excludes
    const restored = join(work, 'restored');
    mkdirSync(restored);
    run('tar', ['-x', '-C', restored], { input: stored.dump });
    const expected = treeOf(source);
    for (const path of ['upload.tmp', 'photos/partial.tmp', 'cache/thumbs/t1.png']) {
      expect(expected.delete(path)).toBe(true);
    }
    expect(treeOf(restored)).toEqual(expected);
    expect(lstatSync(join(restored, 'empty dir')).isDirectory()).toBe(true);

    // AND the manifest counts the regular files and their bytes that went into the archive
    const regular = [...expected.entries()].filter(([, value]) => !value.startsWith('->')).map(([path]) => path);
    // AND the entries by type: the tree's directories (its top, photos, photos/2024, photos/2024/before,
    // "empty dir"; cache/ is excluded) and its one symlink
    expect(stored.manifest.files).toEqual({
      fileCount: regular.length,
      totalBytes: regular.reduce((sum, path) => sum + lstatSync(join(source, path)).size, 0),
      directoryCount: 5,
      symlinkCount: 1,
      hardLinkCount: 0,
      // AND the per-file index (path, size and SHA-256 of every file) taken from the archive as tar wrote it
      index: filesIndexOf(restored),
    });
    // AND the content digest of the archive as tar wrote it, before compression
    expect(stored.manifest.content).toEqual({ bytes: stored.dump.length, sha256: createHash('sha256').update(stored.dump).digest('hex') });
  });

  it('GIVEN an instance without python3 WHEN the backup runs THEN it succeeds with the content digest but no per-file index, and says so', async () => {
    // Each test backs up its own target: two backups of one target in the same second share a key, and the second is refused.
    const without = await runBackupScript(inputs({ BK_TARGET: 'media-no-python', PATH: pathWithout(['python3'], work) }));
    expect(without.status, without.stderr).toBe(0);
    expect(without.stderr).toMatch(/python3 is not installed: the manifest has no per-file index/);
    const { manifest } = await fetchBackup(moto, bucket, without.result!.key);
    expect(manifest.files?.index).toBeUndefined();
    expect(manifest.content?.sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('GIVEN more files than the per-file index may take WHEN the backup runs THEN the whole stream is still stored, without an index, and the log says why', async () => {
    const over = await runBackupScript(inputs({ BK_TARGET: 'media-index-limit', BK_FILES_INDEX_MAX_FILES: '2' }));
    expect(over.status, over.stderr).toBe(0);
    expect(over.stderr).toMatch(/the per-file index could not be taken, so the manifest has none .*more than 2 files: no per-file index/);
    const stored = await fetchBackup(moto, bucket, over.result!.key);
    expect(stored.manifest.files?.index).toBeUndefined();
    expect(stored.manifest.content).toEqual({ bytes: stored.dump.length, sha256: createHash('sha256').update(stored.dump).digest('hex') });
    expect(run('tar', ['-t'], { input: stored.dump }).split('\n')).toContain('./photos/2024/before/car 1 (front).jpg');
  });

  it('GIVEN a hard link in the tree WHEN backed up THEN the index lists the file under both names, as a restored tree holds it', async () => {
    const tree = join(work, 'linked');
    mkdirSync(tree);
    writeFileSync(join(tree, 'a.bin'), Buffer.alloc(5000, 3));
    linkSync(join(tree, 'a.bin'), join(tree, 'b.bin'));
    const linked = await runBackupScript(inputs({ BK_TARGET: 'linked', BK_PATH: tree, BK_EXCLUDES: '' }));
    expect(linked.status, linked.stderr).toBe(0);
    const { manifest } = await fetchBackup(moto, bucket, linked.result!.key);
    expect(manifest.files).toMatchObject({ fileCount: 1, hardLinkCount: 1, index: { ...filesIndexOf(tree), count: 2 } });
  });

  it('stores the object and its manifest with SSE-KMS and the tier retention', async () => {
    // GIVEN a 12-day retention
    const before = Date.now();
    // WHEN the backup runs
    const run1 = await runBackupScript(inputs({ BK_RETENTION_DAYS: '12', BK_TIER: 'manual' }));

    // THEN both objects carry the key and a retain-until 12 days on, as the manifest says
    expect(run1.status, run1.stderr).toBe(0);
    const { manifest } = await fetchBackup(moto, bucket, run1.result!.key);
    for (const key of [run1.result!.key, `${run1.result!.key}.manifest.json`]) {
      const head = await moto.s3().send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      expect(head.ServerSideEncryption).toBe('aws:kms');
      expect(head.SSEKMSKeyId).toBe(keyArn);
      expect(head.ObjectLockMode).toBe('GOVERNANCE');
      expect(head.ObjectLockRetainUntilDate?.toISOString().replace('.000', '')).toBe(manifest.retainUntil);
    }
    const retainUntil = Date.parse(manifest.retainUntil);
    expect(retainUntil).toBeGreaterThanOrEqual(before - 1000 + 12 * 86_400_000);
    expect(retainUntil).toBeLessThanOrEqual(Date.now() + 12 * 86_400_000);
    expect(run1.result!.key.startsWith('manual/media/')).toBe(true);
  });

  it('rejects missing and malformed inputs with exit 2, naming each variable, before touching S3', async () => {
    // GIVEN no bucket, a bad kind-independent retention and both password sources
    const keysBefore = await listKeys(moto, bucket);
    // WHEN the backup runs
    const run1 = await runBackupScript(
      inputs({ BK_BUCKET: undefined, BK_RETENTION_DAYS: '0', BK_TIER: 'Daily', BK_KIND: 'files', BK_PATH: 'relative/path' }),
    );

    // THEN it exits 2 and names every variable at fault
    expect(run1.status).toBe(2);
    expect(run1.stderr).toMatch(/BK_BUCKET is required/);
    expect(run1.stderr).toMatch(/BK_RETENTION_DAYS='0' is invalid/);
    expect(run1.stderr).toMatch(/BK_TIER='Daily' is invalid/);
    expect(run1.stderr).toMatch(/BK_PATH='relative\/path' is invalid: must be an absolute path/);
    expect(run1.stderr).toMatch(/stage input failed \(exit 2\)/);
    expect(run1.result).toBeUndefined();
    expect(await listKeys(moto, bucket)).toEqual(keysBefore);
  });

  it.each([
    ['a database name that mariadb-dump would read as an option', { BK_DB_NAME: '--all-databases' }, /BK_DB_NAME='--all-databases' is invalid: must be a database name/],
    ['a user name starting with -', { BK_DB_USER: '-uroot' }, /BK_DB_USER='-uroot' is invalid/],
    ['a TMPDIR with a line break (a sqlite3 dot-command)', { TMPDIR: '/tmp\n.shell touch /tmp/pwned\n' }, /TMPDIR='[\s\S]*' is invalid: must be an absolute path/],
    ["a TMPDIR with a quote", { TMPDIR: "/tmp/it's" }, /TMPDIR='\/tmp\/it's' is invalid/],
    ['a TMPDIR longer than 4096 characters', { TMPDIR: `/${'a'.repeat(4096)}` }, /TMPDIR='\/a{4096}' is invalid: .*4096 at most/],
    ['a secret ID longer than 2048 characters', { BK_PASSWORD_SSM_PARAMETER: undefined, BK_PASSWORD_SECRET_ID: 's'.repeat(2049) }, /BK_PASSWORD_SECRET_ID='s{2049}' is invalid/],
  ])('refuses %s with exit 2 before touching anything', async (_case, bad, message) => {
    const keysBefore = await listKeys(moto, bucket);
    const database = { BK_KIND: 'mysql', BK_PATH: undefined, BK_EXCLUDES: undefined, BK_DB_HOST: '127.0.0.1', BK_DB_NAME: 'app', BK_DB_USER: 'backup', BK_PASSWORD_SSM_PARAMETER: '/db/pw' };
    const run1 = await runBackupScript(inputs({ ...database, ...bad }));
    expect(run1.status).toBe(2);
    expect(run1.stderr).toMatch(message);
    expect(existsSync('/tmp/pwned')).toBe(false);
    expect(await listKeys(moto, bucket)).toEqual(keysBefore);
  });

  it('requires exactly one password source for a database', async () => {
    const both = await runBackupScript(
      inputs({ BK_KIND: 'postgres', BK_PATH: undefined, BK_EXCLUDES: undefined, BK_DB_HOST: '127.0.0.1', BK_DB_NAME: 'app', BK_DB_USER: 'backup', BK_PASSWORD_SSM_PARAMETER: '/db/pw', BK_PASSWORD_SECRET_ID: 'db-pw' }),
    );
    expect(both.status).toBe(2);
    expect(both.stderr).toMatch(/BK_PASSWORD_SSM_PARAMETER and BK_PASSWORD_SECRET_ID are both set/);

    const none = await runBackupScript(
      inputs({ BK_KIND: 'mysql', BK_PATH: undefined, BK_EXCLUDES: undefined, BK_DB_HOST: '127.0.0.1', BK_DB_NAME: 'app', BK_DB_USER: 'backup' }),
    );
    expect(none.status).toBe(2);
    expect(none.stderr).toMatch(/BK_PASSWORD_SSM_PARAMETER or BK_PASSWORD_SECRET_ID is required for kind 'mysql'/);
  });

  it.each([
    ['does not exist', () => join(work, 'no-such-dir'), /is not a directory/],
    ['is a file, not a directory', () => join(source, 'empty.txt'), /is not a directory/],
  ])('fails the dump stage with exit 4 when BK_PATH %s, and stores nothing', async (_case, path, message) => {
    const keysBefore = await listKeys(moto, bucket);
    const run1 = await runBackupScript(inputs({ BK_TARGET: 'missing', BK_PATH: path() }));
    expect(run1.status).toBe(4);
    expect(run1.stderr).toMatch(/stage dump failed \(exit 4\)/);
    expect(run1.stderr).toMatch(message);
    expect(await listKeys(moto, bucket)).toEqual(keysBefore);
  });

  it('fails the upload stage with exit 5 when S3 refuses the upload (no such bucket)', async () => {
    const run1 = await runBackupScript(inputs({ BK_BUCKET: 'no-such-bucket' }));
    expect(run1.status).toBe(5);
    expect(run1.stderr).toMatch(/stage upload failed \(exit 5\): S3 refused the upload/);
    expect(run1.stderr).toMatch(/NoSuchBucket/);
    expect(run1.result).toBeUndefined();
    expect((await listKeys(moto, bucket)).filter((key) => key.endsWith('.manifest.json') && key.includes('no-such'))).toEqual([]);
  });

  it('never writes over an existing key: a second backup in the same second is refused, the first stays the only version', async () => {
    // GIVEN a clock that stops, so two runs get the same key, and a first backup at that key (the
    // script reads the time with printf's %()T: a printf function, defined through BASH_ENV, stops it)
    const stoppedClock = join(work, 'stopped-clock.sh');
    writeFileSync(stoppedClock, `printf() { if [ "\${1-} \${3-} \${4-}" = '-v %(%s)T -1' ]; then builtin printf -v "$2" %s 1796263200; else builtin printf "$@"; fi; }\n`);
    const stopped = { BK_TARGET: 'twice', BASH_ENV: stoppedClock };
    const first = await runBackupScript(inputs(stopped));
    expect(first.status, first.stderr).toBe(0);
    // WHEN the same backup runs again
    const second = await runBackupScript(inputs(stopped));
    // THEN the upload is refused (If-None-Match), no incomplete upload stays, and the key holds one version
    expect(second.status).toBe(5);
    expect(second.stderr).toMatch(/already exists: backups are written once, so this one was not stored/);
    const versions = await moto.s3().send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: first.result?.key }));
    expect((versions.Versions ?? []).filter((version) => version.Key === first.result?.key)).toHaveLength(1);
    expect((await listIncompleteUploads(moto, bucket)).filter((key) => key.includes('/twice/'))).toEqual([]);
  });

  it('uploads with a checksum the CLI cannot leave out: it succeeds with request_checksum_calculation = when_required, where a plain upload is refused', async () => {
    const whenRequired = { AWS_REQUEST_CHECKSUM_CALCULATION: 'when_required' };
    // GIVEN a CLI set to send checksums only where an operation requires one: S3 refuses its plain uploads to a locked bucket
    writeFileSync(join(work, 'plain.txt'), 'plain');
    const plain = spawnSync('aws', ['--endpoint-url', moto.endpoint, 's3api', 'put-object', '--bucket', bucket, '--key', 'daily/plain.txt', '--body', join(work, 'plain.txt')], {
      env: moto.env(whenRequired),
      encoding: 'utf8',
    });
    expect(plain.status).not.toBe(0);
    expect(plain.stderr).toMatch(/x-amz-checksum- HTTP header is required/);
    // WHEN the backup runs with that setting THEN every upload (parts, manifest) carries its own SHA-256 and succeeds
    const run1 = await runBackupScript(inputs({ BK_TARGET: 'when-required', ...whenRequired }));
    expect(run1.status, run1.stderr).toBe(0);
    expect((await fetchBackup(moto, bucket, run1.result!.key)).manifest.sha256).toBe(run1.result!.sha256);
  });

  it('GIVEN a CLI that passed its probe WHEN the next backup runs THEN it starts one CLI fewer, and records the same version', async () => {
    // GIVEN a shim in front of the real CLI that logs every start, and an empty state directory
    const bin = join(work, 'counting-cli');
    mkdirSync(bin, { recursive: true });
    const realAws = run('bash', ['-c', 'command -v aws']).trim();
    const starts = join(work, 'cli-starts.log');
    writeFileSync(join(bin, 'aws'), `#!/bin/bash\nprintf '%s\\n' "$*" >>'${starts}'\nexec '${realAws}' "$@"\n`, { mode: 0o755 });
    const state = join(work, 'state');
    const env = (name: string) => inputs({ BK_TARGET: name, PATH: `${bin}:${process.env.PATH ?? ''}`, BACKUP_KIT_STATE_DIR: state });
    // WHEN two backups run
    const first = await runBackupScript(env('probe-first'));
    expect(first.status, first.stderr).toBe(0);
    const firstStarts = readFileSync(starts, 'utf8').trim().split('\n');
    writeFileSync(starts, '');
    const second = await runBackupScript(env('probe-second'));
    expect(second.status, second.stderr).toBe(0);
    const secondStarts = readFileSync(starts, 'utf8').trim().split('\n');
    // THEN the first asked the CLI what it can send, the second did not
    expect(firstStarts.filter((line) => line.includes('--generate-cli-skeleton'))).toHaveLength(1);
    expect(secondStarts.filter((line) => line.includes('--generate-cli-skeleton'))).toEqual([]);
    expect(secondStarts).toHaveLength(firstStarts.length - 1);
    // AND both manifests name the same CLI version
    const [one, two] = await Promise.all([fetchBackup(moto, bucket, first.result!.key), fetchBackup(moto, bucket, second.result!.key)]);
    expect(two.manifest.tools.aws).toBe(one.manifest.tools.aws);
    // AND what was remembered names the CLI binary itself, only root may read it
    expect(readFileSync(join(state, 'aws-cli-probe'), 'utf8')).toMatch(new RegExp(`^${join(bin, 'aws')} \\d+ \\d+\\naws-cli/`));
    expect(lstatSync(state).mode & 0o777).toBe(0o700);
  });

  it("with Debian 12's packaged AWS CLI (2.9.19, the oldest v2 of the matrix) stops before reading any data, naming the minimum", async () => {
    // GIVEN the real old CLI first on PATH (the test-tools step installs it at /usr/bin/aws)
    expect(spawnSync('/usr/bin/aws', ['--version'], { encoding: 'utf8' }).stdout).toMatch(/^aws-cli\/2\.9\./);
    const bin = join(work, 'debian-cli');
    mkdirSync(bin, { recursive: true });
    if (!existsSync(join(bin, 'aws'))) symlinkSync('/usr/bin/aws', join(bin, 'aws'));
    const keysBefore = await listKeys(moto, bucket);
    const old = await runBackupScript(inputs({ BK_TARGET: 'debian-cli', PATH: `${bin}:${process.env.PATH ?? ''}` }));
    expect(old.status).toBe(5);
    expect(old.stderr).toMatch(/this AWS CLI \(aws-cli\/2\.9\.19 [^)]*\) cannot send If-None-Match/);
    expect(await listKeys(moto, bucket)).toEqual(keysBefore);
  });

  it('stops the upload when the archiver fails midway: no object, no manifest, no incomplete upload', async () => {
    // GIVEN a tar that streams 20 MB and then fails, and 5 MiB parts: three parts are uploaded (one of them while the next is read) before it fails
    const bin = join(work, 'failing-bin');
    mkdirSync(bin);
    const realTar = run('bash', ['-c', 'command -v tar']).trim();
    writeFileSync(
      join(bin, 'tar'),
      `#!/bin/bash\n[ "$1" = --version ] && exec ${realTar} --version\nhead -c 20000000 /dev/urandom\necho 'tar: simulated read error' >&2\nexit 2\n`,
    );
    chmodSync(join(bin, 'tar'), 0o755);
    const env = inputs({ BK_TARGET: 'broken', BK_PART_MIB: '5' });
    env.PATH = `${bin}:${env.PATH ?? ''}`;

    // WHEN the backup runs
    const run1 = await runBackupScript(env);
    expect(run1.stderr).toMatch(/parts of 5 MiB/);

    // THEN the dump stage fails and nothing of the partial stream is left in the bucket
    expect(run1.status).toBe(4);
    expect(run1.stderr).toMatch(/the files dump failed \(exit 2\); nothing was stored: .*simulated read error/);
    expect((await listKeys(moto, bucket)).filter((key) => key.includes('/broken/'))).toEqual([]);
    expect((await listIncompleteUploads(moto, bucket)).filter((key) => key.includes('/broken/'))).toEqual([]);
    // AND no part upload outlived the script
    expect(commandLines().filter((line) => line.includes('daily/broken/'))).toEqual([]);
  });

  it('compresses with single-threaded gzip when BK_COMPRESSOR=gzip, to the same archive', async () => {
    const run1 = await runBackupScript(inputs({ BK_TARGET: 'media-gzip', BK_COMPRESSOR: 'gzip', BK_GZIP_LEVEL: '6' }));
    expect(run1.status, run1.stderr).toBe(0);
    expect(run1.stderr).toMatch(/\(gzip -6, SSE-KMS, parts of 64 MiB, written once\)/);
    const stored = await fetchBackup(moto, bucket, run1.result!.key);
    expect(stored.manifest.tools.gzip).toMatch(/^gzip /);
    expect(stored.manifest.tools).not.toHaveProperty('pigz');
    expect(run('tar', ['-t'], { input: stored.dump }).split('\n')).toContain('./photos/2024/before/car 1 (front).jpg');
  });

  it('GIVEN a source expected to fill four parts or more WHEN backed up THEN the multipart upload is created while the first part is cut, whatever the stream turns out to be, each part checked by S3 against its SHA-256; a small tree is one PutObject', async () => {
    // GIVEN 5 MiB parts and two trees whose size says 20 MiB or more: one of 11 MB that does not
    // compress beside 15 MB of sparse zeros, one of 24 MB of sparse zeros only (a few KB compressed)
    const mixed = join(work, 'mixed');
    const zeros = join(work, 'zeros');
    mkdirSync(mixed);
    mkdirSync(zeros);
    writeFileSync(join(mixed, 'noise.bin'), randomBytes(11 * 1048576));
    writeFileSync(join(mixed, 'sparse.bin'), '');
    truncateSync(join(mixed, 'sparse.bin'), 15 * 1048576);
    writeFileSync(join(zeros, 'zeros.bin'), '');
    truncateSync(join(zeros, 'zeros.bin'), 24 * 1048576);
    // WHEN each is backed up
    const many = await runBackupScript(inputs({ BK_TARGET: 'mixed', BK_PATH: mixed, BK_EXCLUDES: undefined, BK_PART_MIB: '5' }));
    const one = await runBackupScript(inputs({ BK_TARGET: 'zeros', BK_PATH: zeros, BK_EXCLUDES: undefined, BK_PART_MIB: '5' }));
    const single = await runBackupScript(inputs({ BK_TARGET: 'small', BK_PART_MIB: '5' }));
    // THEN the first is stored in three parts (the front refuses a part without its checksum), the
    // second (its estimate too high) as a one-part upload, the small tree as one PutObject, all whole
    expect(many.status, many.stderr).toBe(0);
    expect(many.stderr).toMatch(/parts of 5 MiB/);
    expect(one.status, one.stderr).toBe(0);
    expect(single.status, single.stderr).toBe(0);
    const s3 = moto.s3();
    expect((await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: single.result!.key }))).ETag).not.toMatch(/-\d+"$/);
    expect((await fetchBackup(moto, bucket, single.result!.key)).manifest.files?.fileCount).toBeGreaterThan(0);
    expect((await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: many.result!.key }))).ETag).toMatch(/-3"$/);
    expect((await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: one.result!.key }))).ETag).toMatch(/-1"$/);
    for (const [result, tree, file] of [[many, mixed, 'noise.bin'], [many, mixed, 'sparse.bin'], [one, zeros, 'zeros.bin']] as const) {
      const stored = await fetchBackup(moto, bucket, result.result!.key);
      const restored = spawnSync('tar', ['-xO', `./${file}`], { input: stored.dump, maxBuffer: 64 * 1048576 }).stdout;
      expect(createHash('sha256').update(restored).digest('hex')).toBe(createHash('sha256').update(readFileSync(join(tree, file))).digest('hex'));
    }
    expect((await listIncompleteUploads(moto, bucket)).filter((key) => /\/(mixed|zeros)\//.test(key))).toEqual([]);
  });

  it('GIVEN a source expected to fill four parts WHEN the archiver fails before the first part is full THEN the upload created early is aborted: no object, no incomplete upload', async () => {
    // GIVEN a 24 MB tree (so the upload is created at once) and a tar that streams 3 MB and fails
    const big = join(work, 'big-failing');
    mkdirSync(big);
    writeFileSync(join(big, 'zeros.bin'), '');
    truncateSync(join(big, 'zeros.bin'), 24 * 1048576);
    const bin = join(work, 'early-failing-bin');
    mkdirSync(bin);
    const realTar = run('bash', ['-c', 'command -v tar']).trim();
    writeFileSync(join(bin, 'tar'), `#!/bin/bash\n[ "$1" = --version ] && exec ${realTar} --version\nhead -c 3000000 /dev/urandom\nsleep 2\necho 'tar: simulated read error' >&2\nexit 2\n`);
    chmodSync(join(bin, 'tar'), 0o755);
    const env = inputs({ BK_TARGET: 'early-broken', BK_PATH: big, BK_EXCLUDES: undefined, BK_PART_MIB: '5' });
    env.PATH = `${bin}:${env.PATH ?? ''}`;
    // WHEN the backup runs
    const failed = await runBackupScript(env);
    // THEN the dump stage fails and the multipart upload made early is gone
    expect(failed.status).toBe(4);
    expect(failed.stderr).toMatch(/the files dump failed \(exit 2\); nothing was stored/);
    expect(failed.stderr).toMatch(/aborted the incomplete multipart upload/);
    expect((await listKeys(moto, bucket)).filter((key) => key.includes('/early-broken/'))).toEqual([]);
    expect((await listIncompleteUploads(moto, bucket)).filter((key) => key.includes('/early-broken/'))).toEqual([]);
    expect(commandLines().filter((line) => line.includes('daily/early-broken/'))).toEqual([]);
  });

  it('refuses a part size S3 would refuse, naming BK_PART_MIB, before any upload', async () => {
    const keysBefore = await listKeys(moto, bucket);
    for (const size of ['4', '5121', '0', '64k']) {
      const refused = await runBackupScript(inputs({ BK_TARGET: 'bad-part', BK_PART_MIB: size }));
      expect(refused.status).toBe(2);
      expect(refused.stderr).toMatch(/BK_PART_MIB.*5 to 5120 MiB/);
    }
    expect(await listKeys(moto, bucket)).toEqual(keysBefore);
  });

  it('stops the upload when stopped by SIGTERM (the document timeout) mid-stream: exit 143, no object', async () => {
    // GIVEN a tar that keeps streaming slowly, as a large dump would
    const bin = join(work, 'slow-bin');
    mkdirSync(bin);
    const realTar = run('bash', ['-c', 'command -v tar']).trim();
    writeFileSync(join(bin, 'tar'), `#!/bin/bash\n[ "$1" = --version ] && exec ${realTar} --version\nwhile :; do head -c 200000 /dev/urandom || exit 1; sleep 0.2; done\n`);
    chmodSync(join(bin, 'tar'), 0o755);
    const env = inputs({ BK_TARGET: 'timed-out' });
    env.PATH = `${bin}:${env.PATH ?? ''}`;
    const child = spawn('bash', [BACKUP_SCRIPT], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const exited = new Promise<number | null>((resolveExit) => child.on('close', (status, signal) => resolveExit(status ?? (signal ? -1 : null))));

    // WHEN it is sent SIGTERM while streaming
    await waitFor('the stream to start', () => stderr.includes('streaming to'), 60_000);
    await new Promise((resolveWait) => setTimeout(resolveWait, 1500));
    child.kill('SIGTERM');

    // THEN it exits 143 promptly (its output closed within seconds: nothing of it lingers) and no object of this run is completed
    const stopped = Date.now();
    expect(await exited, stderr).toBe(143);
    expect(Date.now() - stopped).toBeLessThan(8000);
    expect(stderr).toMatch(/interrupted by SIGTERM/);
    await new Promise((resolveWait) => setTimeout(resolveWait, 2000));
    expect((await listKeys(moto, bucket)).filter((key) => key.includes('/timed-out/'))).toEqual([]);
    // AND the uploader did not outlive the script (it would complete the object at the stream's end)
    expect(commandLines().filter((line) => line.includes('daily/timed-out/'))).toEqual([]);
  });

  it('records the host name as the instance off EC2', async () => {
    const run1 = await runBackupScript(inputs({ BK_INSTANCE_ID: undefined }));
    expect(run1.status, run1.stderr).toBe(0);
    expect((await fetchBackup(moto, bucket, run1.result!.key)).manifest.instance).toBe(hostname());
  });

  describe('with instance metadata (IMDSv2)', () => {
    let imds: Server;
    let endpoint: string;
    const requests: string[] = [];

    beforeAll(async () => {
      // A loopback stand-in for the instance metadata service that, like IMDSv2, answers
      // only requests that carry a session token.
      imds = createServer((request, response) => {
        requests.push(`${request.method} ${request.url}`);
        if (request.method === 'PUT' && request.url === '/latest/api/token') {
          response.end('token-abc');
        } else if (request.headers['x-aws-ec2-metadata-token'] !== 'token-abc') {
          response.statusCode = 401;
          response.end();
        } else if (request.url === '/latest/meta-data/instance-id') {
          response.end('i-0fedcba9876543210');
        } else if (request.url === '/latest/meta-data/placement/region') {
          response.end('eu-west-1');
        } else {
          response.statusCode = 404;
          response.end();
        }
      });
      const port = await freePort();
      await new Promise<void>((resolveListen) => imds.listen(port, '127.0.0.1', resolveListen));
      endpoint = `http://127.0.0.1:${port}`;
    });

    afterAll(() => new Promise<void>((resolveClose) => imds.close(() => resolveClose())));

    it('records the instance ID from IMDSv2 and takes the region from it when none is set', async () => {
      const env = inputs({ BK_TARGET: 'media-imds', BK_INSTANCE_ID: undefined, AWS_EC2_METADATA_DISABLED: undefined, AWS_EC2_METADATA_SERVICE_ENDPOINT: endpoint });
      delete env.AWS_REGION;
      delete env.AWS_DEFAULT_REGION;
      env.AWS_CONFIG_FILE = join(work, 'no-aws-config');
      const run1 = await runBackupScript(env);
      expect(run1.status, run1.stderr).toBe(0);
      expect((await fetchBackup(moto, bucket, run1.result!.key)).manifest.instance).toBe('i-0fedcba9876543210');
      expect(requests).toContain('PUT /latest/api/token');
      expect(requests).toContain('GET /latest/meta-data/placement/region');
    });
  });
});
