import { Logger } from '@aws-lambda-powertools/logger';
import type { SNSClient } from '@aws-sdk/client-sns';
import { createHash } from 'node:crypto';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { parseRebuildEvent, type RebuildRecord } from '../../contracts/rebuild';
import type { RestoreTarget } from '../../contracts/restore-command';
import { recordRestoreResult } from '../../lambda/restore-result/core';
import { startRebuild, type RebuildAnswer } from '../../lambda/restore/rebuild';
import type { Metrics } from '../../lambda/shared/powertools';
import { readRebuildRecord, rebuildSeconds } from '../../lambda/shared/rebuild-run';
import { LocalRunCommand } from './local-run-command';
import { localVerifier } from './local-verifier';
import { MOTO_REGION, MotoServer } from './moto';
import { PostgresServer } from './postgres';
import { removeDir, run, scratchDir } from './processes';
import { backupScriptEnv, backupWithScript, putPassword } from './restore-fixtures';
import { treeOf } from './trees';

/**
 * "The server is gone", on this machine: a server with a PostgreSQL database, a SQLite file, a
 * directory of media and its configuration (a secrets file and a web server site, one target of
 * several paths) is backed up with the real backup script and verified with the verify
 * job's code; then it is lost (its PostgreSQL stopped, its data moved aside and kept only to
 * compare) and a new one stands in its place (a new, empty PostgreSQL cluster on the same port,
 * the application's directories without data). The restore function's rebuild and the result
 * function's steps run as in AWS, with moto for S3 and SSM parameters, and the restore document
 * run by bash as the SSM agent would. Everything restored is compared with the lost server.
 */

export interface RebuildScenarioReport {
  readonly plan: Extract<RebuildAnswer, { outcome: 'dry-run' }>;
  readonly record: RebuildRecord;
  /** From the request to the end of the last target, as the alert states it. */
  readonly rtoSeconds: number;
  readonly compared: readonly { readonly target: string; readonly kind: string; readonly equal: boolean }[];
  readonly alert: { readonly subject: string; readonly message: string } | undefined;
}

const silentLogger = new Logger({ logLevel: 'SILENT' });
const noMetrics = { addDimensions: () => undefined, addMetric: () => undefined, publishStoredMetrics: () => undefined } as unknown as Metrics;
const LOST = 'i-0aaaaaaaaaaaaaaaa';
const NEW = 'i-0bbbbbbbbbbbbbbbb';
const SERVER = 'app-server';

