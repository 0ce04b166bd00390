import { SNSClient, PublishCommand } from '@aws-sdk/client-sns';
import {
  DescribeDocumentCommand,
  GetDocumentCommand,
  InvalidInstanceId,
  ListDocumentVersionsCommand,
  SSMClient,
  SendCommandCommand,
  ThrottlingException,
} from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { exampleConfig } from '../../config/example';
import { DocumentVersionError } from '../../lambda/shared/document-version';
import { loadTriggerSettings, parseTriggerEvent, triggerBackups, type TriggerDeps, type TriggerSettings } from '../../lambda/backup-trigger/core';
import { TRIGGER_ENV, documentContentSha256, encodeTargetPlans } from '../../contracts/backup-command';
import { InvalidEventError, RequestRejectedError } from '../../contracts/errors';
import { loadConfig } from '../../lib/config/config';
import { targetPlans } from '../../lib/stacks/backup-jobs-settings';
import { capturedMetrics, metricRecords, silentLogger } from './support';

const ssm = mockClient(SSMClient);
const sns = mockClient(SNSClient);

const deployedContent = { schemaVersion: '2.2', description: 'deployed', mainSteps: [{ name: 'backup' }] };
const olderContent = { schemaVersion: '2.2', description: 'older', mainSteps: [{ name: 'backup' }] };
const { config } = loadConfig(exampleConfig);

const settings: TriggerSettings = {
  region: 'eu-west-1',
  functionName: 'backup-kit-jobs-BackupJobsTrigger',
  documentName: 'BackupKit-backup-kit-InstanceBackup',
  documentSha256: documentContentSha256(deployedContent),
  destination: { bucket: 'backup-kit-storage-backupsbucket-abc', kmsKeyArn: 'arn:aws:kms:eu-west-1:123456789012:key/0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b', region: 'eu-west-1' },
  commandLogGroupName: 'backup-kit-jobs-CommandOutput',
  alertTopicArn: 'arn:aws:sns:eu-west-1:123456789012:alerts',
  deliveryTimeoutSeconds: 1800,
  tiers: Object.fromEntries(Object.entries(config.tiers).map(([name, tier]) => [name, { retentionDays: tier.retentionDays, scheduled: tier.schedule !== undefined, objectLockMode: 'GOVERNANCE' as const }])),
  targets: targetPlans(config),
};

let delays: number[];
let metricsCapture: ReturnType<typeof capturedMetrics>;

function deps(overrides: Partial<TriggerDeps> = {}): TriggerDeps {
  return {
    ssm: new SSMClient({ region: 'eu-west-1' }),
    sns: new SNSClient({ region: 'eu-west-1' }),
    logger: silentLogger(),
    metrics: metricsCapture.metrics,
    settings,
    retry: { sleep: async (ms) => void delays.push(ms), random: () => 0.5 },
    ...overrides,
  };
}

function throttled(): ThrottlingException {
  return new ThrottlingException({ message: 'Rate exceeded', Message: 'Rate exceeded', $metadata: {} });
}

beforeEach(() => {
  ssm.reset();
  sns.reset();
  delays = [];
  metricsCapture = capturedMetrics('backup-trigger');
  ssm.on(DescribeDocumentCommand).resolves({ Document: { Name: settings.documentName, DefaultVersion: '3', LatestVersion: '3' } });
  ssm.on(GetDocumentCommand, { DocumentVersion: '3' }).resolves({ Content: JSON.stringify(deployedContent, null, 2) });
  let next = 0;
  ssm.on(SendCommandCommand).callsFake(async () => ({ Command: { CommandId: `cmd-${++next}` } }));
  sns.on(PublishCommand).resolves({ MessageId: 'msg-1' });
});

afterEach(() => {
  vi.restoreAllMocks();
});

