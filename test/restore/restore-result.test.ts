import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { GetCommandInvocationCommand, ListCommandsCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { assertUnitInCatalog } from '../support/emf-contract';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { recordRestoreResult, type RestoreResultDeps } from '../../lambda/restore-result/core';
import type { Logger, Metrics } from '../../lambda/shared/powertools';
import { METRIC_NAMESPACE, catalogProblem } from '../../contracts/metric-catalog';

/** The restore result function: alerts with duration, restore/drill metrics, drill records. */

const ssmMock = mockClient(SSMClient);
const snsMock = mockClient(SNSClient);
const s3Mock = mockClient(S3Client);

interface RecordedMetric {
  readonly service: string;
  readonly name: string;
  readonly value: number;
  readonly dimensions: Record<string, string>;
}

/** A Metrics stand-in that records what would be published, by service. */
function metricsFor(service: string, published: RecordedMetric[]): Metrics {
  let dimensions: Record<string, string> = {};
  const stored: { name: string; value: number }[] = [];
  return {
    addDimensions: (added: Record<string, string>) => {
      dimensions = { ...dimensions, ...added };
    },
    addMetric: (name: string, unit: unknown, value: number) => {
      assertUnitInCatalog(service, name, unit);
      stored.push({ name, value });
    },
    publishStoredMetrics: () => {
      for (const metric of stored) {
        const problem = catalogProblem(METRIC_NAMESPACE, metric.name, ['service', ...Object.keys(dimensions)], service);
        if (problem !== undefined) throw new Error(`out of the metric catalog: ${problem}`);
      }
      published.push(...stored.map((metric) => ({ service, ...metric, dimensions })));
      stored.length = 0;
    },
  } as unknown as Metrics;
}

const silent = { info: vi.fn(), warn: vi.fn(), error: vi.fn(), debug: vi.fn() } as unknown as Logger;
let published: RecordedMetric[];
let deps: RestoreResultDeps;

const event = (status = 'Success') => ({
  'detail-type': 'EC2 Command Invocation Status-change Notification',
  source: 'aws.ssm' as const,
  detail: { 'command-id': 'cmd-1', 'document-name': 'BackupKit-test-InstanceRestore', 'instance-id': 'i-0aaaaaaaaaaaaaaaa', status },
}) as Parameters<typeof recordRestoreResult>[0];

function command(parameters: Record<string, string>) {
  ssmMock.on(ListCommandsCommand).resolves({
    Commands: [{ CommandId: 'cmd-1', Comment: 'backup-kit scratch restore of orders-db by jane', RequestedDateTime: new Date('2026-11-21T10:00:00Z'), Parameters: Object.fromEntries(Object.entries(parameters).map(([k, v]) => [k, [v]])) }],
  });
}

beforeEach(() => {
  ssmMock.reset();
  snsMock.reset();
  s3Mock.reset();
  snsMock.on(PublishCommand).resolves({ MessageId: 'msg-1' });
  published = [];
  deps = {
    ssm: new SSMClient({}),
    sns: new SNSClient({}),
    s3: new S3Client({}),
    logger: silent,
    restoreMetrics: metricsFor('restore', published),
    drillMetrics: metricsFor('drill', published),
    settings: { region: 'eu-west-1', documentName: 'BackupKit-test-InstanceRestore', alertTopicArn: 'arn:aws:sns:eu-west-1:111122223333:alerts', commandLogGroupName: 'restore-output', bucket: 'backups' },
    now: () => new Date('2026-11-21T10:05:00Z'),
    retry: { sleep: async () => undefined, random: () => 0 },
  };
});

const RESTORE_LINE =
  'RESTORE_RESULT {"target":"orders-db","kind":"postgres","mode":"replace","key":"daily/orders-db/2026/11/20/orders-db_20261120T020000Z.pgdump.gz","bytes":1234,"sha256":"' +
  'a'.repeat(64) +
  '","restoredTo":"orders","previousDataKeptAs":"orders_pre_restore_20261121100100","safetyBackupKey":"predeploy/orders-db/2026/11/21/orders-db_20261121T100030Z.pgdump.gz","restoreSeconds":95.2,"durationSeconds":141.7}';

describe('restore result', () => {
  it('a preflight check (mode check) is not a restore: ignored, no alert, no metric', async () => {
    command({ target: 'orders-db', kind: 'postgres', mode: 'check', drill: '0' });
    ssmMock.on(GetCommandInvocationCommand).resolves({ Status: 'Success', ResponseCode: 0, StandardOutputContent: 'PREFLIGHT_RESULT {}\n' });
    expect(await recordRestoreResult(event(), deps)).toEqual({ outcome: 'ignored', reason: 'a preflight check: the restore function reads its answer' });
    expect(snsMock.commandCalls(PublishCommand)).toHaveLength(0);
    expect(published).toEqual([]);
  });

  it('a finished restore: alert with duration, where it went and what was kept, and RestoreSucceeded/RestoreSeconds', async () => {
    // GIVEN a replace run that succeeded
    command({ target: 'orders-db', kind: 'postgres', mode: 'replace', drill: '0' });
    ssmMock.on(GetCommandInvocationCommand).resolves({ Status: 'Success', ResponseCode: 0, StandardOutputContent: `${RESTORE_LINE}\n` });
    // WHEN recorded
    const outcome = await recordRestoreResult(event(), deps);
    // THEN the alert says what was restored, how long it took, and where the previous data is
    expect(outcome.outcome).toBe('restore-succeeded');
    const message = snsMock.commandCalls(PublishCommand)[0]?.args[0].input;
    expect(message?.Subject).toBe('backup-kit restore done: orders-db (replace) in 141.7 s');
    expect(message?.Message).toMatch(/Restored into:  orders\n[\s\S]*kept as orders_pre_restore_20261121100100[\s\S]*Safety backup:  predeploy\/orders-db/);
    expect(published).toEqual([
      { service: 'restore', name: 'RestoreSucceeded', value: 1, dimensions: { Target: 'orders-db' } },
      { service: 'restore', name: 'RestoreSeconds', value: 141.7, dimensions: { Target: 'orders-db' } },
    ]);
    expect(s3Mock).not.toReceiveCommand(PutObjectCommand);
  });

  it('a failed restore: alert with the exit code meaning, next step, redacted error tail, and RestoreFailed', async () => {
    // GIVEN a run refused for a checksum mismatch, whose error output shows a password
    command({ target: 'orders-db', kind: 'postgres', mode: 'scratch', drill: '0' });
    ssmMock.on(GetCommandInvocationCommand).resolves({
      Status: 'Failed',
      StatusDetails: 'Failed',
      ResponseCode: 7,
      StandardErrorContent: 'restore ERROR: REFUSED: the backup does not match its manifest\nPGPASSWORD=hunter2-secret-value psql\n',
      ExecutionStartDateTime: '2026-11-21T10:00:10Z',
      ExecutionEndDateTime: '2026-11-21T10:00:40Z',
    });
    // WHEN recorded
    const outcome = await recordRestoreResult(event('Failed'), deps);
    // THEN
    expect(outcome.outcome).toBe('restore-failed');
    const message = snsMock.commandCalls(PublishCommand)[0]?.args[0].input.Message ?? '';
    expect(message).toMatch(/Exit code:   7 - REFUSED: the downloaded backup does not match its manifest/);
    expect(message).toMatch(/Next step:   Do not use this backup/);
    expect(message).not.toContain('hunter2-secret-value');
    expect(published).toEqual([{ service: 'restore', name: 'RestoreFailed', value: 1, dimensions: { Target: 'orders-db' } }]);
  });

  it('a passed drill: records the success in the bucket and RestoreDrillSucceeded/Seconds under service drill, no alert', async () => {
    command({ target: 'orders-db', kind: 'postgres', mode: 'scratch', drill: '1' });
    ssmMock.on(GetCommandInvocationCommand).resolves({
      Status: 'Success',
      ResponseCode: 0,
      StandardOutputContent:
        'RESTORE_RESULT {"target":"orders-db"}\nDRILL_RESULT {"target":"orders-db","kind":"postgres","key":"daily/orders-db/2026/11/20/orders-db_20261120T020000Z.pgdump.gz","bytes":1234,"passed":true,"restoreSeconds":62.5,"checks":[{"name":"restore","status":"passed","detail":"ok"}]}\n',
    });
    const outcome = await recordRestoreResult(event(), deps);
    expect(outcome.outcome).toBe('drill-succeeded');
    expect(s3Mock).toReceiveCommandWith(PutObjectCommand, { Bucket: 'backups', Key: 'drills/orders-db/last-success.json' });
    const record = JSON.parse(String(s3Mock.commandCalls(PutObjectCommand)[0]?.args[0].input.Body));
    expect(record).toMatchObject({ target: 'orders-db', succeededAt: '2026-11-21T10:05:00.000Z', restoreSeconds: 62.5, commandId: 'cmd-1' });
    expect(published).toEqual([
      { service: 'drill', name: 'RestoreDrillSucceeded', value: 1, dimensions: { Target: 'orders-db' } },
      { service: 'drill', name: 'RestoreDrillSeconds', value: 62.5, dimensions: { Target: 'orders-db' } },
      { service: 'drill', name: 'DaysSinceLastSuccessfulDrill', value: 0, dimensions: { Target: 'orders-db' } },
    ]);
    expect(snsMock).not.toReceiveCommand(PublishCommand);
  });

  it('a failed drill: alert listing the failed checks, RestoreDrillFailed, no record', async () => {
    command({ target: 'media', kind: 'files', mode: 'scratch', drill: '1' });
    ssmMock.on(GetCommandInvocationCommand).resolves({
      Status: 'Failed',
      ResponseCode: 9,
      StandardOutputContent:
        'DRILL_RESULT {"target":"media","kind":"files","key":"daily/media/2026/11/20/media_20261120T020000Z.tar.gz","bytes":10,"passed":false,"restoreSeconds":5,"checks":[{"name":"fileCount","status":"failed","detail":"restored 5 files / 10 bytes, the manifest says 6 / 12"}]}\n',
    });
    const outcome = await recordRestoreResult(event('Failed'), deps);
    expect(outcome.outcome).toBe('drill-failed');
    expect(snsMock.commandCalls(PublishCommand)[0]?.args[0].input.Message).toMatch(/Failed checks:\n  - fileCount: restored 5 files/);
    expect(published).toEqual([{ service: 'drill', name: 'RestoreDrillFailed', value: 1, dimensions: { Target: 'media' } }]);
    expect(s3Mock).not.toReceiveCommand(PutObjectCommand);
  });

  it('a drill whose command never ran (instance gone) fails with the Run Command meaning', async () => {
    command({ target: 'media', kind: 'files', mode: 'scratch', drill: '1' });
    ssmMock.on(GetCommandInvocationCommand).resolves({ Status: 'TimedOut', StatusDetails: 'DeliveryTimedOut', ResponseCode: -1 });
    const outcome = await recordRestoreResult(event('TimedOut'), deps);
    expect(outcome.outcome).toBe('drill-failed');
    expect(snsMock.commandCalls(PublishCommand)[0]?.args[0].input.Message).toMatch(/did not pick up the command in time/);
  });

  it('ignores other documents and non-final statuses', async () => {
    expect(await recordRestoreResult({ ...event(), detail: { ...event().detail, 'document-name': 'Other' } }, deps)).toMatchObject({ outcome: 'ignored' });
    expect(await recordRestoreResult(event('InProgress'), deps)).toMatchObject({ outcome: 'ignored' });
    expect(ssmMock.calls()).toHaveLength(0);
  });
});