export async function rebuildScenario(options: { readonly rows: number; readonly say?: (line: string) => void }): Promise<RebuildScenarioReport> {
  const say = options.say ?? (() => undefined);
  const work = scratchDir('rebuild');
  const moto = await MotoServer.start();
  let pg = await PostgresServer.start();
  try {
    const bucket = 'rebuild-backups';
    const { keyArn } = await moto.createBackupBucket(bucket);
    const verify = await localVerifier(moto, bucket, keyArn);

    // ------------------------------------------------------------ the server, before
    const srv = join(work, 'srv');
    const sqlitePath = join(srv, 'app', 'app.sqlite3');
    const mediaPath = join(srv, 'media');
    mkdirSync(join(srv, 'app'), { recursive: true });
    pg.createDatabase('shop');
    pg.psql(
      'shop',
      `CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL);
       CREATE TABLE orders (id serial PRIMARY KEY, customer_id int REFERENCES customers, total numeric(10,2));
       INSERT INTO customers (name) SELECT 'customer ' || i FROM generate_series(1, ${options.rows}) i;
       INSERT INTO orders (customer_id, total) SELECT 1 + i % ${options.rows}, (i % 997) * 1.5 FROM generate_series(1, ${options.rows * 5}) i;`,
    );
    await putPassword(moto, '/rebuild/shop-password', pg.password);
    run('sqlite3', [
      sqlitePath,
      `PRAGMA journal_mode = WAL;
       CREATE TABLE repairs (id INTEGER PRIMARY KEY, customer TEXT, status TEXT);
       WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${options.rows})
         INSERT INTO repairs (customer, status) SELECT 'customer ' || i, CASE i % 3 WHEN 0 THEN 'done' ELSE 'open' END FROM n;`,
    ]);
    // The application's configuration: its secrets file (the owner's alone) and its web server site.
    const envPath = join(srv, 'app', '.env.production');
    const sitePath = join(work, 'etc', 'nginx', 'sites-available', 'shop.conf');
    writeFileSync(envPath, 'DATABASE_URL=postgres://shop:rebuild-secret@127.0.0.1/shop\n', { mode: 0o600 });
    mkdirSync(join(work, 'etc', 'nginx', 'sites-available'), { recursive: true });
    writeFileSync(sitePath, 'server { listen 443 ssl; server_name shop.example.com; }\n');
    for (let index = 0; index < 60; index += 1) {
      const dir = join(mediaPath, 'photos', String(index % 6));
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, `photo-${index}.jpg`), createHash('sha512').update(String(index)).digest('hex').repeat(20 + index));
    }

    const common = { instances: { instanceIds: [LOST] }, tiers: ['daily'], executionTimeoutSeconds: 3600, maxConcurrency: '1', maxErrors: '100%' };
    const restore = (name: string) => ({ scratchRoot: join(work, 'restores', name), onto: { instanceIds: [NEW] }, workDirectory: join(work, 'tmp'), drill: true, probes: [] });
    const targets: RestoreTarget[] = [
      { backup: { name: 'media', kind: 'files', path: mediaPath, ...common }, restore: restore('media') },
      { backup: { name: 'app-sqlite', kind: 'sqlite', path: sqlitePath, ...common }, restore: restore('app-sqlite') },
      { backup: { name: 'app-config', kind: 'files', paths: [envPath, sitePath], ...common }, restore: restore('app-config') },
      {
        backup: { name: 'shop-db', kind: 'postgres', database: { host: '127.0.0.1', port: pg.port, name: 'shop', user: pg.user, password: { ssmParameter: '/rebuild/shop-password' } }, ...common },
        restore: { onto: { instanceIds: [NEW] }, workDirectory: join(work, 'tmp'), drill: true, probes: [] },
      },
    ];
    mkdirSync(join(work, 'tmp'));

    const fingerprints = {
      'shop-db': () => JSON.stringify(pg.fingerprint('shop')),
      'app-sqlite': () => run('sqlite3', ['-readonly', sqlitePath, '.dump']),
      media: () => createHash('sha256').update(JSON.stringify([...treeOf(mediaPath)])).digest('hex'),
      'app-config': () => JSON.stringify([envPath, sitePath].map((path) => [...treeOf(dirname(path))].find(([name]) => name === basename(path)))),
    } as Record<string, () => string>;
    const before = new Map(targets.map((target) => [target.backup.name, fingerprints[target.backup.name]?.() ?? '']));
    for (const target of targets) {
      const plan = target.backup;
      const env = backupScriptEnv(moto, keyArn, {
        BK_TARGET: plan.name,
        BK_KIND: plan.kind,
        BK_BUCKET: bucket,
        ...(plan.path !== undefined ? { BK_PATH: plan.path } : {}),
        ...(plan.paths !== undefined ? { BK_PATHS: plan.paths.join(':') } : {}),
        ...(plan.database ? { BK_DB_HOST: '127.0.0.1', BK_DB_PORT: String(pg.port), BK_DB_NAME: 'shop', BK_DB_USER: pg.user, BK_PASSWORD_SSM_PARAMETER: '/rebuild/shop-password' } : {}),
      });
      const { key, bytes } = backupWithScript(env);
      const verdict = await verify(key);
      if (!verdict.passed) throw new Error(`the backup ${key} did not pass verification: ${verdict.reasons.join('; ')}`);
      say(`backed up and verified ${plan.kind.padEnd(8)} ${key} (${bytes} bytes)`);
    }

    // ------------------------------------------------------------ the server is lost; a new one stands by
    const port = pg.port;
    await pg.stop();
    renameSync(srv, join(work, 'lost-srv'));
    renameSync(join(work, 'etc'), join(work, 'lost-etc'));
    pg = await PostgresServer.start({ port });
    mkdirSync(join(srv, 'app'), { recursive: true });
    say(`\nlost ${LOST}: its PostgreSQL stopped, its files gone; new server ${NEW}: an empty PostgreSQL on port ${port}, the application's directories without data`);

    const runCommand = new LocalRunCommand([{ instanceId: NEW, platform: 'Ubuntu 24.04' }], moto.env({ AWS_EC2_METADATA_DISABLED: 'true' }));
    const ssm = runCommand.client();
    const s3 = moto.s3();
    const alerts: { subject: string; message: string }[] = [];
    const sns = { send: async (command: { input: { Subject?: string; Message?: string } }) => (alerts.push({ subject: command.input.Subject ?? '', message: command.input.Message ?? '' }), { MessageId: `m-${alerts.length}` }) } as unknown as SNSClient;
    const restoreDeps = {
      s3,
      ssm,
      logger: silentLogger,
      now: () => new Date(),
      settings: {
        region: MOTO_REGION,
        documentName: runCommand.documentName,
        documentSha256: runCommand.documentSha256,
        site: { bucket, kmsKeyArn: keyArn, region: MOTO_REGION, safetyTier: 'predeploy', safetyRetentionDays: 7, safetyObjectLockMode: 'GOVERNANCE' as const },
        targets,
        commandLogGroupName: 'local-restore-output',
        deliveryTimeoutSeconds: 600,
        servers: { [SERVER]: targets.map((target) => target.backup.name) },
      },
    };
    const resultDeps = {
      ssm,
      sns,
      s3,
      logger: silentLogger,
      restoreMetrics: noMetrics,
      drillMetrics: noMetrics,
      now: () => new Date(),
      settings: { region: MOTO_REGION, documentName: runCommand.documentName, alertTopicArn: `arn:aws:sns:${MOTO_REGION}:123456789012:alerts`, commandLogGroupName: 'local-restore-output', bucket },
    };

    // ------------------------------------------------------------ rebuild: the dry run, then the real one
    const plan = await startRebuild(parseRebuildEvent({ rebuild: SERVER, onto: NEW, mode: 'replace', dryRun: true }), restoreDeps);
    if (plan.outcome !== 'dry-run') throw new Error('the dry run started a rebuild');
    say(`\ndry run of { "rebuild": "${SERVER}", "onto": "${NEW}", "mode": "replace" }:`);
    for (const step of plan.steps) {
      say(`  ${step.target} (${step.kind}): ${step.backup.key}, ${step.backup.how}, ${step.backup.bytes} bytes, ${step.backup.ageHours} h old`);
      say(`    check on ${NEW}: ${step.preflight?.status ?? 'not run'} (${(step.preflight?.checks ?? []).map((check) => `${check.name} ${check.status}`).join(', ')})`);
    }
    const started = await startRebuild(parseRebuildEvent({ rebuild: SERVER, onto: NEW, mode: 'replace', confirm: SERVER, requestedBy: 'local drill' }), restoreDeps);
    if (started.outcome !== 'started') throw new Error('the rebuild did not start');
    for (let event = runCommand.runNext(); event !== undefined; event = runCommand.runNext()) {
      await recordRestoreResult(event, resultDeps);
    }
    const record = await readRebuildRecord(SERVER, started.rebuildId, { s3, bucket, logger: silentLogger });
    if (!record) throw new Error('no rebuild record');

    const compared = targets.map((target) => ({ target: target.backup.name, kind: target.backup.kind, equal: (fingerprints[target.backup.name]?.() ?? '') === before.get(target.backup.name) }));
    return { plan, record, rtoSeconds: rebuildSeconds(record) ?? Number.NaN, compared, alert: alerts[0] };
  } finally {
    await Promise.allSettled([moto.stop(), pg.stop()]);
    removeDir(work);
  }
}