describe('backup trigger: events', () => {
  it('GIVEN the schedule event THEN it is the tier alone', () => {
    expect(parseTriggerEvent({ tier: 'daily' }, settings)).toEqual({ tier: 'daily' });
  });

  it('GIVEN a console event with a target THEN both are kept', () => {
    expect(parseTriggerEvent({ tier: 'predeploy', target: 'orders-db' }, settings)).toEqual({ tier: 'predeploy', target: 'orders-db' });
  });

  it.each([
    [{ tier: 'hourly' }, /tier: unknown tier 'hourly' \(configured tiers: daily, weekly, monthly, manual, predeploy\)/],
    [{ tier: 'manual', target: 'nope' }, /target: unknown target 'nope' \(configured targets: orders-db, billing-db, repairs-sqlite, repairs-media\)/],
    [{ tier: 'manual', taget: 'orders-db' }, /unknown field 'taget' \(the event takes tier and optionally target\)/],
    [{}, /tier: required: one of daily/],
    ['daily', /\(event\)/],
  ])('GIVEN %j THEN it is refused naming the field', (event, message) => {
    expect(() => parseTriggerEvent(event, settings)).toThrow(InvalidEventError);
    expect(() => parseTriggerEvent(event, settings)).toThrow(message);
  });

  it('GIVEN a target outside the requested tier THEN the request is refused, naming its tiers', () => {
    const narrow = { ...settings, targets: settings.targets.map((target) => (target.name === 'repairs-media' ? { ...target, tiers: ['daily', 'manual'] } : target)) };
    expect(() => parseTriggerEvent({ tier: 'predeploy', target: 'repairs-media' }, narrow)).toThrow(RequestRejectedError);
    expect(() => parseTriggerEvent({ tier: 'predeploy', target: 'repairs-media' }, narrow)).toThrow(
      /target 'repairs-media' does not take part in tier 'predeploy' \(its tiers: daily, manual\); nothing was sent/,
    );
  });
});

describe('backup trigger: the handler', () => {
  const env = {
    AWS_REGION: 'eu-west-1',
    AWS_LAMBDA_FUNCTION_NAME: settings.functionName,
    [TRIGGER_ENV.documentName]: settings.documentName,
    [TRIGGER_ENV.documentSha256]: settings.documentSha256,
    [TRIGGER_ENV.bucket]: settings.destination.bucket,
    [TRIGGER_ENV.kmsKeyArn]: settings.destination.kmsKeyArn,
    [TRIGGER_ENV.commandLogGroupName]: settings.commandLogGroupName,
    [TRIGGER_ENV.alertTopicArn]: settings.alertTopicArn,
    [TRIGGER_ENV.deliveryTimeoutSeconds]: '1800',
    [TRIGGER_ENV.tiers]: JSON.stringify(settings.tiers),
    [TRIGGER_ENV.targets]: JSON.stringify(settings.targets),
    POWERTOOLS_LOG_LEVEL: 'SILENT',
    POWERTOOLS_METRICS_DISABLED: 'true',
  };

  async function loadHandler() {
    vi.resetModules();
    for (const [name, value] of Object.entries(env)) vi.stubEnv(name, value);
    return (await import('../../lambda/backup-trigger/handler.js')).handler;
  }

  afterEach(() => vi.unstubAllEnvs());

  it('GIVEN an unknown tier WHEN invoked THEN it fails and sends nothing', async () => {
    const handler = await loadHandler();
    await expect(handler({ tier: 'hourly' })).rejects.toThrow(/unknown tier 'hourly'/);
    expect(ssm).not.toHaveReceivedCommand(SendCommandCommand);
    expect(ssm).not.toHaveReceivedCommand(DescribeDocumentCommand);
  });

  it('GIVEN an unknown target WHEN invoked THEN it fails and sends nothing', async () => {
    const handler = await loadHandler();
    await expect(handler({ tier: 'manual', target: 'orders' })).rejects.toThrow(/unknown target 'orders'/);
    expect(ssm).not.toHaveReceivedCommand(SendCommandCommand);
  });

  it('GIVEN a manual event for one target WHEN invoked THEN one command goes out and the answer links it', async () => {
    const handler = await loadHandler();
    const result = await handler({ tier: 'manual', target: 'repairs-sqlite' });
    expect(ssm).toHaveReceivedCommandTimes(SendCommandCommand, 1);
    expect(result.commands).toEqual([
      {
        target: 'repairs-sqlite',
        commandId: 'cmd-1',
        instances: 'i-0fedcba9876543210',
        consoleLink: 'https://eu-west-1.console.aws.amazon.com/systems-manager/run-command/cmd-1?region=eu-west-1',
      },
    ]);
  });

  it('GIVEN a gzipped target list THEN the settings decode it', () => {
    const many = Array.from({ length: 30 }, (_, index) => ({ ...settings.targets[2]!, name: `app-${index}` }));
    const encoded = encodeTargetPlans(many);
    expect(encoded.startsWith('gzip:')).toBe(true);
    expect(loadTriggerSettings({ ...env, [TRIGGER_ENV.targets]: encoded }).targets).toEqual(many);
  });

  it('GIVEN a target list that is not valid THEN loading names the variable', () => {
    expect(() => loadTriggerSettings({ ...env, [TRIGGER_ENV.targets]: 'gzip:notgzip' })).toThrow(/environment variable BACKUP_TARGETS cannot be read/);
    expect(() => loadTriggerSettings({ ...env, [TRIGGER_ENV.targets]: '[{"name":"x"}]' })).toThrow(/environment variable BACKUP_TARGETS is invalid: 0\.kind/);
  });

  it('GIVEN a tier whose Object Lock mode is not GOVERNANCE or COMPLIANCE THEN loading names the variable and the tier', () => {
    const tiers = { ...settings.tiers, daily: { retentionDays: 30, scheduled: true, objectLockMode: 'LEGAL_HOLD' } };
    expect(() => loadTriggerSettings({ ...env, [TRIGGER_ENV.tiers]: JSON.stringify(tiers) })).toThrow(/environment variable BACKUP_TIERS is invalid: daily\.objectLockMode/);
  });

  it('GIVEN a missing environment variable THEN loading names it', () => {
    const { [TRIGGER_ENV.targets]: _omitted, ...rest } = env;
    expect(() => loadTriggerSettings(rest)).toThrow(/environment variable BACKUP_TARGETS is required/);
  });
});

