import { DeleteDBInstanceCommand, DescribeDBInstancesCommand, RDSClient, RestoreDBInstanceToPointInTimeCommand } from '@aws-sdk/client-rds';
import { GetObjectCommand, HeadObjectCommand, ListObjectVersionsCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { DescribeDocumentCommand, DescribeInstanceInformationCommand, GetDocumentCommand, SSMClient, SendCommandCommand } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { assertUnitInCatalog } from '../support/emf-contract';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { finishRdsDrill, parseDrillEvent, restoreIdentity, runDrills, type DrillDeps } from '../../lambda/drill/core';
import { reportDrills } from '../../lambda/drill/report';
import { documentContentSha256 } from '../../contracts/backup-command';
import { InvalidEventError } from '../../contracts/errors';
import { backupKey, manifestKeyFor, verdictKeyFor } from '../../contracts/manifest';
import type { Logger, Metrics } from '../../lambda/shared/powertools';
import { METRIC_NAMESPACE, catalogProblem } from '../../contracts/metric-catalog';
import { DRILL_SERVICE } from '../../contracts/restore-command';

/** The drill function: EC2 drills sent on the newest verified backup, the daily report, RDS drills. */

const rdsMock = mockClient(RDSClient);
const s3Mock = mockClient(S3Client);
const snsMock = mockClient(SNSClient);
const ssmMock = mockClient(SSMClient);
const DOCUMENT = { schemaVersion: '2.2' };
const KEY = backupKey('daily', 'media', 'files', new Date('2026-11-20T02:00:00Z'));
const NOW = new Date('2026-12-01T05:00:00Z');

let published: { name: string; value: number; dimensions: Record<string, string> }[];

function metrics(): Metrics {
  let dimensions: Record<string, string> = {};
  const stored: { name: string; value: number }[] = [];
  return {
    addDimensions: (added: Record<string, string>) => (dimensions = { ...dimensions, ...added }),
    addMetric: (name: string, unit: unknown, value: number) => {
      assertUnitInCatalog(DRILL_SERVICE, name, unit);
      stored.push({ name, value });
    },
    publishStoredMetrics: () => {
      for (const metric of stored) {
        const problem = catalogProblem(METRIC_NAMESPACE, metric.name, ['service', ...Object.keys(dimensions)], DRILL_SERVICE);
        if (problem !== undefined) throw new Error(`out of the metric catalog: ${problem}`);
      }
      published.push(...stored.map((metric) => ({ ...metric, dimensions })));
      stored.length = 0;
    },
    // A metric with a dimension set of its own, published at once.
    singleMetric: () => {
      const own: Record<string, string> = {};
      return {
        addDimension: (name: string, value: string) => (own[name] = value),
        addMetric: (name: string, unit: unknown, value: number) => {
          assertUnitInCatalog(DRILL_SERVICE, name, unit);
          const problem = catalogProblem(METRIC_NAMESPACE, name, ['service', ...Object.keys(own)], DRILL_SERVICE);
          if (problem !== undefined) throw new Error(`out of the metric catalog: ${problem}`);
          published.push({ name, value, dimensions: { ...own } });
        },
      };
    },
  } as unknown as Metrics;
}

function deps(): DrillDeps {
  return {
    rds: new RDSClient({}),
    s3: new S3Client({}),
    sns: new SNSClient({}),
    ssm: new SSMClient({}),
    logger: { info: vi.fn(), warn: vi.fn(), error: vi.fn(), debug: vi.fn() } as unknown as Logger,
    metrics: metrics(),
    now: () => NOW,
    retry: { sleep: async () => undefined, random: () => 0 },
    settings: {
      region: 'eu-west-1',
      documentName: 'BackupKit-test-InstanceRestore',
      documentSha256: documentContentSha256(DOCUMENT),
      site: { bucket: 'backups', kmsKeyArn: 'arn:aws:kms:eu-west-1:111122223333:key/abc', region: 'eu-west-1', safetyTier: 'predeploy', safetyRetentionDays: 7, safetyObjectLockMode: 'GOVERNANCE' },
      servers: {},
      targets: [
        {
          backup: { name: 'media', kind: 'files', instances: { tag: { key: 'role', value: 'web' } }, tiers: ['daily'], path: '/srv/media', executionTimeoutSeconds: 3600, maxConcurrency: '1', maxErrors: '100%' },
          restore: { drill: true, probes: [] },
        },
        {
          backup: { name: 'skipped', kind: 'sqlite', instances: { instanceIds: ['i-0123456789abcdef0'] }, tiers: ['daily'], path: '/srv/app.db', executionTimeoutSeconds: 3600, maxConcurrency: '1', maxErrors: '100%' },
          restore: { drill: false, probes: [] },
        },
      ],
      commandLogGroupName: 'restore-output',
      deliveryTimeoutSeconds: 600,
      alertTopicArn: 'arn:aws:sns:eu-west-1:111122223333:alerts',
      rdsDrills: [{ identifier: 'orders-db', instanceClass: 'db.t4g.micro' }],
      alarmAfterDays: 35,
    },
  };
}

const body = (text: string) => ({ transformToString: async () => text }) as never;

beforeEach(() => {
  published = [];
  for (const mock of [rdsMock, s3Mock, snsMock, ssmMock]) mock.reset();
  snsMock.on(PublishCommand).resolves({ MessageId: 'm' });
  const verdictKey = verdictKeyFor(KEY, new Date('2026-11-20T05:00:00Z'));
  s3Mock.on(ListObjectsV2Command).resolves({ Contents: [{ Key: KEY, Size: 10 }, { Key: manifestKeyFor(KEY) }] });
  s3Mock.on(ListObjectsV2Command, { Prefix: 'verdicts/daily/media/' }).resolves({ Contents: [{ Key: verdictKey }] });
  s3Mock.on(ListObjectVersionsCommand).resolves({ Versions: [{ Key: KEY, VersionId: 'v1' }, { Key: manifestKeyFor(KEY), VersionId: 'm1' }] });
  s3Mock.on(HeadObjectCommand).resolves({ StorageClass: 'STANDARD' });
  s3Mock.on(GetObjectCommand, { Key: verdictKey }).callsFake(() => ({
    Body: body(
      JSON.stringify({ verdictVersion: 2, bucket: 'backups', key: KEY, versionId: 'v1', manifestVersionId: 'm1', sha256: 'b'.repeat(64), target: 'media', tier: 'daily', kind: 'files', verifiedAt: '2026-11-20T05:00:00Z', backupAt: '2026-11-20T02:01:00Z', passed: true, checks: [], reasons: [], figures: {} }),
    ),
  }));
  s3Mock.on(GetObjectCommand, { Key: manifestKeyFor(KEY) }).callsFake(() => ({
    Body: body(JSON.stringify({ manifestVersion: 1, target: 'media', kind: 'files', tier: 'daily', instance: 'i-1', bucket: 'backups', key: KEY, startedAt: '2026-11-20T02:00:00Z', finishedAt: '2026-11-20T02:01:00Z', bytes: 10, sha256: 'b'.repeat(64), compression: 'gzip', format: 'tar', retainUntil: '2026-12-20T02:00:00Z', tools: {}, files: { fileCount: 2, totalBytes: 30 } })),
  }));
  ssmMock.on(DescribeInstanceInformationCommand).resolves({
    InstanceInformationList: [
      { InstanceId: 'i-0bbbbbbbbbbbbbbbb', PingStatus: 'ConnectionLost' },
      { InstanceId: 'i-0cccccccccccccccc', PingStatus: 'Online' },
    ],
  });
  ssmMock.on(DescribeDocumentCommand).resolves({ Document: { DefaultVersion: '4' } });
  ssmMock.on(GetDocumentCommand).resolves({ Content: JSON.stringify(DOCUMENT) });
  ssmMock.on(SendCommandCommand).resolves({ Command: { CommandId: 'cmd-drill' } });
  rdsMock.on(DescribeDBInstancesCommand).resolves({ DBInstances: [] });
  rdsMock.on(DescribeDBInstancesCommand, { DBInstanceIdentifier: 'orders-db' }).resolves({
    DBInstances: [
      {
        DBInstanceIdentifier: 'orders-db',
        DBSubnetGroup: { DBSubnetGroupName: 'orders-subnets' },
        VpcSecurityGroups: [{ VpcSecurityGroupId: 'sg-0123456789abcdef0', Status: 'active' }],
        DBParameterGroups: [{ DBParameterGroupName: 'orders-pg16' }],
      },
    ],
  });
});

describe('drills', () => {
  it('sends each drilled target newest verified backup in scratch mode with the drill flag, to one online instance', async () => {
    const started = await runDrills(undefined, deps());
    expect(started).toEqual([
      { target: 'media', started: 'ec2', commandId: 'cmd-drill', key: KEY, instanceId: 'i-0cccccccccccccccc' },
      { target: 'rds:orders-db', started: 'rds', instance: 'orders-db-drill-2612010500' },
    ]);
    expect(ssmMock).toReceiveCommandTimes(SendCommandCommand, 1);
    expect(ssmMock).toReceiveCommandWith(SendCommandCommand, {
      DocumentVersion: '4',
      InstanceIds: ['i-0cccccccccccccccc'],
      Parameters: expect.objectContaining({ mode: ['scratch'], drill: ['1'], key: [KEY], keyVersionId: ['v1'], manifestVersionId: ['m1'], expectedSha256: ['b'.repeat(64)], target: ['media'] }),
    });
  });

  it('a dry run shows each drill (backup version, instance, who it restores as) and starts, alerts and records nothing', async () => {
    const plans = await runDrills(undefined, deps(), { dryRun: true });
    expect(plans).toEqual([
      { target: 'media', plan: 'ec2', key: KEY, versionId: 'v1', instanceId: 'i-0cccccccccccccccc', restoresAs: "root, into the target's scratch root", notes: [] },
      { target: 'rds:orders-db', plan: 'rds', source: 'orders-db', instanceClass: 'db.t4g.micro', notes: [expect.stringContaining('temporary instance')] },
    ]);
    expect(ssmMock).toReceiveCommandTimes(SendCommandCommand, 0);
    expect(rdsMock).toReceiveCommandTimes(RestoreDBInstanceToPointInTimeCommand, 0);
    expect(snsMock).toReceiveCommandTimes(PublishCommand, 0);
    expect(published).toEqual([]);
    expect(parseDrillEvent({ action: 'drill', target: 'media', dryRun: true })).toEqual({ action: 'drill', target: 'media', dryRun: true });
  });

  it("a database target without a restore user is flagged in the plan with the privilege its backup user needs", () => {
    const database = { host: '127.0.0.1', port: 5432, name: 'orders', user: 'backup', password: { ssmParameter: '/orders/pw' } };
    const postgres = { backup: { name: 'orders-db', kind: 'postgres', instances: { instanceIds: ['i-0123456789abcdef0'] }, tiers: ['daily'], database, executionTimeoutSeconds: 3600, maxConcurrency: '1', maxErrors: '1' }, restore: { drill: true, probes: [] } } as const;
    expect(restoreIdentity(postgres as never)).toEqual({ restoresAs: "the backup user 'backup'", notes: [expect.stringMatching(/no restore user is configured: .* needs CREATEDB, or the drill fails \(restore\.targets\.orders-db\.user\)/)] });
    expect(restoreIdentity({ ...postgres, backup: { ...postgres.backup, kind: 'mysql' } } as never).notes[0]).toMatch(/CREATE and DROP privileges/);
    expect(restoreIdentity({ ...postgres, restore: { ...postgres.restore, user: 'restore' } } as never)).toEqual({ restoresAs: "the restore user 'restore'", notes: [] });
  });

  it('restores RDS into a small temporary instance in the source network, deletable and tagged as a drill', async () => {
    await runDrills('orders-db', deps());
    expect(rdsMock).toReceiveCommandWith(RestoreDBInstanceToPointInTimeCommand, {
      SourceDBInstanceIdentifier: 'orders-db',
      TargetDBInstanceIdentifier: 'orders-db-drill-2612010500',
      UseLatestRestorableTime: true,
      DBInstanceClass: 'db.t4g.micro',
      MultiAZ: false,
      PubliclyAccessible: false,
      DeletionProtection: false,
      BackupRetentionPeriod: 0,
      DBSubnetGroupName: 'orders-subnets',
      VpcSecurityGroupIds: ['sg-0123456789abcdef0'],
      Tags: expect.arrayContaining([{ Key: 'backup-kit:drill-of', Value: 'orders-db' }]),
    });
    expect(ssmMock).not.toReceiveCommand(SendCommandCommand);
  });

  it('a target without a verified backup fails its drill: RestoreDrillFailed and an alert, the others still run', async () => {
    s3Mock.on(ListObjectsV2Command).resolves({ Contents: [{ Key: KEY }, { Key: manifestKeyFor(KEY) }] });
    const started = await runDrills(undefined, deps());
    expect(started[0]).toMatchObject({ target: 'media', failed: expect.stringMatching(/no verified backup of 'media'/) });
    expect(started[1]).toMatchObject({ started: 'rds' });
    expect(published).toContainEqual({ name: 'RestoreDrillFailed', value: 1, dimensions: { Target: 'media' } });
    expect(snsMock.commandCalls(PublishCommand)[0]?.args[0].input.Subject).toBe('backup-kit restore drill NOT STARTED: media');
  });

  it('refuses to drill an unknown or opted-out target', async () => {
    await expect(runDrills('skipped', deps())).rejects.toThrow(/target: 'skipped' is not drilled \(drilled: media, rds:orders-db\)/);
  });

  it('finishes an available RDS drill: records success with the minutes taken, then deletes only that instance', async () => {
    rdsMock.on(DescribeDBInstancesCommand, { DBInstanceIdentifier: 'orders-db-drill-2612010430' }).resolves({
      DBInstances: [
        {
          DBInstanceIdentifier: 'orders-db-drill-2612010430',
          DBInstanceStatus: 'available',
          Endpoint: { Address: 'x.rds.amazonaws.com' },
          TagList: [{ Key: 'backup-kit:drill-of', Value: 'orders-db' }, { Key: 'backup-kit:drill-started', Value: '2026-12-01T04:30:00.000Z' }],
        },
      ],
    });
    expect(await finishRdsDrill('orders-db-drill-2612010430', deps())).toBe('succeeded');
    expect(published).toContainEqual({ name: 'RestoreDrillSeconds', value: 1800, dimensions: { Target: 'rds:orders-db' } });
    expect(s3Mock).toReceiveCommandWith(PutObjectCommand, { Key: 'drills/rds:orders-db/last-success.json' });
    expect(rdsMock).toReceiveCommandWith(DeleteDBInstanceCommand, { DBInstanceIdentifier: 'orders-db-drill-2612010430', SkipFinalSnapshot: true, DeleteAutomatedBackups: true });
  });

  it('never deletes an instance without the drill tag, even when named like one', async () => {
    rdsMock.on(DescribeDBInstancesCommand, { DBInstanceIdentifier: 'orders-db-drill-2612010430' }).resolves({
      DBInstances: [{ DBInstanceIdentifier: 'orders-db-drill-2612010430', DBInstanceStatus: 'available', Endpoint: { Address: 'x' }, TagList: [] }],
    });
    expect(await finishRdsDrill('orders-db-drill-2612010430', deps())).toBe('ignored');
    expect(rdsMock).not.toReceiveCommand(DeleteDBInstanceCommand);
  });

  /** media last drilled successfully on 20 October; orders-db never, its drills expected since `rdsExpectedSince`. */
  function recordsHold(rdsExpectedSince: string): void {
    s3Mock.on(GetObjectCommand, { Key: 'drills/media/last-success.json' }).callsFake(() => ({
      Body: body(JSON.stringify({ target: 'media', succeededAt: '2026-10-20T05:00:00.000Z', key: KEY, restoreSeconds: 40 })),
    }));
    s3Mock.on(GetObjectCommand, { Key: 'drills/rds:orders-db/last-success.json' }).rejects(Object.assign(new Error('none'), { name: 'NoSuchKey' }));
    s3Mock.on(GetObjectCommand, { Key: 'drills/rds:orders-db/expected-since.json' }).callsFake(() => ({
      Body: body(JSON.stringify({ expectedSince: rdsExpectedSince, what: 'a successful restore drill' })),
    }));
  }

  it('daily report: days since the last successful drill per target; a target never drilled counts from when its drills were first expected', async () => {
    recordsHold('2026-11-21T05:00:00.000Z');
    const reports = await reportDrills(deps());
    expect(reports).toEqual([
      { target: 'media', lastSuccess: '2026-10-20T05:00:00.000Z', daysSinceLastSuccess: 42 },
      { target: 'rds:orders-db', expectedSince: '2026-11-21T05:00:00.000Z', daysSinceLastSuccess: 10 },
    ]);
    expect(published).toEqual([
      { name: 'DaysSinceLastSuccessfulDrill', value: 42, dimensions: { Target: 'media' } },
      { name: 'DaysSinceLastSuccessfulDrill', value: 10, dimensions: { Target: 'rds:orders-db' } },
      // The one alarm's series: the largest over all drilled targets.
      { name: 'DaysSinceLastSuccessfulDrill', value: 42, dimensions: {} },
    ]);
    expect(s3Mock).not.toReceiveCommand(PutObjectCommand);
    // media crossed the limit a week ago: mailed then, not again every day.
    expect(snsMock).not.toReceiveCommand(PublishCommand);
  });

  it('daily report: a target that crossed the limit since the last report is mailed by name, with those still late', async () => {
    recordsHold('2026-10-26T17:00:00.000Z');
    const reports = await reportDrills(deps());
    expect(reports.map((report) => report.daysSinceLastSuccess)).toEqual([42, 35.5]);
    const mails = snsMock.commandCalls(PublishCommand).map((call) => call.args[0].input);
    expect(mails).toHaveLength(1);
    expect(mails[0]?.Subject).toBe('backup-kit restore drill overdue: rds:orders-db');
    expect(mails[0]?.Message).toContain('rds:orders-db: 35.5 days since drills were first expected');
    expect(mails[0]?.Message).toMatch(/Still overdue since an earlier report:\n  media: 42 days since its last successful drill/);
    expect(mails[0]?.Message).toContain('{"action":"drill","target":"<target>"}');
  });

  it('daily report: a target seen for the first time gets its marker, written once with a checksum, and counts from now', async () => {
    s3Mock.on(GetObjectCommand).rejects(Object.assign(new Error('none'), { name: 'NoSuchKey' }));
    s3Mock.on(PutObjectCommand).resolves({});
    const reports = await reportDrills(deps());
    expect(reports.map((report) => report.daysSinceLastSuccess)).toEqual([0, 0]);
    expect(s3Mock).toReceiveCommandWith(PutObjectCommand, { Key: 'drills/media/expected-since.json', IfNoneMatch: '*', ChecksumAlgorithm: 'SHA256' });
  });

  it('accepts the schedule events and RDS events, rejects anything else naming the field', () => {
    expect(parseDrillEvent({ action: 'drill' })).toEqual({ action: 'drill' });
    expect(parseDrillEvent({ action: 'report' })).toEqual({ action: 'report' });
    expect(parseDrillEvent({ source: 'aws.rds', 'detail-type': 'RDS DB Instance Event', region: 'eu-west-1', time: 't', detail: { SourceIdentifier: 'orders-db-drill-1' } })).toMatchObject({ action: 'rds-event' });
    expect(() => parseDrillEvent({ action: 'restore' })).toThrow(InvalidEventError);
    expect(() => parseDrillEvent({ action: 'report', target: 'x' })).toThrow(/Unrecognized key: "target"|target/);
  });
});
