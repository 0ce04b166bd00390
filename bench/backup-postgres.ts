/**
 * Benchmark of scripts/instance/backup.sh on a generated PostgreSQL database of >= 500 MB.
 *
 *   npx tsx bench/backup-postgres.ts            (BENCH_PGBENCH_SCALE, BENCH_MIXED_ROWS to resize)
 *
 * In one run, against a throwaway PostgreSQL server and a moto server on loopback, it prints:
 *  1. wall time, peak extra disk (temp directory) and peak RSS of the backup script, against the
 *     bare pipeline `pg_dump -Fc -Z0 | gzip -<same level> > /dev/null` as the baseline;
 *  2. where pgBackRest is installed, its full backup of the same cluster at the same gzip level
 *     (and zstd), against the script's warm runs;
 *  3. the compressor comparison on the same raw dump (gzip -1/-3/-6, pigz and zstd when
 *     installed): MB/s of input and compression ratio, which is what the script's default
 *     gzip level rests on.
 * Figures, not a pass/fail test: the machine's load moves them; the ratios are what count.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { backupEnv, putSecureStringParameter } from '../test/support/backup-script';
import { MotoServer } from '../test/support/moto';
import { PostgresServer } from '../test/support/postgres';
import { removeDir, run, scratchDir } from '../test/support/processes';

const PGBENCH_SCALE = Number(process.env.BENCH_PGBENCH_SCALE ?? '16');
const MIXED_ROWS = Number(process.env.BENCH_MIXED_ROWS ?? '1500000');
const MB = 1024 * 1024;

/**
 * PATH with the AWS CLI's own executable first when `aws` is a pyenv shim, as on this kind of
 * machine: the shim resolves the interpreter again on every start (a quarter of a second here),
 * which no instance pays. The bench times the CLI an instance runs, not the version manager.
 */
function pathWithoutCliShim(): string {
  const path = process.env.PATH ?? '';
  const found = spawnSync('bash', ['-c', 'command -v aws'], { encoding: 'utf8' }).stdout.trim();
  if (!found.includes('/.pyenv/shims/')) return path;
  const real = spawnSync('pyenv', ['which', 'aws'], { encoding: 'utf8' });
  return real.status === 0 && real.stdout.trim() ? `${dirname(real.stdout.trim())}:${path}` : path;
}

function has(command: string): boolean {
  return spawnSync('bash', ['-c', `command -v ${command}`]).status === 0;
}

function seconds(startNs: bigint): number {
  return Number(process.hrtime.bigint() - startNs) / 1e9;
}

/** Runs a shell pipeline; returns its wall time and stdout. */
function timed(script: string, env: NodeJS.ProcessEnv): { seconds: number; stdout: string } {
  const start = process.hrtime.bigint();
  const result = spawnSync('bash', ['-c', `set -euo pipefail; ${script}`], { env, encoding: 'utf8', maxBuffer: 64 * MB });
  if (result.status !== 0) throw new Error(`${script} failed: ${result.stderr}`);
  return { seconds: seconds(start), stdout: result.stdout };
}

/** Bytes used under `dir` (du), 0 when it is empty or gone. */
function diskUsage(dir: string): number {
  const result = spawnSync('du', ['-sb', dir], { encoding: 'utf8' });
  return result.status === 0 ? Number(result.stdout.split('\t')[0]) : 0;
}

/** Runs `during` while polling the disk use of `dir` every 100 ms; returns the peak above the start. */
async function peakDisk<T>(dir: string, during: () => Promise<T>): Promise<{ value: T; peakBytes: number }> {
  const base = diskUsage(dir);
  let peak = 0;
  const timer = setInterval(() => (peak = Math.max(peak, diskUsage(dir) - base)), 100);
  try {
    return { value: await during(), peakBytes: peak };
  } finally {
    clearInterval(timer);
  }
}

function spawnAsync(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ status: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('close', (status) => resolve({ status, stderr }));
  });
}

const fmt = (value: number, digits = 1) => value.toFixed(digits);

/**
 * A full pgBackRest backup of `pg`'s cluster into a new local repository under `dir`, as the
 * server's user (pgBackRest reads the data directory), with archive-check off (no WAL archiving
 * here): its wall time and the repository's size.
 */
function pgBackRestFullBackup(pg: PostgresServer, compress: readonly string[]): { seconds: number; repositoryBytes: number } {
  // Its own directory, which the server's user can reach (the bench's work directory is root's, 0700).
  const dir = scratchDir('pgbackrest');
  try {
    return pgBackRestIn(dir, pg, compress);
  } finally {
    removeDir(dir);
  }
}

