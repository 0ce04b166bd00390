import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as sns from 'aws-cdk-lib/aws-sns';
import { beforeAll, describe, expect, it } from 'vitest';
import { exampleConfig } from '../../config/example';
import { loadConfig } from '../../lib/config/config';
import { buildApp } from '../../lib/app';
import { templateTestApp } from '../support/app';
import { Monitoring } from '../../lib/constructs/monitoring';

type Statement = { Action: string | string[]; Resource: unknown; Effect: string };

let template: Template;

beforeAll(() => {
  const { config } = loadConfig({ ...exampleConfig, timeZone: 'Europe/Berlin', verification: { maxConcurrency: 7 } });
  const stacks = buildApp(templateTestApp(), config, { nag: false });
  template = Template.fromStack(stacks.jobs);
});

function statementsOfRole(roleLogicalIdPrefix: string): Statement[] {
  const policies = template.findResources('AWS::IAM::Policy');
  return Object.values(policies)
    .filter((policy) => JSON.stringify(policy.Properties.Roles).includes(roleLogicalIdPrefix))
    .flatMap((policy) => policy.Properties.PolicyDocument.Statement as Statement[]);
}
const actionsOf = (statement: Statement) => (Array.isArray(statement.Action) ? statement.Action : [statement.Action]);

describe('the verify functions', () => {
  it('GIVEN the example config WHEN synthesized THEN the worker gets one vCPU of memory, the 15-minute limit and its settings', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: Match.stringLikeRegexp('^Verifies one backup'),
      MemorySize: 1769,
      Timeout: 900,
      Environment: {
        Variables: Match.objectLike({
          POWERTOOLS_SERVICE_NAME: 'verify',
          REPLICA_REGION: 'eu-central-1',
          REPLICA_BUCKET: { 'Fn::Join': ['', ['backup-kit-replica-', { Ref: 'AWS::AccountId' }, '-eu-central-1']] },
          VERIFY_SETTINGS: Match.serializedJson(Match.objectLike({ tierMaxAgeHours: { daily: 26, weekly: 192, monthly: 768 }, replicationAllowanceMinutes: 30 })),
        }),
      },
    });
  });

  it('GIVEN the worker WHEN synthesized THEN it takes one message at a time with bounded concurrency and partial-failure reporting', () => {
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      BatchSize: 1,
      ScalingConfig: { MaximumConcurrency: 7 },
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
  });

  it('GIVEN the verify queue WHEN synthesized THEN it is KMS-encrypted with the ops key, redrives to a DLQ and outlasts the function timeout', () => {
    const queues = template.findResources('AWS::SQS::Queue', { Properties: { RedrivePolicy: Match.anyValue() } });
    const [queue] = Object.values(queues);
    expect(queue?.Properties.VisibilityTimeout).toBeGreaterThan(900);
    expect(queue?.Properties.RedrivePolicy.maxReceiveCount).toBe(3);
    expect(JSON.stringify(queue?.Properties.KmsMasterKeyId)).toMatch(/OpsKey/);
  });

  it('GIVEN the config time zone WHEN synthesized THEN the daily run is at 05:00 in it and the age report hourly, both with retries and a DLQ', () => {
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'cron(0 5 * * ? *)',
      ScheduleExpressionTimezone: 'Europe/Berlin',
      Target: Match.objectLike({ Input: '{}', RetryPolicy: Match.objectLike({ MaximumRetryAttempts: 3 }), DeadLetterConfig: Match.objectLike({ Arn: Match.anyValue() }) }),
    });
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'cron(15 * * * ? *)',
      ScheduleExpressionTimezone: 'Europe/Berlin',
      Target: Match.objectLike({ Input: '{"action":"report-ages"}' }),
    });
  });
});

