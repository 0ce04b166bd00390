import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import {
  GetCommandInvocationCommand,
  InvocationDoesNotExist,
  ListCommandsCommand,
  SSMClient,
  type GetCommandInvocationCommandOutput,
} from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { parseResultEvent, recordBackupResult, type ResultDeps, type ResultSettings } from '../../lambda/backup-result/core';
import { InvalidEventError } from '../../contracts/errors';
import { capturedMetrics, metricRecords, silentLogger } from './support';

const ssm = mockClient(SSMClient);
const sns = mockClient(SNSClient);

const settings: ResultSettings = {
  region: 'eu-west-1',
  documentName: 'BackupKit-backup-kit-InstanceBackup',
  alertTopicArn: 'arn:aws:sns:eu-west-1:123456789012:alerts',
  commandLogGroupName: 'backup-kit-jobs-BackupJobsCommandOutput',
  triggerFunctionName: 'backup-kit-jobs-BackupJobsTrigger',
};

const COMMAND_ID = '0b6f2c1e-4a7d-4f0e-9a55-3c2d1b0a9f8e';
const INSTANCE_ID = 'i-0123456789abcdef0';
const SHA = 'a'.repeat(64);

function invocationEvent(status: string, documentName = settings.documentName) {
  return {
    version: '0',
    id: 'e1',
    'detail-type': 'EC2 Command Invocation Status-change Notification',
    source: 'aws.ssm',
    account: '123456789012',
    time: '2025-03-04T02:07:12Z',
    region: 'eu-west-1',
    resources: [`arn:aws:ec2:eu-west-1:123456789012:instance/${INSTANCE_ID}`],
    detail: { 'command-id': COMMAND_ID, 'document-name': documentName, 'instance-id': INSTANCE_ID, 'requested-date-time': '2025-03-04T02:00:00.123Z', status },
  };
}

function commandEvent(status: string) {
  return {
    version: '0',
    id: 'e2',
    'detail-type': 'EC2 Command Status-change Notification',
    source: 'aws.ssm',
    account: '123456789012',
    time: '2025-03-04T02:31:00Z',
    region: 'eu-west-1',
    resources: [],
    detail: { 'command-id': COMMAND_ID, 'document-name': settings.documentName, 'expire-after': '2025-03-04T02:30:00Z', parameters: {}, 'requested-date-time': '2025-03-04T02:00:00.123Z', status },
  };
}

function invocation(output: Partial<GetCommandInvocationCommandOutput>): GetCommandInvocationCommandOutput {
  return {
    $metadata: {},
    CommandId: COMMAND_ID,
    InstanceId: INSTANCE_ID,
    DocumentName: settings.documentName,
    PluginName: 'backup',
    ExecutionStartDateTime: '2025-03-04T02:00:02.000Z',
    ExecutionEndDateTime: '2025-03-04T02:07:10.000Z',
    ...output,
  };
}

let metricsCapture: ReturnType<typeof capturedMetrics>;

function deps(overrides: Partial<ResultDeps> = {}): ResultDeps {
  return {
    ssm: new SSMClient({ region: 'eu-west-1' }),
    sns: new SNSClient({ region: 'eu-west-1' }),
    logger: silentLogger(),
    metrics: metricsCapture.metrics,
    settings,
    retry: { sleep: async () => undefined, random: () => 0.5 },
    ...overrides,
  };
}

const published = () => sns.commandCalls(PublishCommand).map((call) => call.args[0].input);

beforeEach(() => {
  ssm.reset();
  sns.reset();
  metricsCapture = capturedMetrics('backup-result');
  ssm.on(ListCommandsCommand, { CommandId: COMMAND_ID }).resolves({
    Commands: [
      {
        CommandId: COMMAND_ID,
        DocumentName: settings.documentName,
        DocumentVersion: '4',
        Comment: 'backup-kit daily backup of orders-db',
        Parameters: { target: ['orders-db'], tier: ['daily'], kind: ['postgres'], passwordSsmParameter: ['/orders/prod/db-password'] },
        TargetCount: 1,
      },
    ],
  });
  sns.on(PublishCommand).resolves({ MessageId: 'alert-1' });
});