function pgBackRestIn(dir: string, pg: PostgresServer, compress: readonly string[]): { seconds: number; repositoryBytes: number } {
  const asRoot = process.getuid?.() === 0;
  const config = join(dir, 'pgbackrest.conf');
  writeFileSync(
    config,
    `[global]\nrepo1-path=${dir}/repo\nrepo1-retention-full=1\nlock-path=${dir}/lock\nlog-path=${dir}/log\nlog-level-console=warn\nlog-level-file=off\nstart-fast=y\narchive-check=n\nprocess-max=2\n\n` +
      `[bench]\npg1-path=${pg.dataDirectory}\npg1-port=${pg.port}\npg1-socket-path=${pg.socketDirectory}\npg1-user=${pg.user}\n`,
  );
  if (asRoot) run('chown', ['-R', 'postgres:postgres', dir]);
  const pgbackrest = (args: readonly string[]) => {
    const argv = ['pgbackrest', `--config=${config}`, '--stanza=bench', ...args];
    // The password through the environment (runuser keeps it), never argv.
    const env = { ...process.env, PGPASSWORD: pg.password };
    const result = asRoot ? spawnSync('runuser', ['-u', 'postgres', '--', ...argv], { env, encoding: 'utf8' }) : spawnSync('pgbackrest', argv.slice(1), { env, encoding: 'utf8' });
    if (result.status !== 0) throw new Error(`pgbackrest ${args.join(' ')} failed: ${result.stderr}`);
  };
  pgbackrest(['stanza-create']);
  const start = process.hrtime.bigint();
  pgbackrest(['backup', '--type=full', ...compress]);
  return { seconds: seconds(start), repositoryBytes: diskUsage(join(dir, 'repo')) };
}