describe('verify IAM', () => {
  it('GIVEN the worker role WHEN synthesized THEN its only S3 write is PutObject under verdicts/, which no instance role may write', () => {
    const statements = statementsOfRole('VerificationWorkerRole');
    const writes = statements.filter((statement) => actionsOf(statement).some((action) => /^s3:(Put|Delete|Replicate|Restore|Bypass|Abort)/.test(action)));
    expect(writes).toHaveLength(1);
    expect(actionsOf(writes[0] as Statement)).toEqual(['s3:PutObject']);
    expect(JSON.stringify(writes[0]?.Resource)).toMatch(/\/verdicts\/\*"\]\]\}$/);
  });

  it('GIVEN the worker role WHEN synthesized THEN it reads backups, decrypts through S3 with the backup key and heads the replica without its key', () => {
    const statements = statementsOfRole('VerificationWorkerRole');
    const find = (action: string) => statements.filter((statement) => actionsOf(statement).includes(action));
    expect(find('s3:GetObject').map((statement) => JSON.stringify(statement.Resource)).join()).toMatch(/backup-kit-replica-.*\/\*/);
    // versions of the backup bucket (the first one is verified) and of the replica (the same version's copy)
    expect(find('s3:GetObjectVersion')).toHaveLength(2);
    expect(find('s3:ListBucketVersions')).toHaveLength(1);
    expect(find('s3:ListBucket')).toHaveLength(2);
    const decrypt = find('kms:Decrypt').find((statement) => JSON.stringify(statement).includes('kms:ViaService'));
    expect(JSON.stringify(decrypt?.Resource)).toMatch(/BackupsKey/);
    expect(JSON.stringify(statements)).not.toMatch(/alias\/backup-kit-backup-replica/);
  });

  it('GIVEN the planner role WHEN synthesized THEN it can read and enqueue, writes only the expected-since markers, and never deletes', () => {
    const statements = statementsOfRole('VerificationPlannerRole');
    const all = statements.flatMap(actionsOf);
    expect(all).toContain('sqs:SendMessage');
    expect(all.filter((action) => /^s3:(Delete|Replicate|Restore|Bypass)/.test(action))).toEqual([]);
    // What it may write is claimed with the policy evaluator in test/security/iam-claims.test.ts.
    expect(statements.filter((statement) => actionsOf(statement).some((action) => action.startsWith('s3:Put'))).map((statement) => JSON.stringify(statement.Resource))).toEqual([
      expect.stringMatching(/expected-since\/\*/),
    ]);
  });

  it('GIVEN every role in the jobs stack WHEN synthesized THEN none may delete backups or lift their lock', () => {
    const statements = Object.values(template.findResources('AWS::IAM::Policy'))
      .flatMap((policy) => policy.Properties.PolicyDocument.Statement as Statement[])
      .filter((statement) => /BackupsBucket|backup-kit-replica|"\*"/.test(JSON.stringify(statement.Resource)));
    expect(statements.length).toBeGreaterThan(0);
    const forbidden = statements.flatMap(actionsOf).filter((action) => /^s3:(Delete|BypassGovernanceRetention|PutObjectRetention|PutObjectLegalHold|PutBucket)/.test(action) || action === 's3:*');
    expect(forbidden).toEqual([]);
  });
});

describe('alarms in the template', () => {
  const alarmWith = (description: RegExp) => {
    const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm')).filter((alarm) => description.test(String(alarm.Properties.AlarmDescription)));
    expect(alarms.length, `alarms matching ${description}`).toBeGreaterThan(0);
    return alarms.map((alarm) => alarm.Properties);
  };

  it('GIVEN the scheduled tiers WHEN synthesized THEN each has an age alarm on HoursSinceLastVerifiedBackup that treats missing data as breaching', () => {
    for (const [tier, hours] of [['daily', 26], ['weekly', 192], ['monthly', 768]] as const) {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        MetricName: 'HoursSinceLastVerifiedBackup',
        Namespace: 'BackupKit',
        Dimensions: Match.arrayWith([{ Name: 'Tier', Value: tier }, { Name: 'service', Value: 'verify' }]),
        Threshold: hours,
        ComparisonOperator: 'GreaterThanThreshold',
        TreatMissingData: 'breaching',
        AlarmActions: [{ Ref: Match.stringLikeRegexp('AlertsTopic') }],
      });
    }
    const manualAgeAlarms = Object.values(template.findResources('AWS::CloudWatch::Alarm')).filter((alarm) => alarm.Properties.MetricName === 'HoursSinceLastVerifiedBackup' && /Tier 'manual'/.test(String(alarm.Properties.AlarmDescription)));
    expect(manualAgeAlarms).toEqual([]);
  });

  it('GIVEN the verify functions WHEN synthesized THEN Errors alarms name the job and do not breach on missing data', () => {
    for (const job of ['verify planner', 'verify worker']) {
      const [alarm] = alarmWith(new RegExp(`^Job '${job}'.*failed`));
      expect(alarm).toMatchObject({ MetricName: 'Errors', Namespace: 'AWS/Lambda', TreatMissingData: 'notBreaching', Threshold: 0 });
      expect(alarm?.AlarmDescription).toMatch(/Next step:/);
    }
  });

  it('GIVEN the dead-letter queues WHEN synthesized THEN an alarm fires on any visible message', () => {
    for (const job of ['verify worker', 'verify schedules']) {
      const [alarm] = alarmWith(new RegExp(`^Job '${job}': its dead-letter queue is not empty`));
      expect(alarm).toMatchObject({ MetricName: 'ApproximateNumberOfMessagesVisible', Threshold: 0, ComparisonOperator: 'GreaterThanThreshold', TreatMissingData: 'notBreaching' });
    }
  });

  it('GIVEN replication metrics WHEN synthesized THEN failed operations and latency above 900 s alarm on the rule replicate-all-backups', () => {
    const replicationDims = Match.arrayWith([Match.objectLike({ Name: 'DestinationBucket' }), Match.objectLike({ Name: 'RuleId', Value: 'replicate-all-backups' }), Match.objectLike({ Name: 'SourceBucket' })]);
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { Namespace: 'AWS/S3', MetricName: 'OperationsFailedReplication', Threshold: 0, Dimensions: replicationDims, TreatMissingData: 'notBreaching' });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { Namespace: 'AWS/S3', MetricName: 'ReplicationLatency', Threshold: 900, ComparisonOperator: 'GreaterThanThreshold', Dimensions: replicationDims, TreatMissingData: 'notBreaching' });
  });
});

