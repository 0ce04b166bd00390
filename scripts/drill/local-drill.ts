/**
 * The whole backup → verify → restore loop on this machine, with no AWS account: moto server
 * stands in for S3, KMS, SSM and SNS; a throwaway PostgreSQL server, a SQLite file and a
 * directory are the sources. They are backed up with the real backup script, verified with the
 * verify job's code, one backup is broken on purpose to show it is caught (by the verifier, and
 * refused by the restore), and the good ones are restored in scratch mode with the real restore
 * script and compared with their sources. Then a server is lost and rebuilt onto a new one with
 * the rebuild event (see test/support/rebuild-scenario.ts), compared and timed. Prints a short
 * report; exits non-zero on any mismatch.
 *
 *   npm run drill
 */
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { localVerifier } from '../../test/support/local-verifier';
import { rebuildScenario } from '../../test/support/rebuild-scenario';
import { MOTO_REGION, MotoServer } from '../../test/support/moto';
import { PostgresServer } from '../../test/support/postgres';
import { removeDir, run, scratchDir } from '../../test/support/processes';
import { backupScriptEnv, corruptCopyOf, putPassword, runInstanceScript } from '../../test/support/restore-fixtures';
import { treeOf } from '../../test/support/trees';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { run as backupKit } from '../../cli/main';
import { drillRecordKey } from '../../contracts/restore-command';

/** `npm run drill -- --keep`: leave the emulator running at the end, for `npx backup-kit status` and `list` by hand. */
const KEEP = process.argv.includes('--keep');

interface Row {
  kind: string;
  target: string;
  backupBytes: number;
  backupSeconds: number;
  verified: string;
  restoreSeconds: number;
  compared: string;
  ok: boolean;
}

const rows: Row[] = [];
const problems: string[] = [];
const say = (line: string) => process.stdout.write(`${line}\n`);