afterEach(() => vi.restoreAllMocks());

describe('backup result: success', () => {
  it('GIVEN a successful run with its BACKUP_RESULT line THEN success, duration and bytes are recorded per target and tier, and nobody is alerted', async () => {
    ssm.on(GetCommandInvocationCommand).resolves(
      invocation({
        Status: 'Success',
        StatusDetails: 'Success',
        ResponseCode: 0,
        StandardOutputContent: `BACKUP_RESULT {"target":"orders-db","tier":"daily","kind":"postgres","bucket":"b","key":"daily/orders-db/2025/03/04/orders-db_20250304T020002Z.pgdump.gz","bytes":52428800,"sha256":"${SHA}","durationSeconds":427}\n`,
        StandardErrorContent: 'pg_dump: dumping contents of table "public.orders"\n',
      }),
    );
    const outcome = await recordBackupResult(parseResultEvent(invocationEvent('Success')), deps());
    expect(outcome).toMatchObject({ outcome: 'succeeded', identity: { target: 'orders-db', tier: 'daily' }, result: { bytes: 52428800 } });
    expect(ssm).toHaveReceivedCommandWith(GetCommandInvocationCommand, { CommandId: COMMAND_ID, InstanceId: INSTANCE_ID });
    expect(sns).not.toHaveReceivedCommand(PublishCommand);
    const dimensions = { service: 'backup-result', Target: 'orders-db', Tier: 'daily' };
    expect(metricRecords(metricsCapture.emitted())).toEqual([
      { name: 'BackupSucceeded', unit: 'Count', value: 1, namespace: 'BackupKit', dimensions },
      { name: 'BackupDurationSeconds', unit: 'Seconds', value: 427, namespace: 'BackupKit', dimensions },
    ]);
  });

  it('GIVEN the invocation is not visible yet THEN GetCommandInvocation is retried', async () => {
    ssm
      .on(GetCommandInvocationCommand)
      .rejectsOnce(new InvocationDoesNotExist({ message: 'not yet', $metadata: {} }))
      .resolves(
        invocation({
          Status: 'Success',
          ResponseCode: 0,
          StandardOutputContent: `BACKUP_RESULT {"target":"orders-db","tier":"daily","kind":"postgres","bucket":"b","key":"k","bytes":1,"sha256":"${SHA}","durationSeconds":1}`,
        }),
      );
    const outcome = await recordBackupResult(parseResultEvent(invocationEvent('Success')), deps());
    expect(outcome.outcome).toBe('succeeded');
    expect(ssm).toHaveReceivedCommandTimes(GetCommandInvocationCommand, 2);
  });
});