describe('the monitoring facade', () => {
  function monitoredStack(build: (monitoring: Monitoring) => void): Template {
    const stack = new Stack(new App(), 'Watched');
    const monitoring = new Monitoring(stack, 'Monitoring', { alertTopic: new sns.Topic(stack, 'Topic') });
    build(monitoring);
    monitoring.finish(stack);
    return Template.fromStack(stack);
  }

  it('GIVEN a tier\'s age and the backup conditions WHEN synthesized THEN one age alarm watches the tier and one alarm each condition over every target, each saying which mail names the target', () => {
    const watched = monitoredStack((monitoring) => {
      monitoring.addTierAge('daily', 26);
      monitoring.addBackupConditions();
    });
    const expectations = [
      // The tier's own series: exactly service and Tier.
      ['HoursSinceLastVerifiedBackup', [{ Name: 'Tier', Value: 'daily' }, { Name: 'service', Value: 'verify' }], 'breaching', 26, /^Job 'verify'. Tier 'daily': .*'Backup overdue' names each target/],
      // The series over all targets and tiers: service alone, which the jobs publish besides the per-target one.
      ['BackupFailed', [{ Name: 'service', Value: 'backup-result' }], 'notBreaching', 1, /^Job 'backup'. .*'backup-kit FAILED: <target>/],
      ['VerificationFailed', [{ Name: 'service', Value: 'verify' }], 'notBreaching', 1, /^Job 'verify'. .*'Backup verification failed' or 'Backup missing', which names the target/],
      ['SizeAnomaly', [{ Name: 'service', Value: 'verify' }], 'notBreaching', 1, /^Job 'verify'. .*'Backup verification failed: <target> <tier> \(size\)'/],
      ['ReplicaMissing', [{ Name: 'service', Value: 'verify' }], 'notBreaching', 1, /^Job 'verify'. .*mail naming the target and key/],
    ] as const;
    for (const [metric, dimensions, missing, threshold, mail] of expectations) {
      watched.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: metric, Dimensions: dimensions, TreatMissingData: missing, Threshold: threshold });
      const [alarm] = Object.values(watched.findResources('AWS::CloudWatch::Alarm', { Properties: { MetricName: metric } }));
      expect(String(alarm?.Properties.AlarmDescription)).toMatch(mail);
      expect(String(alarm?.Properties.AlarmDescription)).toMatch(/Next step/);
    }
    watched.resourceCountIs('AWS::CloudWatch::Alarm', 5);
  });

  it('GIVEN the same tier or the conditions twice WHEN added THEN it throws naming it', () => {
    expect(() => monitoredStack((monitoring) => {
      monitoring.addTierAge('daily', 26);
      monitoring.addTierAge('daily', 26);
    })).toThrow(/tier 'daily' was added twice/);
    expect(() => monitoredStack((monitoring) => {
      monitoring.addBackupConditions();
      monitoring.addBackupConditions();
    })).toThrow(/addBackupConditions: called twice/);
  });

  it('GIVEN the jobs stack WHEN synthesized THEN the dashboard shows age, sizes, outcomes, replication and restore and drill results', () => {
    const [dashboard] = Object.values(template.findResources('AWS::CloudWatch::Dashboard'));
    const body = JSON.stringify(dashboard?.Properties.DashboardBody);
    for (const metric of ['HoursSinceLastVerifiedBackup', 'BackupBytes', 'BackupSucceeded', 'BackupFailed', 'VerificationFailed', 'SizeAnomaly', 'ReplicaMissing', 'ReplicationLatency', 'BytesPendingReplication', 'RdsRestoreMinutes', 'RestoreSeconds', 'RestoreDrillSucceeded', 'RestoreDrillSeconds']) {
      expect(body, metric).toContain(metric);
    }
    expect(body).toContain('alarm');
  });
});