async function main(): Promise<number> {
  const started = performance.now();
  say('backup-kit local drill: moto server, PostgreSQL, SQLite and a directory on this machine\n');
  const work = scratchDir('local-drill');
  const [moto, pg] = await Promise.all([MotoServer.start(), PostgresServer.start()]);
  try {
    const s3 = moto.s3();
    const bucket = 'local-drill-backups';
    const { keyArn } = await moto.createBackupBucket(bucket);
    const verify = await localVerifier(moto, bucket, keyArn);

    // ------------------------------------------------------------ sources
    pg.createDatabase('shop');
    pg.psql(
      'shop',
      `CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL, email text UNIQUE);
       CREATE TABLE orders (id serial PRIMARY KEY, customer_id int REFERENCES customers, total numeric(10,2), placed_at timestamptz DEFAULT now());
       INSERT INTO customers (name, email) SELECT 'customer ' || i, 'c' || i || '@example.com' FROM generate_series(1, 5000) i;
       INSERT INTO orders (customer_id, total) SELECT 1 + i % 5000, (i % 997) * 1.5 FROM generate_series(1, 50000) i;`,
    );
    await putPassword(moto, '/local-drill/shop-password', pg.password);
    const sqlitePath = join(work, 'app', 'db.sqlite3');
    mkdirSync(join(work, 'app'), { recursive: true });
    run('sqlite3', [
      sqlitePath,
      `PRAGMA journal_mode = WAL;
       CREATE TABLE repairs (id INTEGER PRIMARY KEY, customer TEXT, status TEXT, cost REAL);
       WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)
         INSERT INTO repairs (customer, status, cost) SELECT 'customer ' || i, CASE i % 3 WHEN 0 THEN 'done' ELSE 'open' END, i * 0.75 FROM n;`,
    ]);
    const mediaPath = join(work, 'media');
    for (let index = 0; index < 200; index += 1) {
      const dir = join(mediaPath, 'photos', String(index % 10));
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, `photo-${index}.jpg`), createHash('sha512').update(String(index)).digest().toString('hex').repeat(40 + (index % 30)));
    }

    const pgFingerprint = (database: string) =>
      pg.psql(database, "SELECT string_agg(t, ',' ORDER BY t) FROM (SELECT 'customers:' || count(*) || ':' || md5(string_agg(c::text, '|' ORDER BY c.id)) AS t FROM customers c UNION ALL SELECT 'orders:' || count(*) || ':' || md5(string_agg(o::text, '|' ORDER BY o.id)) FROM orders o) x").trim();
    const sqliteDump = (path: string) => run('sqlite3', ['-readonly', path, '.dump']);
    const treeHash = (path: string) => createHash('sha256').update(JSON.stringify([...treeOf(path)])).digest('hex');

    interface DrillSource {
      readonly kind: string;
      readonly target: string;
      readonly env: Record<string, string>;
      readonly snapshot: () => string;
      readonly scratch: Record<string, string>;
      readonly restored: () => string;
    }
    const targets: DrillSource[] = [
      {
        kind: 'postgres',
        target: 'shop-db',
        env: { BK_KIND: 'postgres', BK_DB_HOST: '127.0.0.1', BK_DB_PORT: String(pg.port), BK_DB_NAME: 'shop', BK_DB_USER: pg.user, BK_PASSWORD_SSM_PARAMETER: '/local-drill/shop-password' },
        snapshot: () => pgFingerprint('shop'),
        scratch: { RS_SCRATCH_NAME: 'shop_drill' },
        restored: () => pgFingerprint('shop_drill'),
      },
      { kind: 'sqlite', target: 'repairs-sqlite', env: { BK_KIND: 'sqlite', BK_PATH: sqlitePath }, snapshot: () => sqliteDump(sqlitePath), scratch: { RS_SCRATCH_PATH: join(work, 'restores', 'restored.sqlite3') }, restored: () => sqliteDump(join(work, 'restores', 'restored.sqlite3')) },
      { kind: 'files', target: 'media', env: { BK_KIND: 'files', BK_PATH: mediaPath }, snapshot: () => treeHash(mediaPath), scratch: { RS_SCRATCH_PATH: join(work, 'restores', 'restored-media') }, restored: () => treeHash(join(work, 'restores', 'restored-media')) },
    ];
    const envOf = (target: DrillSource, extra: Record<string, string> = {}) =>
      backupScriptEnv(moto, keyArn, { BK_TARGET: target.target, BK_BUCKET: bucket, RS_WORK_DIR: work, RS_TIERS: 'daily', RS_SCRATCH_ROOT: join(work, 'restores'), ...target.env, ...extra });

    // ------------------------------------------------------------ back up and verify
    const snapshots = new Map<string, string>();
    for (const target of targets) {
      snapshots.set(target.target, target.snapshot());
      const begin = performance.now();
      const backup = runInstanceScript('backup.sh', envOf(target));
      const seconds = (performance.now() - begin) / 1000;
      const line = backup.stdout.split('\n').find((candidate) => candidate.startsWith('BACKUP_RESULT '));
      if (backup.status !== 0 || !line) {
        problems.push(`${target.kind}: backup.sh exited ${backup.status}: ${backup.stderr.trim().split('\n').at(-1) ?? ''}`);
        continue;
      }
      const result = JSON.parse(line.slice('BACKUP_RESULT '.length)) as { key: string; bytes: number };
      const verdict = await verify(result.key);
      say(`backed up ${target.kind.padEnd(8)} ${result.key} (${result.bytes} bytes, ${seconds.toFixed(1)} s); verification ${verdict.passed ? 'passed' : `FAILED: ${verdict.reasons.join('; ')}`}`);
      if (!verdict.passed) problems.push(`${target.kind}: a good backup failed verification: ${verdict.reasons.join('; ')}`);
      rows.push({ kind: target.kind, target: target.target, backupBytes: result.bytes, backupSeconds: seconds, verified: verdict.passed ? 'passed' : 'FAILED', restoreSeconds: 0, compared: '-', ok: verdict.passed });
    }

    // ------------------------------------------------------------ a broken backup, caught
    const sqliteTarget = targets[1] as DrillSource;
    run('sqlite3', [sqlitePath, "INSERT INTO repairs (customer, status) VALUES ('after the first backup', 'open')"]);
    await new Promise((resolve) => setTimeout(resolve, 1100)); // a new key needs a new second
    const second = runInstanceScript('backup.sh', envOf(sqliteTarget));
    const secondKey = (JSON.parse((second.stdout.split('\n').find((line) => line.startsWith('BACKUP_RESULT ')) ?? 'BACKUP_RESULT {}').slice(14)) as { key?: string }).key;
    if (!secondKey) {
      problems.push('could not take the backup to break');
    } else {
      // A backup damaged on its way to S3: its stored bytes differ from what its manifest states.
      let at = 0;
      const brokenKey = await corruptCopyOf(s3, bucket, secondKey, (bytes) => {
        at = Math.floor(bytes.length / 2);
        bytes.writeUInt8(bytes.readUInt8(at) ^ 0x40, at);
        return bytes;
      });
      const verdict = await verify(brokenKey);
      const refused = runInstanceScript('restore.sh', envOf(sqliteTarget, { RS_MODE: 'scratch', RS_KEY: brokenKey, RS_SCRATCH_PATH: join(work, 'restores', 'never.sqlite3') }));
      const caught = !verdict.passed && refused.status === 7;
      say(`\nbroke ${brokenKey} (one byte flipped at offset ${at}):`);
      say(`  verification: ${verdict.passed ? 'PASSED (not caught!)' : `failed - ${verdict.reasons[0] ?? ''}`}`);
      say(`  restore.sh:   ${refused.status === 7 ? 'refused before touching anything (exit 7)' : `exit ${refused.status} (not refused!)`}`);
      if (!caught) problems.push('the broken backup was not caught');
    }

    // ------------------------------------------------------------ restore the good ones and compare
    say('');
    for (const target of targets) {
      const row = rows.find((candidate) => candidate.target === target.target);
      if (!row) continue;
      const restore = runInstanceScript('restore.sh', envOf(target, { RS_MODE: 'scratch', ...target.scratch }));
      if (restore.status !== 0 || !restore.result) {
        row.ok = false;
        row.compared = `restore exited ${restore.status}`;
        problems.push(`${target.kind}: restore.sh exited ${restore.status}: ${restore.stderr.trim().split('\n').at(-1) ?? ''}`);
        continue;
      }
      row.restoreSeconds = Number(restore.result.durationSeconds);
      const equal = target.restored() === snapshots.get(target.target);
      row.compared = equal ? 'equal to source' : 'DIFFERS';
      row.ok = row.ok && equal;
      say(`restored ${target.kind.padEnd(8)} ${String(restore.result.key)} into ${String(restore.result.restoredTo)} in ${row.restoreSeconds} s: ${row.compared}`);
      if (!equal) problems.push(`${target.kind}: the restored copy differs from the source at backup time`);
      // Recorded as the drill result records a drill that passed: the status command reads it.
      if (equal) {
        const record = { target: target.target, succeededAt: new Date().toISOString(), key: String(restore.result.key), restoreSeconds: row.restoreSeconds };
        await s3.send(new PutObjectCommand({ Bucket: bucket, Key: drillRecordKey(target.target), Body: JSON.stringify(record), ContentType: 'application/json' }));
      }
    }

    // ------------------------------------------------------------ what the operator sees
    const command = ['--bucket', bucket, '--endpoint-url', moto.endpoint];
    Object.assign(process.env, { AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing', AWS_REGION: MOTO_REGION });
    say(`
$ npx backup-kit status ${command.join(' ')}`);
    const statusCode = await backupKit(['status', ...command], say);
    if (statusCode !== 0) problems.push(`backup-kit status exited ${statusCode}: a target misses its RPO or its drill`);
    say(`
$ npx backup-kit list repairs-sqlite ${command.join(' ')}`);
    await backupKit(['list', 'repairs-sqlite', ...command], say);

    // ------------------------------------------------------------ report
    say('\nkind      backup bytes  backup s  verify   restore s (RTO)  compared            result');
    for (const row of rows) {
      say(
        `${row.kind.padEnd(9)} ${String(row.backupBytes).padStart(12)}  ${row.backupSeconds.toFixed(1).padStart(8)}  ${row.verified.padEnd(7)}  ${row.restoreSeconds.toFixed(1).padStart(15)}  ${row.compared.padEnd(18)}  ${row.ok ? 'PASS' : 'FAIL'}`,
      );
    }
    say(`\nbroken backup caught: ${problems.includes('the broken backup was not caught') ? 'NO' : 'yes'}`);
    say(`total ${((performance.now() - started) / 1000).toFixed(1)} s`);
    if (problems.length > 0) {
      say(`\nFAIL:\n${problems.map((problem) => `  - ${problem}`).join('\n')}`);
      return 1;
    }
    say('\nPASS: every kind came back equal to its source, and the broken backup was caught.');
    return 0;
  } finally {
    if (KEEP) {
      say(`\nThe emulator stays up (--keep) until Ctrl-C. In another terminal:\n  AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=${MOTO_REGION} npx backup-kit status --bucket local-drill-backups --endpoint-url ${moto.endpoint}`);
      await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
    }
    await Promise.allSettled([moto.stop(), pg.stop()]);
    removeDir(work);
  }
}

