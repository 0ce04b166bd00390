import { CloudWatchClient, DescribeAlarmsCommand, GetMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { GetObjectCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { DescribeDBInstancesCommand, RDSClient } from '@aws-sdk/client-rds';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { reportKeys, type EvidenceSettings } from '../../contracts/evidence-report';
import { backupKey } from '../../contracts/manifest';
import { writeEvidenceReport } from '../../lambda/evidence-report/core';
import { previousMonth } from '../../lambda/evidence-report/model';
import { manifestFor, putBackup, sqliteBackup } from '../support/backups';
import { localVerifier } from '../support/local-verifier';
import { MOTO_REGION, MotoServer } from '../support/moto';

/**
 * The evidence report written for real: last month's backups and verdicts in the S3 emulator (as
 * the backup script and the verifier write them), the drill metrics and alarms from CloudWatch
 * (mocked), three objects written under reports/ with a checksum and locked by the bucket's
 * default retention, and the summary on the alert topic.
 */

const HOUR = 3_600_000;
const NOW = new Date();
const MONTH = previousMonth(NOW);
const MONTH_START = Date.parse(`${MONTH}-01T00:00:00Z`);

describe('the evidence report, written', () => {
  let moto: MotoServer;
  let bucket: string;
  const cloudwatch = new CloudWatchClient({ region: MOTO_REGION });
  const sns = new SNSClient({ region: MOTO_REGION });
  const cloudwatchMock = mockClient(cloudwatch);
  const snsMock = mockClient(sns);
  const rds = new RDSClient({ region: MOTO_REGION });
  const rdsMock = mockClient(rds);

  beforeAll(async () => {
    moto = await MotoServer.start();
    let keyArn: string;
    ({ bucket, keyArn } = await moto.createBackupBucket('evidence-backups', { defaultRetentionDays: 30 }));
    const verify = await localVerifier(moto, bucket, keyArn);
    // Backups on the 1st, 2nd and 5th at 02:00: the longest gap is from the 5th to the month's end.
    for (const day of [1, 2, 5]) {
      const at = new Date(MONTH_START + ((day - 1) * 24 + 2) * HOUR);
      const key = backupKey('daily', 'repairs', 'sqlite', at);
      const made = sqliteBackup(100 + day);
      await putBackup(moto.s3(), bucket, key, made.body, manifestFor(made, { bucket, key, target: 'repairs', tier: 'daily', finishedAt: new Date(at.getTime() + 60_000) }));
      vi.useFakeTimers({ toFake: ['Date'], now: at.getTime() + 10 * 60_000 });
      try {
        await verify(key);
      } finally {
        vi.useRealTimers();
      }
    }
    const drillDay = new Date(MONTH_START + 24 * HOUR);
    rdsMock.on(DescribeDBInstancesCommand, { DBInstanceIdentifier: 'orders-db' }).resolves({ DBInstances: [{ BackupRetentionPeriod: 14, LatestRestorableTime: new Date(NOW.getTime() - 300_000) }] });
    cloudwatchMock.on(GetMetricDataCommand).callsFake((input: { MetricDataQueries?: { Id?: string }[] }) =>
      input.MetricDataQueries?.[0]?.Id === 'count'
        ? { MetricDataResults: [{ Id: 'count', Values: [1, 1] }, { Id: 'slowest', Values: [22.5, 31] }] }
        : {
      MetricDataResults: [
        { Id: 'passed', Timestamps: [drillDay], Values: [1] },
        { Id: 'failed', Timestamps: [], Values: [] },
        { Id: 'seconds', Timestamps: [drillDay], Values: [420] },
      ],
    });
    cloudwatchMock.on(DescribeAlarmsCommand).resolves({ MetricAlarms: [{ AlarmName: 'evidence-jobs-BackupAgeAlarm-1A2B' }] });
    snsMock.on(PublishCommand).resolves({ MessageId: 'm-1' });
  }, 180_000);

  afterAll(async () => {
    cloudwatchMock.restore();
    snsMock.restore();
    rdsMock.restore();
    await moto?.stop();
  });

  const settings: EvidenceSettings = {
    prefix: 'evidence',
    databases: [{ identifier: 'orders-db', kind: 'instance' }],
    targets: [{ name: 'repairs', kind: 'sqlite', tiers: [{ tier: 'daily', schedule: 'cron(0 2 * * ? *)' }], objectives: { rpoHours: 24, rtoHours: 2 }, drilled: true }],
  };

  it('GIVEN last month THEN the page, CSV and JSON are written under reports/, locked, and the topic hears who missed', async () => {
    const outcome = await writeEvidenceReport({}, settings, { s3: moto.s3(), cloudwatch, rds, sns, topicArn: 'arn:aws:sns:eu-west-1:111122223333:alerts', bucket, now: NOW });
    expect(outcome.month).toBe(MONTH);
    expect(outcome.keys).toEqual(reportKeys(MONTH));
    expect(outcome.summary).toEqual({ met: 0, missed: 1, missedTargets: ['repairs'] });

    const s3 = moto.s3();
    const json = JSON.parse(await (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: outcome.keys.json }))).Body!.transformToString()) as { targets: { tiers: { made: number; verified: number }[]; longestGap: { from: string }; drills: { minutes?: number }[]; newest?: { retainUntil?: string } }[]; openAlarms: string[] };
    expect(json.targets[0]?.tiers[0]).toMatchObject({ made: 3, verified: 3 });
    expect(json.targets[0]?.longestGap.from).toBe(new Date(MONTH_START + (4 * 24 + 2) * HOUR).toISOString());
    expect(json.targets[0]?.drills).toEqual([expect.objectContaining({ succeeded: true, minutes: 7, rtoMet: true })]);
    expect(json.targets[0]?.newest?.retainUntil).toMatch(/^\d{4}-/);
    expect(json.openAlarms).toEqual(['evidence-jobs-BackupAgeAlarm-1A2B']);
    expect((json as unknown as { databases: unknown[] }).databases).toEqual([{ resource: 'rds:orders-db', retentionDays: 14, latest: new Date(NOW.getTime() - 300_000).toISOString(), restores: 2, slowestRestoreMinutes: 31 }]);
    for (const key of Object.values(outcome.keys)) {
      const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      expect(head.ObjectLockMode, key).toBe('GOVERNANCE');
      expect(head.ObjectLockRetainUntilDate?.getTime() ?? 0).toBeGreaterThan(NOW.getTime() + 29 * 24 * HOUR);
    }
    const html = await (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: outcome.keys.html }))).Body!.transformToString();
    expect(html).toContain('<table id="summary">');
    expect(html).toContain('Object Lock enabled, GOVERNANCE 30 days by default');
    expect(html).toMatch(/<table id="databases">.*rds:orders-db.*14 days/s);

    const query = cloudwatchMock.commandCalls(GetMetricDataCommand).map((call) => call.args[0].input.MetricDataQueries?.[0]).find((first) => first?.Id === 'passed')?.MetricStat?.Metric;
    expect(query).toEqual({ Namespace: 'BackupKit', MetricName: 'RestoreDrillSucceeded', Dimensions: [{ Name: 'service', Value: 'drill' }, { Name: 'Target', Value: 'repairs' }] });
    expect(cloudwatchMock.commandCalls(DescribeAlarmsCommand)[0]?.args[0].input).toMatchObject({ StateValue: 'ALARM', AlarmNamePrefix: 'evidence-' });
    const message = snsMock.commandCalls(PublishCommand)[0]?.args[0].input;
    expect(message?.Subject).toBe(`backup-kit evidence ${MONTH}: 0 met, 1 missed`);
    expect(message?.Message).toMatch(/- repairs: \d+(\.\d)? h without a verified backup/);
    expect(message?.Message).toContain(`s3://${bucket}/${outcome.keys.html}`);
  });

  it('GIVEN a month not yet begun, or not a month THEN it is refused naming the field and nothing is written', async () => {
    const deps = { s3: moto.s3(), cloudwatch, sns, topicArn: 'arn:aws:sns:eu-west-1:111122223333:alerts', bucket, now: NOW };
    const published = snsMock.commandCalls(PublishCommand).length;
    await expect(writeEvidenceReport({ month: `${NOW.getUTCFullYear() + 1}-01` }, settings, deps)).rejects.toThrow(/month: .* has not begun/);
    expect(snsMock.commandCalls(PublishCommand)).toHaveLength(published);
  });
});