describe('alarm notifications', () => {
  it('GIVEN a lasting condition (age) WHEN it recovers THEN the topic hears it; GIVEN an event count (errors) THEN only when it fires', () => {
    const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm')).map((alarm) => alarm.Properties);
    const age = alarms.find((alarm) => alarm.MetricName === 'HoursSinceLastVerifiedBackup');
    const errors = alarms.find((alarm) => alarm.MetricName === 'Errors');
    expect(age?.OKActions).toHaveLength(1);
    expect(errors?.OKActions).toBeUndefined();
    expect(errors?.AlarmActions).toHaveLength(1);
  });
});

describe('every Lambda of the app is watched', () => {
  it('GIVEN the jobs stack with RDS restores WHEN synthesized THEN every function but the one only CloudFormation calls has an Errors alarm, and the region one Throttles alarm', () => {
    const { config } = loadConfig({
      ...exampleConfig,
      rds: { instances: [{ identifier: 'orders', drReplication: { subnetGroupName: 'dr-private', securityGroupIds: ['sg-0123456789abcdef0'] } }] },
    });
    const jobs = Template.fromStack(buildApp(templateTestApp(), config, { nag: false }).jobs);
    const functions = Object.keys(jobs.findResources('AWS::Lambda::Function'));
    expect(functions.length).toBeGreaterThan(2);
    const alarms = Object.values(jobs.findResources('AWS::CloudWatch::Alarm')).map((alarm) => alarm.Properties);
    // AwsCustomResource's provider fails the deploy in front of the deployer: nothing but CloudFormation may invoke it.
    const provider = functions.filter((logicalId) => logicalId.startsWith('AWS679f53fac002430cb0da5b7982bd2287'));
    expect(provider).toHaveLength(1);
    const resources = jobs.toJSON().Resources as Record<string, { Type: string; Properties?: unknown }>;
    const invokers = Object.entries(resources).filter(([, resource]) => resource.Type !== 'AWS::CloudWatch::Alarm' && !resource.Type.startsWith('Custom::') && JSON.stringify(resource.Properties ?? {}).includes(`"${provider[0]}"`));
    expect(invokers.map(([id, resource]) => `${id} ${resource.Type}`)).toEqual([]);
    for (const logicalId of functions) {
      const watching = alarms.filter((alarm) => alarm.MetricName === 'Errors' && JSON.stringify(alarm.Dimensions).includes(`"Ref":"${logicalId}"`));
      expect(watching, `Errors alarm of ${logicalId}`).toHaveLength(provider.includes(logicalId) ? 0 : 1);
    }
    // The functions reserve no concurrency: Lambda throttles them only when the region's runs out, which one series shows.
    expect(functions.filter((logicalId) => jobs.toJSON().Resources[logicalId].Properties.ReservedConcurrentExecutions !== undefined)).toEqual([]);
    const throttles = alarms.filter((alarm) => alarm.MetricName === 'Throttles');
    expect(throttles).toHaveLength(1);
    expect(throttles[0]).toMatchObject({ Namespace: 'AWS/Lambda', Threshold: 0, TreatMissingData: 'notBreaching' });
    expect(throttles[0]?.Dimensions).toBeUndefined();
  });
});