describe('backup result: failures alert with what to do', () => {
  const secretStderr = [
    'backup: stage=credentials reading password from SSM parameter /orders/prod/db-password',
    'pg_dump: error: connection to server at "127.0.0.1", port 5432 failed: FATAL:  password authentication failed for user "backup"',
    'debug: PGPASSWORD=Sup3rS3cret! pg_dump --dbname=postgres://backup:Sup3rS3cret!@127.0.0.1/orders',
    'debug: aws_access_key_id=AKIAIOSFODNN7EXAMPLE token=IQoJb3JpZ2luX2VjEHgaCWV1LXdlc3QtMSJHMEUCIQDx9',
    'backup: FAILED (exit 3): the database refused the login of user backup',
  ].join('\n');

  it('GIVEN exit code 3 THEN the alert names target, instance, tier, the exit code meaning, the redacted stderr tail, links and the next step', async () => {
    ssm.on(GetCommandInvocationCommand).resolves(invocation({ Status: 'Failed', StatusDetails: 'Failed', ResponseCode: 3, StandardOutputContent: '', StandardErrorContent: secretStderr }));
    const outcome = await recordBackupResult(parseResultEvent(invocationEvent('Failed')), deps());
    expect(outcome).toMatchObject({ outcome: 'failed', alertMessageId: 'alert-1', failure: { exitCode: 3, status: 'Failed' } });
    const [alert] = published();
    expect(alert?.TopicArn).toBe(settings.alertTopicArn);
    expect(alert?.Subject).toBe('backup-kit FAILED: orders-db (daily) on i-0123456789abcdef0');
    const message = alert?.Message ?? '';
    expect(message).toContain('Target:     orders-db (postgres)');
    expect(message).toContain('Tier:       daily');
    expect(message).toContain('Instance:   i-0123456789abcdef0');
    expect(message).toContain('Exit code:  3 (credentials: the database password could not be read, or the database refused the login)');
    expect(message).toContain('Ran for:    428 s');
    expect(message).toContain('document BackupKit-backup-kit-InstanceBackup, version 4');
    expect(message).toContain('  | pg_dump: error: connection to server at "127.0.0.1", port 5432 failed: FATAL:  password authentication failed for user "backup"');
    expect(message).toMatch(/Next step:  Check that the instance role has this target's managed policy attached/);
    expect(message).toContain(`https://eu-west-1.console.aws.amazon.com/systems-manager/run-command/${COMMAND_ID}/${INSTANCE_ID}?region=eu-west-1`);
    expect(message).toContain(`log-group/backup-kit-jobs-BackupJobsCommandOutput$3FlogStreamNameFilter$3D${COMMAND_ID}$252F${INSTANCE_ID}`);
    expect(message).toContain('with the test event {"tier":"daily","target":"orders-db"}');
    for (const secret of ['Sup3rS3cret!', 'AKIAIOSFODNN7EXAMPLE', 'IQoJb3JpZ2luX2VjEHgaCWV1LXdlc3QtMSJHMEUCIQDx9']) {
      expect(message).not.toContain(secret);
    }
    expect(message).toContain('PGPASSWORD=[REDACTED]');
    expect(metricRecords(metricsCapture.emitted())).toEqual([
      { name: 'BackupFailed', unit: 'Count', value: 1, namespace: 'BackupKit', dimensions: { service: 'backup-result', Target: 'orders-db', Tier: 'daily' } },
      { name: 'BackupDurationSeconds', unit: 'Seconds', value: 428, namespace: 'BackupKit', dimensions: { service: 'backup-result', Target: 'orders-db', Tier: 'daily' } },
      // The series the one backup-failed alarm reads: over every target and tier.
      { name: 'BackupFailed', unit: 'Count', value: 1, namespace: 'BackupKit', dimensions: { service: 'backup-result' } },
    ]);
  });

  it.each([
    [5, /upload to S3 failed; nothing was stored/, /Check that the instance reaches S3/],
    [6, /manifest could not be written/, /manifest\.json/],
    [4, /dump or compression failed/, /is the database running/],
    [2, /bad input/, /Compare the target's entry in the config/],
    [127, /unexpected exit code 127/, /Read the error output above/],
  ])('GIVEN exit code %i THEN its meaning and next step are in the alert', async (code, meaning, nextStep) => {
    ssm.on(GetCommandInvocationCommand).resolves(invocation({ Status: 'Failed', StatusDetails: 'Failed', ResponseCode: code, StandardErrorContent: 'boom' }));
    await recordBackupResult(parseResultEvent(invocationEvent('Failed')), deps());
    const message = published()[0]?.Message ?? '';
    expect(message).toMatch(new RegExp(`Exit code:  ${code} \\(`));
    expect(message).toMatch(meaning);
    expect(message).toMatch(nextStep);
  });

  it('GIVEN the instance never picked the command up THEN the alert says there is no exit code and points at the SSM agent', async () => {
    ssm.on(GetCommandInvocationCommand).resolves(invocation({ Status: 'TimedOut', StatusDetails: 'DeliveryTimedOut', ResponseCode: -1, ExecutionStartDateTime: '', ExecutionEndDateTime: '' }));
    await recordBackupResult(parseResultEvent(invocationEvent('TimedOut')), deps());
    const message = published()[0]?.Message ?? '';
    expect(message).toContain('Status:     DeliveryTimedOut');
    expect(message).toContain('Exit code:  none: the script did not finish (the instance did not pick up the command in time');
    expect(message).toMatch(/Next step:  Check in Fleet Manager that the instance is running and its SSM agent is online/);
    expect(metricRecords(metricsCapture.emitted()).map((record) => [record.name, record.dimensions])).toEqual([
      ['BackupFailed', { service: 'backup-result', Target: 'orders-db', Tier: 'daily' }],
      ['BackupFailed', { service: 'backup-result' }],
    ]);
  });

  it('GIVEN the run hit its execution timeout THEN the alert suggests timeoutMinutes', async () => {
    ssm.on(GetCommandInvocationCommand).resolves(invocation({ Status: 'TimedOut', StatusDetails: 'ExecutionTimedOut', ResponseCode: 124, StandardErrorContent: 'pg_dump: dumping table big' }));
    await recordBackupResult(parseResultEvent(invocationEvent('TimedOut')), deps());
    const message = published()[0]?.Message ?? '';
    expect(message).toContain("the backup ran longer than the target's timeoutMinutes");
    expect(message).toMatch(/raise the target's timeoutMinutes/);
  });

  it('GIVEN exit 0 but no BACKUP_RESULT line THEN it counts as failed and says the run cannot be confirmed', async () => {
    ssm.on(GetCommandInvocationCommand).resolves(invocation({ Status: 'Success', ResponseCode: 0, StandardOutputContent: 'done\n' }));
    const outcome = await recordBackupResult(parseResultEvent(invocationEvent('Success')), deps());
    expect(outcome).toMatchObject({ outcome: 'failed', failure: { status: 'ResultMissing' } });
    expect(published()[0]?.Message).toContain('the script exited 0 but the run cannot be confirmed: no BACKUP_RESULT line in the standard output');
  });

  it('GIVEN a BACKUP_RESULT for another target THEN it is not counted as this target’s success', async () => {
    ssm.on(GetCommandInvocationCommand).resolves(
      invocation({
        Status: 'Success',
        ResponseCode: 0,
        StandardOutputContent: `BACKUP_RESULT {"target":"billing-db","tier":"daily","kind":"mysql","bucket":"b","key":"k","bytes":1,"sha256":"${SHA}","durationSeconds":1}`,
      }),
    );
    const outcome = await recordBackupResult(parseResultEvent(invocationEvent('Success')), deps());
    expect(outcome.outcome).toBe('failed');
    expect(published()[0]?.Message).toContain("names target 'billing-db' tier 'daily', not the ones it was sent for");
  });

  it('GIVEN error output longer than Run Command keeps THEN the alert says it was cut and where the full output is', async () => {
    const long = `${'progress line\n'.repeat(700)}\n---Error truncated----`;
    ssm.on(GetCommandInvocationCommand).resolves(invocation({ Status: 'Failed', ResponseCode: 4, StandardErrorContent: long }));
    await recordBackupResult(parseResultEvent(invocationEvent('Failed')), deps());
    const message = published()[0]?.Message ?? '';
    expect(message).toContain('Run Command kept only the first 8,000 characters, see the full output');
    expect(message.split('\n').filter((line) => line.startsWith('  | '))).toHaveLength(20);
  });

  it('GIVEN the alert cannot be published THEN the error is thrown for EventBridge to retry, and nothing is counted yet', async () => {
    ssm.on(GetCommandInvocationCommand).resolves(invocation({ Status: 'Failed', ResponseCode: 5 }));
    sns.on(PublishCommand).rejects(new Error('KMS key disabled'));
    await expect(recordBackupResult(parseResultEvent(invocationEvent('Failed')), deps())).rejects.toThrow(/KMS key disabled/);
    expect(metricsCapture.emitted()).toEqual([]);
  });
});

describe('backup result: commands that reached no instance', () => {
  it('GIVEN a finished command with no targets THEN the tag matched nothing: alerted and counted as failed', async () => {
    ssm.on(ListCommandsCommand).resolves({ Commands: [{ CommandId: COMMAND_ID, DocumentVersion: '4', Parameters: { target: ['orders-db'], tier: ['weekly'], kind: ['postgres'] }, TargetCount: 0 }] });
    const outcome = await recordBackupResult(parseResultEvent(commandEvent('Success')), deps());
    expect(outcome).toMatchObject({ outcome: 'failed', failure: { status: 'NoInstances', instanceId: '(none)' } });
    const [alert] = published();
    expect(alert?.Subject).toBe('backup-kit FAILED: orders-db (weekly) on (none)');
    expect(alert?.Message).toMatch(/no instance matched the target's instances/);
    expect(alert?.Message).toMatch(/Check that the instances carry the tag named in the config/);
    expect(metricRecords(metricsCapture.emitted())).toEqual([
      { name: 'BackupFailed', unit: 'Count', value: 1, namespace: 'BackupKit', dimensions: { service: 'backup-result', Target: 'orders-db', Tier: 'weekly' } },
      // The series the one backup-failed alarm reads: over every target and tier.
      { name: 'BackupFailed', unit: 'Count', value: 1, namespace: 'BackupKit', dimensions: { service: 'backup-result' } },
    ]);
  });

  it('GIVEN a finished command that reached instances THEN it is left to the per-instance events', async () => {
    const outcome = await recordBackupResult(parseResultEvent(commandEvent('Failed')), deps());
    expect(outcome).toEqual({ outcome: 'ignored', reason: 'the command reached instances; each invocation reports itself' });
    expect(sns).not.toHaveReceivedCommand(PublishCommand);
  });
});

describe('backup result: the handler', () => {
  async function loadHandler() {
    vi.resetModules();
    for (const [name, value] of Object.entries({
      AWS_REGION: 'eu-west-1',
      BACKUP_DOCUMENT_NAME: settings.documentName,
      ALERT_TOPIC_ARN: settings.alertTopicArn,
      COMMAND_LOG_GROUP: settings.commandLogGroupName,
      TRIGGER_FUNCTION_NAME: settings.triggerFunctionName,
      POWERTOOLS_LOG_LEVEL: 'SILENT',
      POWERTOOLS_METRICS_DISABLED: 'true',
    })) {
      vi.stubEnv(name, value);
    }
    return (await import('../../lambda/backup-result/handler.js')).handler;
  }

  afterEach(() => vi.unstubAllEnvs());

  it('GIVEN an event that is not from Run Command WHEN invoked THEN it fails (for the DLQ) without calling AWS', async () => {
    const handler = await loadHandler();
    await expect(handler({ 'detail-type': 'Scheduled Event', source: 'aws.events', detail: {} })).rejects.toThrow(/invalid event: detail-type/);
    expect(ssm).not.toHaveReceivedCommand(ListCommandsCommand);
  });

  it('GIVEN a failed run WHEN invoked THEN it alerts', async () => {
    ssm.on(GetCommandInvocationCommand).resolves(invocation({ Status: 'Failed', StatusDetails: 'Failed', ResponseCode: 5, StandardErrorContent: 'upload failed' }));
    const handler = await loadHandler();
    const outcome = await handler(invocationEvent('Failed'));
    expect(outcome.outcome).toBe('failed');
    expect(sns).toHaveReceivedCommandTimes(PublishCommand, 1);
  });
});

describe('backup result: events it does not act on', () => {
  it.each(['InProgress', 'Pending', 'Delayed'])('GIVEN status %s THEN nothing is fetched or recorded', async (status) => {
    const outcome = await recordBackupResult(parseResultEvent(invocationEvent(status)), deps());
    expect(outcome.outcome).toBe('ignored');
    expect(ssm).not.toHaveReceivedCommand(GetCommandInvocationCommand);
    expect(metricsCapture.emitted()).toEqual([]);
  });

  it('GIVEN another document THEN it is ignored', async () => {
    const outcome = await recordBackupResult(parseResultEvent(invocationEvent('Failed', 'AWS-RunShellScript')), deps());
    expect(outcome).toEqual({ outcome: 'ignored', reason: 'document AWS-RunShellScript is not the backup document' });
    expect(ssm).not.toHaveReceivedCommand(ListCommandsCommand);
  });

  it('GIVEN something that is not a Run Command event THEN it is refused naming the field', () => {
    expect(() => parseResultEvent({ 'detail-type': 'EC2 Instance State-change Notification', source: 'aws.ec2', detail: {} })).toThrow(InvalidEventError);
    expect(() => parseResultEvent({ ...invocationEvent('Failed'), detail: { status: 'Failed' } })).toThrow(/detail\.command-id/);
  });
});