/** "The server is gone": a server's targets rebuilt onto a new one through the rebuild event, compared, timed. */
async function rebuildDrill(): Promise<number> {
  say('\n------------------------------------------------------------------------------');
  say('backup-kit local rebuild drill: a server is lost and rebuilt onto a new one\n');
  const report = await rebuildScenario({ rows: 20000, say });
  say('\ntarget      kind      restored on the new server  seconds  compared with the lost server');
  for (const step of report.record.steps) {
    const compared = report.compared.find((candidate) => candidate.target === step.target);
    say(`${step.target.padEnd(11)} ${step.kind.padEnd(9)} ${step.status.padEnd(27)} ${String(step.durationSeconds ?? '-').padStart(7)}  ${compared?.equal ? 'equal' : 'DIFFERS'}`);
  }
  say(`\nalert: ${report.alert?.subject ?? '(none)'}`);
  say(`measured RTO of the rebuild (request to the last target's end): ${report.rtoSeconds} s`);
  const failed = report.record.steps.some((step) => step.status !== 'succeeded') || report.compared.some((candidate) => !candidate.equal);
  say(failed ? '\nFAIL: the rebuilt server differs from the lost one' : '\nPASS: every target of the lost server came back on the new one, equal to what was lost.');
  return failed ? 1 : 0;
}

main()
  .then(async (code) => Math.max(code, await rebuildDrill()))
  .then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`local drill failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exit(2);
    },
  );