async function main(): Promise<void> {
  process.env.PATH = pathWithoutCliShim();
  const work = scratchDir('bench');
  const [moto, pg] = await Promise.all([MotoServer.start(), PostgresServer.start()]);
  try {
    console.log(`# backup.sh benchmark (PostgreSQL), ${new Date().toISOString()}, ${run('nproc', []).trim()} cores`);
    console.log(`AWS CLI: ${run('bash', ['-c', 'command -v aws']).trim()} (${run('aws', ['--version']).trim()})`);
    console.log(`generating: pgbench -i -s ${PGBENCH_SCALE} + ${MIXED_ROWS} rows of mixed text/numeric/jsonb ...`);
    pg.createDatabase('bench');
    const generated = process.hrtime.bigint();
    run('pgbench', ['-i', '-q', '-s', String(PGBENCH_SCALE), 'bench'], { env: pg.env('bench') });
    pg.psql(
      'bench',
      `CREATE TABLE orders_mixed (id bigint PRIMARY KEY, customer text, amount numeric(12,2), status text, created_at timestamptz, notes text, payload jsonb);
       INSERT INTO orders_mixed
       SELECT i, 'customer-' || (random() * 100000)::int, (random() * 1000)::numeric(12,2),
              (ARRAY['new','paid','shipped','refunded'])[1 + i % 4],
              timestamptz '2024-01-01 00:00+00' - random() * interval '900 days',
              md5(random()::text) || ' ' || repeat(chr(97 + i % 26), i % 60),
              jsonb_build_object('sku', 'SKU-' || (i % 5000), 'qty', i % 9, 'gift', i % 13 = 0)
       FROM generate_series(1, ${MIXED_ROWS}) i;
       ANALYZE;`,
    );
    const databaseBytes = Number(pg.psql('bench', 'SELECT pg_database_size(current_database())').trim());
    console.log(`database: ${fmt(databaseBytes / MB, 0)} MB (pg_database_size), generated in ${fmt(seconds(generated))} s`);
    if (databaseBytes < 500 * MB) console.log('WARNING: below 500 MB; raise BENCH_PGBENCH_SCALE or BENCH_MIXED_ROWS');

    const { bucket, keyArn } = await moto.createBackupBucket('bench-backups');
    await putSecureStringParameter(moto, '/bench/db-password', pg.password);
    const level = /readonly DEFAULT_GZIP_LEVEL=(\d)/.exec(run('cat', [join(__dirname, '../scripts/instance/backup.sh')]))?.[1] ?? '1';
    // Each compressor the script can use (pigz, its default when installed, and gzip), each
    // against the bare pipeline with the same compressor, in this one run.
    const compressors = has('pigz') ? ['pigz', 'gzip'] : ['gzip'];
    const tmp = join(work, 'script-tmp');
    mkdirSync(tmp);
    const rows: string[] = [];
    const ratios: string[] = [];
    /** The warm run of each compressor: the script's wall time and its stream's. */
    const scriptRuns = new Map<string, { seconds: number; streamSeconds: number }>();
    /** The bare pipeline's time beside each warm run. */
    const baselines = new Map<string, number>();
    // The first compressor runs twice: cold (the script probes the AWS CLI) and warm (it remembers).
    const runs = [compressors[0] ?? 'gzip', ...compressors];
    for (const [index, compressor] of runs.entries()) {
      // 1. Baseline: the bare dump and the same compressor, nothing written anywhere.
      const baseline = timed(`pg_dump -w -Fc -Z0 bench | ${compressor} -n -${level} | wc -c`, pg.env('bench'));
      const baselineBytes = Number(baseline.stdout.trim());

      // 2. The script, to moto, with its temp directory watched.
      const env = backupEnv(moto, {
        BK_TARGET: `bench-${compressor}-${index}`,
        BK_KIND: 'postgres',
        BK_BUCKET: bucket,
        BK_KMS_KEY_ID: keyArn,
        BK_DB_HOST: '127.0.0.1',
        BK_DB_PORT: String(pg.port),
        BK_DB_NAME: 'bench',
        BK_DB_USER: pg.user,
        BK_PASSWORD_SSM_PARAMETER: '/bench/db-password',
        BK_COMPRESSOR: compressor,
        TMPDIR: tmp,
        // The CLI probe the script remembers: the first run asks, the later ones do not.
        BACKUP_KIT_STATE_DIR: join(work, 'state'),
      });
      const scriptStart = process.hrtime.bigint();
      const rssFile = join(work, 'rss');
      const { value: scriptRun, peakBytes } = await peakDisk(tmp, () =>
        spawnAsync('/usr/bin/time', ['-f', '%M', '-o', rssFile, 'bash', join(__dirname, '../scripts/instance/backup.sh')], env),
      );
      const scriptSeconds = seconds(scriptStart);
      if (scriptRun.status !== 0) throw new Error(`backup.sh failed: ${scriptRun.stderr}`);
      const peakRssKb = Number(run('cat', [rssFile]).trim());
      const uploaded = /uploaded (\d+) bytes in ([\d.]+)s/.exec(scriptRun.stderr);
      const streamSeconds = Number(uploaded?.[2] ?? NaN);
      if (index > 0) {
        scriptRuns.set(compressor, { seconds: scriptSeconds, streamSeconds });
        baselines.set(compressor, baseline.seconds);
      }
      rows.push(`| pg_dump -Fc -Z0 \\| ${compressor} -${level} > /dev/null | ${fmt(baseline.seconds)} | ${fmt(baselineBytes / MB)} | 0 (no files) | - |`);
      rows.push(
        `| backup.sh (${compressor} -${level}, to moto) | ${fmt(scriptSeconds)} | ${fmt(Number(uploaded?.[1] ?? NaN) / MB)} | ${fmt(peakBytes / 1024, 0)} KB | ${fmt(peakRssKb / 1024, 0)} MB |`,
      );
      ratios.push(
        `${compressor}: script / baseline wall time ${fmt(scriptSeconds / baseline.seconds, 2)}x; the dump+compress+upload stream alone ${fmt(streamSeconds)} s = ${fmt(streamSeconds / baseline.seconds, 2)}x; fixed (everything but the stream) ${fmt(scriptSeconds - streamSeconds)} s${index === 0 ? ' (the first run: it also probes the CLI)' : ''}`,
      );
    }
    // The stream's other baseline: the same compressed bytes uploaded by the AWS CLI alone
    // (`aws s3 cp`, its parallel multipart upload) to the same moto server. The stream can be no
    // faster than the slower of the bare pipeline and the bare upload.
    const compressedFile = join(work, 'compressed.gz');
    timed(`pg_dump -w -Fc -Z0 bench | ${compressors[0] ?? 'gzip'} -n -${level} > '${compressedFile}'`, pg.env('bench'));
    const bareUpload = timed(`aws s3 cp --only-show-errors '${compressedFile}' 's3://${bucket}/bare-upload.gz'`, moto.env());
    for (const [compressor, script] of scriptRuns) {
      const slower = Math.max(bareUpload.seconds, baselines.get(compressor) ?? 0);
      ratios.push(`${compressor}: the stream alone / the slower of the bare pipeline and the bare upload (${fmt(slower)} s) = ${fmt(script.streamSeconds / slower, 2)}x`);
    }
    rows.push(`| aws s3 cp of the same ${fmt(statSync(compressedFile).size / MB)} MB to moto (the bare upload) | ${fmt(bareUpload.seconds)} | - | - | - |`);
    console.log(`\n## backup.sh vs bare pg_dump | <same compressor> (same run)`);
    console.log(`| | wall s | output MB | peak extra disk | peak RSS (largest process) |`);
    console.log(`|---|---|---|---|---|`);
    rows.forEach((row) => console.log(row));
    ratios.forEach((ratio) => console.log(ratio));
    console.log('(the fixed part is mostly AWS CLI start-ups: the password and the manifest, and on the first run the CLI probe)');

    // 2b. pgBackRest, where installed: a full physical backup of the same cluster at the same gzip level.
    if (has('pgbackrest')) {
      console.log(`\n## pgBackRest ${run('pgbackrest', ['version']).trim().replace(/^pgBackRest /, '')}, full backup of the same cluster (local posix repository, process-max=2)`);
      console.log('| | wall s | repository MB |');
      console.log('|---|---|---|');
      for (const [label, compress] of [[`gz -${level}`, ['--compress-type=gz', `--compress-level=${level}`]], ['zst -1', ['--compress-type=zst', '--compress-level=1']]] as const) {
        let backup: { seconds: number; repositoryBytes: number };
        try {
          backup = pgBackRestFullBackup(pg, compress);
        } catch (error) {
          console.log(`| pgbackrest backup --type=full (${label}) | failed: ${(error as Error).message.split('\n')[0]} | - |`);
          continue;
        }
        console.log(`| pgbackrest backup --type=full (${label}) | ${fmt(backup.seconds)} | ${fmt(backup.repositoryBytes / MB)} |`);
        for (const [compressor, script] of scriptRuns) {
          console.log(
            `${compressor} vs pgBackRest ${label}: backup.sh ${fmt(script.seconds / backup.seconds, 2)}x its time, the stream alone ${fmt(script.streamSeconds / backup.seconds, 2)}x (backup.sh uploads through the AWS CLI to moto, pgBackRest writes to local disk)`,
          );
        }
      }
    } else {
      console.log('\n(pgBackRest is not installed: Debian `apt-get install pgbackrest` adds the comparison)');
    }

    // 3. Compressors on the same raw dump (read from the page cache).
    const rawFile = join(work, 'raw.pgdump');
    run('bash', ['-c', `pg_dump -w -Fc -Z0 bench > '${rawFile}'`], { env: pg.env('bench') });
    const rawBytes = statSync(rawFile).size;
    run('bash', ['-c', `cat '${rawFile}' > /dev/null`]); // warm the page cache
    const candidates: [string, string][] = [
      ['gzip -1', 'gzip -n -1'],
      ['gzip -3', 'gzip -n -3'],
      ['gzip -6 (gzip default)', 'gzip -n -6'],
    ];
    if (has('pigz')) candidates.push(['pigz -1 (all cores)', 'pigz -n -1'], ['pigz -6 (all cores)', 'pigz -n -6']);
    if (has('zstd')) candidates.push(['zstd -1', 'zstd -q -1 -c'], ['zstd -3 (zstd default)', 'zstd -q -3 -c']);
    console.log(`\n## compressors on the same raw pg_dump -Fc -Z0 (${fmt(rawBytes / MB, 0)} MB, from page cache)`);
    console.log('| compressor | s | input MB/s | output MB | ratio |');
    console.log('|---|---|---|---|---|');
    for (const [label, command] of candidates) {
      const result = timed(`${command} < '${rawFile}' | wc -c`, process.env);
      const out = Number(result.stdout.trim());
      console.log(`| ${label} | ${fmt(result.seconds, 2)} | ${fmt(rawBytes / MB / result.seconds, 0)} | ${fmt(out / MB, 1)} | ${fmt(rawBytes / out, 2)} |`);
    }
    const dumpOnly = timed(`pg_dump -w -Fc -Z0 bench | wc -c`, pg.env('bench'));
    console.log(`\npg_dump -Fc -Z0 alone (no compression): ${fmt(dumpOnly.seconds)} s = ${fmt(rawBytes / MB / dumpOnly.seconds, 0)} MB/s`);
  } finally {
    await Promise.all([moto.stop(), pg.stop()]);
    removeDir(work);
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