describe('backup trigger: sending', () => {
  it('GIVEN the daily tier THEN one command per target goes out, pinned to the deployed document version', async () => {
    const result = await triggerBackups({ tier: 'daily' }, deps());
    expect(ssm).toHaveReceivedCommandTimes(SendCommandCommand, 4);
    expect(result.document).toEqual({ name: settings.documentName, version: '3' });
    expect(result.commands.map((command) => [command.target, command.commandId])).toEqual([
      ['orders-db', 'cmd-1'],
      ['billing-db', 'cmd-2'],
      ['repairs-sqlite', 'cmd-3'],
      ['repairs-media', 'cmd-4'],
    ]);
    expect(result.errors).toEqual([]);
    for (const call of ssm.commandCalls(SendCommandCommand)) {
      expect(call.args[0].input).toMatchObject({ DocumentName: settings.documentName, DocumentVersion: '3' });
    }
  });

  it('GIVEN a tag target THEN it is sent to the tag with rate control, timeouts, output to CloudWatch and the password by name', async () => {
    await triggerBackups({ tier: 'weekly', target: 'orders-db' }, deps());
    expect(ssm).toHaveReceivedCommandWith(SendCommandCommand, {
      DocumentName: 'BackupKit-backup-kit-InstanceBackup',
      DocumentVersion: '3',
      Targets: [{ Key: 'tag:backup-kit:role', Values: ['orders-db'] }],
      MaxConcurrency: '1',
      MaxErrors: '100%',
      TimeoutSeconds: 1800,
      Comment: 'backup-kit weekly backup of orders-db',
      CloudWatchOutputConfig: { CloudWatchLogGroupName: 'backup-kit-jobs-CommandOutput', CloudWatchOutputEnabled: true },
      Parameters: {
        target: ['orders-db'],
        kind: ['postgres'],
        tier: ['weekly'],
        bucket: [settings.destination.bucket],
        kmsKeyId: [settings.destination.kmsKeyArn],
        retentionDays: ['90'],
        region: ['eu-west-1'],
        objectLockMode: ['GOVERNANCE'],
        dbHost: ['127.0.0.1'],
        dbPort: ['5432'],
        dbName: ['orders'],
        dbUser: ['backup'],
        passwordSsmParameter: ['/orders/prod/db-backup-password'],
        executionTimeout: ['10800'],
      },
    });
    expect(ssm.commandCalls(SendCommandCommand)[0]?.args[0].input.InstanceIds).toBeUndefined();
  });

  it('GIVEN an instance-ID target of kind files THEN it is sent to those instances with path and excludes', async () => {
    await triggerBackups({ tier: 'manual', target: 'repairs-media' }, deps());
    expect(ssm).toHaveReceivedCommandWith(SendCommandCommand, {
      InstanceIds: ['i-0fedcba9876543210'],
      Parameters: expect.objectContaining({ kind: ['files'], path: ['/var/app/current/media'], excludes: ['cache/*:*.tmp'], retentionDays: ['7'] }),
    });
    const parameters = ssm.commandCalls(SendCommandCommand)[0]?.args[0].input.Parameters ?? {};
    expect(Object.keys(parameters)).not.toContain('dbHost');
  });

  it('GIVEN a tier in COMPLIANCE mode THEN its backups are sent with COMPLIANCE retention, and the other tiers keep theirs', async () => {
    const monthlyCompliance = { ...settings, tiers: { ...settings.tiers, monthly: { retentionDays: 365, scheduled: true, objectLockMode: 'COMPLIANCE' as const } } };
    await triggerBackups({ tier: 'monthly', target: 'repairs-sqlite' }, deps({ settings: monthlyCompliance }));
    await triggerBackups({ tier: 'manual', target: 'repairs-sqlite' }, deps({ settings: monthlyCompliance }));
    const sent = ssm.commandCalls(SendCommandCommand).map((call) => [call.args[0].input.Parameters?.tier?.[0], call.args[0].input.Parameters?.objectLockMode?.[0]]);
    expect(sent).toEqual([
      ['monthly', 'COMPLIANCE'],
      ['manual', 'GOVERNANCE'],
    ]);
  });

  it('GIVEN targets that skip a tier THEN they are not sent for it', async () => {
    const narrow = { ...settings, targets: settings.targets.map((target) => (target.name === 'billing-db' ? { ...target, tiers: ['daily'] } : target)) };
    const result = await triggerBackups({ tier: 'weekly' }, deps({ settings: narrow }));
    expect(result.commands.map((command) => command.target)).toEqual(['orders-db', 'repairs-sqlite', 'repairs-media']);
  });

  it('GIVEN one target failing to send THEN the others still go out, the failure is answered, alerted and counted', async () => {
    ssm.on(SendCommandCommand, { InstanceIds: ['i-0123456789abcdef0'] }).rejects(
      new InvalidInstanceId({ message: 'Instances [[i-0123456789abcdef0]] not in a valid state for account 123456789012', $metadata: {} }),
    );
    const result = await triggerBackups({ tier: 'daily' }, deps());
    expect(result.commands.map((command) => command.target)).toEqual(['orders-db', 'repairs-sqlite', 'repairs-media']);
    expect(result.errors).toEqual([
      {
        target: 'billing-db',
        instances: 'i-0123456789abcdef0',
        error: expect.stringContaining('not in a valid state'),
        nextStep: expect.stringMatching(/not running, not in this region, or not managed by SSM/),
      },
    ]);
    expect(result.summary).toBe("sent 3 of 4 backup command(s) for tier 'daily'; 1 failed: billing-db");
    expect(sns).toHaveReceivedCommandTimes(PublishCommand, 1);
    const alert = sns.commandCalls(PublishCommand)[0]?.args[0].input;
    expect(alert?.Subject).toBe('backup-kit: 1 backup(s) not started (daily)');
    expect(alert?.Message).toContain('Target:     billing-db');
    expect(alert?.Message).toContain('Run again:  invoke backup-kit-jobs-BackupJobsTrigger with {"tier":"daily","target":"billing-db"}');
    expect(metricRecords(metricsCapture.emitted())).toEqual([
      { name: 'BackupSendFailed', unit: 'Count', value: 1, namespace: 'BackupKit', dimensions: { service: 'backup-trigger', Target: 'billing-db', Tier: 'daily' } },
    ]);
  });

  it('GIVEN SendCommand throttled twice THEN it backs off and the command still goes out', async () => {
    ssm.on(SendCommandCommand).rejectsOnce(throttled()).rejectsOnce(throttled()).resolves({ Command: { CommandId: 'cmd-late' } });
    const result = await triggerBackups({ tier: 'manual', target: 'orders-db' }, deps());
    expect(result.commands[0]?.commandId).toBe('cmd-late');
    expect(ssm).toHaveReceivedCommandTimes(SendCommandCommand, 3);
    expect(delays).toEqual([250, 500]);
    expect(sns).not.toHaveReceivedCommand(PublishCommand);
  });

  it('GIVEN SendCommand throttled without end THEN that target fails after the last attempt and the next one is still sent', async () => {
    ssm.on(SendCommandCommand, { InstanceIds: ['i-0123456789abcdef0'] }).rejects(throttled());
    const result = await triggerBackups({ tier: 'daily' }, deps());
    expect(result.errors.map((error) => [error.target, error.nextStep])).toEqual([['billing-db', expect.stringMatching(/kept throttling/)]]);
    expect(ssm.commandCalls(SendCommandCommand).filter((call) => call.args[0].input.InstanceIds?.[0] === 'i-0123456789abcdef0')).toHaveLength(6);
    expect(result.commands).toHaveLength(3);
  });

  it('GIVEN AccessDenied for a target THEN the next step points at the IAM scope of the trigger', async () => {
    const denied = Object.assign(new Error('User is not authorized to perform: ssm:SendCommand'), { name: 'AccessDeniedException' });
    ssm.on(SendCommandCommand, { Targets: [{ Key: 'tag:backup-kit:role', Values: ['orders-db'] }] }).rejects(denied);
    const result = await triggerBackups({ tier: 'manual', target: 'orders-db' }, deps());
    expect(result.errors[0]?.nextStep).toMatch(/The trigger's role may not send the backup document to these instances/);
  });

  it('GIVEN the alert itself cannot be published THEN the answer still lists the failure', async () => {
    ssm.on(SendCommandCommand).rejects(new InvalidInstanceId({ message: 'gone', $metadata: {} }));
    sns.on(PublishCommand).rejects(new Error('KMS key disabled'));
    const result = await triggerBackups({ tier: 'manual', target: 'repairs-sqlite' }, deps());
    expect(result.errors).toHaveLength(1);
    expect(result.commands).toEqual([]);
  });
});

describe('backup trigger: document version pinning', () => {
  it('GIVEN the default version is not the deployed content THEN the newest version that is gets pinned, with a warning', async () => {
    ssm.on(DescribeDocumentCommand).resolves({ Document: { DefaultVersion: '1' } });
    ssm.on(GetDocumentCommand, { DocumentVersion: '1' }).resolves({ Content: JSON.stringify(olderContent) });
    ssm.on(GetDocumentCommand, { DocumentVersion: '2' }).resolves({ Content: JSON.stringify(deployedContent) });
    ssm.on(ListDocumentVersionsCommand).resolves({ DocumentVersions: [{ DocumentVersion: '1' }, { DocumentVersion: '2' }] });
    const logger = silentLogger();
    const warn = vi.spyOn(logger, 'warn');
    const result = await triggerBackups({ tier: 'manual', target: 'repairs-sqlite' }, deps({ logger }));
    expect(result.document.version).toBe('2');
    expect(ssm).toHaveReceivedCommandWith(SendCommandCommand, { DocumentVersion: '2' });
    expect(warn).toHaveBeenCalledWith(expect.stringMatching(/default version .* is not the deployed one/), expect.objectContaining({ defaultVersion: '1', pinnedVersion: '2' }));
  });

  it('GIVEN no version holds the deployed content THEN nothing is sent and the error says why', async () => {
    ssm.on(GetDocumentCommand).resolves({ Content: JSON.stringify(olderContent) });
    ssm.on(ListDocumentVersionsCommand).resolves({ DocumentVersions: [{ DocumentVersion: '3' }, { DocumentVersion: '2' }] });
    await expect(triggerBackups({ tier: 'daily' }, deps())).rejects.toThrow(DocumentVersionError);
    await expect(triggerBackups({ tier: 'daily' }, deps())).rejects.toThrow(/no version of document BackupKit-backup-kit-InstanceBackup holds the content/);
    expect(ssm).not.toHaveReceivedCommand(SendCommandCommand);
  });

  it('GIVEN DescribeDocument throttled THEN it is retried before anything is sent', async () => {
    ssm.on(DescribeDocumentCommand).rejectsOnce(throttled()).resolves({ Document: { DefaultVersion: '3' } });
    const result = await triggerBackups({ tier: 'manual', target: 'orders-db' }, deps());
    expect(result.document.version).toBe('3');
    expect(ssm).toHaveReceivedCommandTimes(DescribeDocumentCommand, 2);
  });
});
