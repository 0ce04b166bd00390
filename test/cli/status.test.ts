import { PutObjectCommand } from '@aws-sdk/client-s3';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { backupKey } from '../../contracts/manifest';
import { drillRecordKey } from '../../contracts/restore-command';
import { run, UsageError } from '../../cli/main';
import { filesBackup, manifestFor, putBackup, sqliteBackup, type MadeBackup } from '../support/backups';
import { localVerifier } from '../support/local-verifier';
import { MotoServer, MOTO_REGION } from '../support/moto';
import { scratchDir } from '../support/processes';

/**
 * `backup-kit status` and `list` against the S3 emulator, over backups, manifests and verdicts as
 * the backup script and the verifier write them, and a drill record as the drill result writes it.
 */

const HOUR = 3_600_000;
const NOW = Date.now();

describe('backup-kit status and list', () => {
  let moto: MotoServer;
  let bucket: string;
  const keys: Record<string, string> = {};

  /** Stores a backup made `hoursAgo`, and verifies it ten minutes later, as the verifier would have. */
  async function backedUp(name: string, target: string, made: MadeBackup, hoursAgo: number, verify: (key: string) => Promise<unknown>, damage?: (body: Buffer) => Buffer): Promise<void> {
    const at = new Date(NOW - hoursAgo * HOUR);
    const key = backupKey('daily', target, made.kind, at);
    const manifest = manifestFor(made, { bucket, key, target, tier: 'daily', finishedAt: new Date(at.getTime() + 60_000) });
    await putBackup(moto.s3(), bucket, key, damage ? damage(Buffer.from(made.body)) : made.body, manifest);
    vi.useFakeTimers({ toFake: ['Date'], now: at.getTime() + 10 * 60_000 });
    try {
      await verify(key);
    } finally {
      vi.useRealTimers();
    }
    keys[name] = key;
  }

  beforeAll(async () => {
    // The command takes the caller's credentials from the SDK's usual chain: here, the emulator's.
    vi.stubEnv('AWS_ACCESS_KEY_ID', 'testing');
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'testing');
    moto = await MotoServer.start();
    let keyArn: string;
    ({ bucket, keyArn } = await moto.createBackupBucket('status-backups'));
    const verify = await localVerifier(moto, bucket, keyArn);
    const sqlite = sqliteBackup(300);
    await backedUp('repairsOld', 'repairs', sqlite, 50, verify);
    await backedUp('repairsGood', 'repairs', sqliteBackup(320), 20, verify);
    // The newest is damaged on its way: verification fails, the older one still keeps the RPO.
    await backedUp('repairsBroken', 'repairs', sqliteBackup(330), 1, verify, (body) => {
      body.writeUInt8(body.readUInt8(body.length >> 1) ^ 0x40, body.length >> 1);
      return body;
    });
    await backedUp('mediaOld', 'media', filesBackup(6), 30, verify);
    const drill = { target: 'repairs', succeededAt: new Date(NOW - 10 * 24 * HOUR).toISOString(), key: keys.repairsOld, restoreSeconds: 540 };
    await moto.s3().send(new PutObjectCommand({ Bucket: bucket, Key: drillRecordKey('repairs'), Body: JSON.stringify(drill) }));
  }, 180_000);

  afterAll(async () => {
    vi.unstubAllEnvs();
    await moto?.stop();
  });

  const env = () => ({ ...moto.env(), AWS_REGION: MOTO_REGION });
  async function cli(...argv: string[]): Promise<{ code: number; text: string }> {
    const printed: string[] = [];
    const code = await run(argv, (text) => printed.push(text), env());
    return { code, text: printed.join('\n') };
  }

  it('GIVEN the bucket alone THEN status finds its targets, shows each newest backup with its verdict, and exits 1 for the target that misses its RPO and was never drilled', async () => {
    const { code, text } = await cli('status', '--bucket', bucket);
    expect(code).toBe(1);
    const lines = text.split('\n');
    const row = (target: string) => lines.find((line) => line.startsWith(target) && line.includes('daily')) ?? '';
    expect(row('repairs')).toMatch(/repairs\s+daily\s+\d{4}-\d\d-\d\d \d\d:\d\dZ\s+(1 h|\d+ min)\s+failed\s+/);
    expect(row('media')).toMatch(/media\s+daily\s+.*30 h\s+passed/);
    const state = (target: string) => lines.filter((line) => line.startsWith(target)).at(-1) ?? '';
    expect(state('repairs')).toMatch(/20 h \/ 24 h\s+met\s+\S+ \(10 d ago\)\s+9 min \/ 2 h met\s+ok$/);
    expect(state('media')).toMatch(/30 h \/ 24 h\s+MISSED\s+never\s+-\s+MISSES: newest verified backup is 30 h old, RPO 24 h; never drilled successfully$/);
  });

  it('GIVEN --json THEN the same facts come as data, for a pipeline', async () => {
    const { code, text } = await cli('status', '--bucket', bucket, '--json');
    expect(code).toBe(1);
    const report = JSON.parse(text) as { targets: { target: string; rpoMet: boolean; drillMet: boolean; misses: string[]; tiers: { newest?: { key: string; verdict: string; reasons: string[] }; newestVerified?: { key: string } }[] }[] };
    const repairs = report.targets.find((target) => target.target === 'repairs');
    expect(repairs).toMatchObject({ rpoMet: true, drillMet: true, misses: [] });
    expect(repairs?.tiers[0]?.newest).toMatchObject({ key: keys.repairsBroken, verdict: 'failed' });
    expect(repairs?.tiers[0]?.newest?.reasons.join(' ')).toMatch(/sha|integrity|checksum/i);
    expect(repairs?.tiers[0]?.newestVerified?.key).toBe(keys.repairsGood);
    expect(report.targets.find((target) => target.target === 'media')).toMatchObject({ rpoMet: false, drillMet: false });
  });

  it('GIVEN a target THEN list shows its restore points newest first, with verdict, pinned version and retain-until; --since narrows them', async () => {
    const { code, text } = await cli('list', 'repairs', '--bucket', bucket);
    expect(code).toBe(0);
    const rows = text.split('\n').slice(2);
    expect(rows.map((row) => row.split(/\s+/).at(-1))).toEqual([keys.repairsBroken, keys.repairsGood, keys.repairsOld]);
    expect(rows.map((row) => / (passed|failed|unverified) /.exec(row)?.[1])).toEqual(['failed', 'passed', 'passed']);
    expect(rows[1]).toMatch(/\d{4}-\d\d-\d\d\s+\S{8,}\s+daily\//);
    const since = new Date(NOW - 30 * HOUR).toISOString().slice(0, 19);
    const recent = JSON.parse((await cli('list', 'repairs', '--bucket', bucket, '--since', since, '--json')).text) as { points: { key: string; versionId?: string; retainUntil?: string }[] };
    expect(recent.points.map((point) => point.key)).toEqual([keys.repairsBroken, keys.repairsGood]);
    expect(recent.points[1]?.versionId).toBeTruthy();
    expect(recent.points[1]?.retainUntil).toMatch(/^\d{4}-\d\d-\d\dT/);
  });

  it('GIVEN a config THEN its targets, tiers and objectives are used: a tighter RTO is missed, an unknown target refused', async () => {
    const dir = scratchDir('status-config');
    const config = join(dir, 'status.json');
    writeFileSync(
      config,
      JSON.stringify({
        prefix: 'status',
        primaryRegion: MOTO_REGION,
        drRegion: 'eu-central-1',
        alertEmails: ['ops@example.com'],
        tiers: { daily: { schedule: 'cron(0 2 * * ? *)', retentionDays: 30 }, manual: { retentionDays: 7 } },
        targets: [{ name: 'repairs', kind: 'sqlite', path: '/srv/app/db.sqlite3', instances: { instanceIds: ['i-0123456789abcdef0'] }, objectives: { rtoHours: 0.1 } }],
      }),
    );
    const { code, text } = await cli('status', '-c', `config=${config}`, '--bucket', bucket, '--json');
    const report = JSON.parse(text) as { targets: { target: string; drill?: { rtoMet: boolean }; tiers: { tier: string; backups: number }[] }[] };
    expect(report.targets.map((target) => target.target)).toEqual(['repairs']);
    expect(report.targets[0]?.tiers).toEqual([expect.objectContaining({ tier: 'daily', backups: 3 }), { tier: 'manual', backups: 0 }]);
    expect(report.targets[0]?.drill?.rtoMet).toBe(false);
    expect(code).toBe(0);
    await expect(cli('list', 'media', '-c', `config=${config}`, '--bucket', bucket)).rejects.toThrow(/list: no target 'media' in the config/);
  });

  it('GIVEN report THEN the month\'s page, CSV and JSON are written where asked, and the summary says who missed', async () => {
    const dir = scratchDir('report-out');
    const month = new Date(NOW).toISOString().slice(0, 7);
    const { code, text } = await cli('report', '--bucket', bucket, '--month', month, '--out', dir);
    // The emulator has no drill metrics: every drilled target missed its drills this month.
    expect(code).toBe(1);
    expect(text).toMatch(new RegExp(`^backup-kit: backup and restore evidence, ${month}: 0 of 2 targets met their objectives`));
    expect(text).toMatch(/MISSED repairs: .*no drill this month/);
    const json = JSON.parse(readFileSync(join(dir, `evidence-${month}.json`), 'utf8')) as { targets: { target: string; tiers: { made: number }[] }[] };
    expect(json.targets.map((target) => target.target).sort()).toEqual(['media', 'repairs']);
    expect(readFileSync(join(dir, `evidence-${month}.html`), 'utf8')).toContain('<table id="summary">');
    expect(readFileSync(join(dir, `evidence-${month}.csv`), 'utf8').split('\r\n')[0]).toMatch(/^month,target,kind,rpo_hours/);
    await expect(cli('report', '--bucket', bucket, '--month', '2026-13')).rejects.toThrow(/'--month'|month/);
  });

  it('refuses what it cannot do, naming the flag: no bucket and no config, an unknown flag, a bad date, an unknown command', async () => {
    await expect(cli('status')).rejects.toThrow(/--bucket: give the backup bucket, or -c config=<name>/);
    await expect(cli('status', '--bukcet', bucket)).rejects.toThrow(UsageError);
    await expect(cli('list', 'repairs', '--bucket', bucket, '--since', 'last tuesday')).rejects.toThrow(/--since: 'last tuesday' is not a date/);
    await expect(cli('restore-everything', '--bucket', bucket)).rejects.toThrow(/'restore-everything' is not a command of backup-kit/);
    expect((await cli('help')).text).toMatch(/^usage:/);
  });
});