describe('monitoring of the configured targets', () => {
  it('GIVEN the example targets WHEN synthesized THEN each scheduled tier has one age alarm, each condition one alarm, none is per target, and the dashboard lists every target\'s age', () => {
    const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm')).map((alarm) => alarm.Properties);
    for (const [tier, hours] of [['daily', 26], ['weekly', 192], ['monthly', 768]] as const) {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        MetricName: 'HoursSinceLastVerifiedBackup',
        Dimensions: [{ Name: 'Tier', Value: tier }, { Name: 'service', Value: 'verify' }],
        Threshold: hours,
        TreatMissingData: 'breaching',
      });
    }
    for (const metric of ['BackupFailed', 'VerificationFailed', 'SizeAnomaly', 'ReplicaMissing']) {
      expect(alarms.filter((alarm) => alarm.MetricName === metric), metric).toHaveLength(1);
    }
    // No alarm per backup target; an AWS Backup resource (`rds:orders-db`) has its own restore-test alarm.
    const targetsAlarmed = alarms.flatMap((alarm) => ((alarm.Dimensions ?? []) as { Name: string; Value: string }[]).filter((dimension) => dimension.Name === 'Target').map((dimension) => dimension.Value));
    expect(targetsAlarmed.filter((target) => !/^(rds|aurora|s3|dynamodb|efs):/.test(target))).toEqual([]);
    const [dashboard] = Object.values(template.findResources('AWS::CloudWatch::Dashboard'));
    const body = JSON.stringify(dashboard?.Properties.DashboardBody);
    expect(body).toContain('backup age');
    expect(body).toContain('stats latest(hours) as hours, latest(maxAgeHours) as limit, latest(late) as late by target, tier');
  });

  it('GIVEN the example targets WHEN synthesized THEN the planner knows which targets must have backups in which scheduled tiers', () => {
    const planner = Object.values(template.findResources('AWS::Lambda::Function')).find((fn) => String(fn.Properties.Description).startsWith('Plans backup verification'));
    const encoded = String(planner?.Properties.Environment.Variables.CONFIGURED_TARGETS);
    expect(JSON.parse(encoded)).toEqual({
      daily: (exampleConfig.targets ?? []).map((target) => target.name),
      weekly: (exampleConfig.targets ?? []).map((target) => target.name),
      monthly: (exampleConfig.targets ?? []).map((target) => target.name),
    });
  });

  it('GIVEN the backup jobs WHEN synthesized THEN their functions are watched and their dead-letter alarm is not duplicated', () => {
    const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm')).map((alarm) => alarm.Properties);
    for (const job of ['backup trigger', 'backup result']) {
      expect(alarms.filter((alarm) => String(alarm.AlarmDescription).startsWith(`Job '${job}'`)).map((alarm) => alarm.MetricName).sort()).toEqual(['Errors']);
    }
    const backupDlqAlarms = alarms.filter((alarm) => alarm.MetricName === 'ApproximateNumberOfMessagesVisible' && JSON.stringify(alarm.Dimensions).includes('BackupJobsDeadLetters'));
    expect(backupDlqAlarms).toHaveLength(1);
  });

  it('GIVEN no targets in the config WHEN synthesized THEN no age alarm expects backups that nobody takes', () => {
    const { config } = loadConfig({ ...exampleConfig, targets: [] });
    const jobs = Template.fromStack(buildApp(templateTestApp(), config, { nag: false }).jobs);
    const ageAlarms = Object.values(jobs.findResources('AWS::CloudWatch::Alarm')).filter((alarm) => alarm.Properties.MetricName === 'HoursSinceLastVerifiedBackup');
    expect(ageAlarms).toEqual([]);
  });
});

describe('the monitoring facade: the dashboard is an explicit last step', () => {
  it('GIVEN finish() never called WHEN synthesized THEN synth fails saying so', () => {
    const stack = new Stack(new App(), 'Unfinished');
    new Monitoring(stack, 'Monitoring', { alertTopic: new sns.Topic(stack, 'Topic') });
    expect(() => Template.fromStack(stack)).toThrow(/finish\(\) was not called/);
  });

  it('GIVEN finish() called twice THEN it throws', () => {
    const stack = new Stack(new App(), 'Twice');
    const monitoring = new Monitoring(stack, 'Monitoring', { alertTopic: new sns.Topic(stack, 'Topic') });
    monitoring.finish(stack);
    expect(() => monitoring.finish(stack)).toThrow(/called twice/);
  });

  it('GIVEN an alarm whose runbook is not a docs page THEN it throws naming the alarm', () => {
    const stack = new Stack(new App(), 'Runbook');
    const monitoring = new Monitoring(stack, 'Monitoring', { alertTopic: new sns.Topic(stack, 'Topic') });
    const metric = new cloudwatch.Metric({ namespace: 'X', metricName: 'Y' });
    const spec = { metric, threshold: 0, comparison: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD, treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING, description: 'Something broke.' };
    expect(() => monitoring.alarmFactory.addAlarm('Broken', { ...spec, runbook: 'README.md#alarms' })).toThrow(/alarm Broken runbook: 'README.md#alarms' is not a docs\/ page path/);
  });
});
