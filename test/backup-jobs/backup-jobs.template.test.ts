import { Template, Match } from 'aws-cdk-lib/assertions';
import { findNestedOutputs, findNestedResources } from '../support/nested';
import { describe, expect, it } from 'vitest';
import { exampleConfig } from '../../config/example';
import { loadConfig } from '../../lib/config/config';
import { targetPlans } from '../../lib/stacks/backup-jobs-settings';
import { DEFAULT_TIERS } from '../../lib/config/schema';
import { buildTestApp } from '../foundation/app-fixture';

const built = buildTestApp();
const jobs = Template.fromStack(built.stacks.jobs);
const backupJobs = built.stacks.jobs.backupJobs;
if (!backupJobs) throw new Error('the example config has targets, so the jobs stack must have backup jobs');

const logicalIdOf = (construct: { node: { defaultChild?: unknown } }) =>
  built.stacks.jobs.getLogicalId(construct.node.defaultChild as Parameters<typeof built.stacks.jobs.getLogicalId>[0]);

type Statement = { Effect: string; Action?: string | string[]; NotAction?: unknown; Resource?: unknown; Condition?: Record<string, Record<string, unknown>>; Sid?: string };

function statementsOf(template: Template, type: string, logicalIdPrefix = ''): Statement[] {
  return Object.entries(template.findResources(type))
    .filter(([id]) => id.startsWith(logicalIdPrefix))
    .flatMap(([, resource]) => (resource.Properties.PolicyDocument as { Statement: Statement[] }).Statement);
}

const actionsOf = (statement: Statement) => (Array.isArray(statement.Action) ? statement.Action : [statement.Action ?? '']);

function managedPolicy(name: string): Statement[] {
  const found = Object.values(findNestedResources(built.stacks.jobs, 'AWS::IAM::ManagedPolicy', { Properties: { ManagedPolicyName: name } }));
  expect(found, `managed policy ${name}`).toHaveLength(1);
  return (found[0]?.Properties.PolicyDocument as { Statement: Statement[] }).Statement;
}

describe('backup jobs template: document and functions', () => {
  it('GIVEN the example THEN the jobs stack holds the backup document by its contract name', () => {
    jobs.hasResourceProperties('AWS::SSM::Document', { Name: 'BackupKit-backup-kit-InstanceBackup', UpdateMethod: 'NewVersion', DocumentType: 'Command' });
  });

  it('GIVEN the example THEN the trigger knows the document, its content hash, the tiers and the resolved targets', () => {
    const { config } = loadConfig(exampleConfig);
    const [trigger] = Object.values(jobs.findResources('AWS::Lambda::Function', { Properties: { Description: Match.stringLikeRegexp('Starts EC2 backups') } }));
    const variables = trigger?.Properties.Environment.Variables as Record<string, unknown>;
    expect(variables).toMatchObject({
      POWERTOOLS_SERVICE_NAME: 'backup-trigger',
      BACKUP_DOCUMENT_NAME: 'BackupKit-backup-kit-InstanceBackup',
      BACKUP_DOCUMENT_SHA256: backupJobs.document.contentSha256,
      DELIVERY_TIMEOUT_SECONDS: '1800',
      COMMAND_LOG_GROUP: { Ref: logicalIdOf(backupJobs.commandLogGroup) },
    });
    expect(JSON.parse(variables.BACKUP_TARGETS as string)).toEqual(targetPlans(config));
    expect(JSON.parse(variables.BACKUP_TIERS as string)).toMatchObject({ daily: { retentionDays: 30, scheduled: true, objectLockMode: 'GOVERNANCE' }, manual: { retentionDays: 7, scheduled: false, objectLockMode: 'GOVERNANCE' } });
    expect(variables.BACKUP_BUCKET).toMatchObject({ 'Fn::ImportValue': expect.stringMatching(/BackupsBucket/) });
  });

  it('GIVEN COMPLIANCE as the buckets\' default THEN every tier without its own mode is sent COMPLIANCE, a tier in GOVERNANCE keeps it', () => {
    const tiers = { ...DEFAULT_TIERS, manual: { ...DEFAULT_TIERS.manual, objectLockMode: 'GOVERNANCE' as const } };
    const template = Template.fromStack(buildTestApp({ objectLock: { mode: 'COMPLIANCE', defaultRetentionDays: 7 }, tiers }).stacks.jobs);
    const trigger = Object.values(template.findResources('AWS::Lambda::Function', { Properties: { Environment: { Variables: Match.objectLike({ POWERTOOLS_SERVICE_NAME: 'backup-trigger' }) } } }))[0] as { Properties: { Environment: { Variables: Record<string, string> } } };
    expect(JSON.parse(trigger.Properties.Environment.Variables.BACKUP_TIERS ?? '{}')).toMatchObject({ daily: { objectLockMode: 'COMPLIANCE' }, manual: { objectLockMode: 'GOVERNANCE' } });
  });

  it('GIVEN the example THEN the result function runs as backup-result and names the trigger for reruns', () => {
    jobs.hasResourceProperties('AWS::Lambda::Function', {
      Description: Match.stringLikeRegexp('Records each finished EC2 backup run'),
      Environment: {
        Variables: Match.objectLike({
          POWERTOOLS_SERVICE_NAME: 'backup-result',
          POWERTOOLS_METRICS_NAMESPACE: 'BackupKit',
          BACKUP_DOCUMENT_NAME: 'BackupKit-backup-kit-InstanceBackup',
          TRIGGER_FUNCTION_NAME: { Ref: logicalIdOf(backupJobs.trigger.function) },
        }),
      },
    });
  });

  it('GIVEN the example THEN final Run Command status changes of this document only reach the result function, with retries and a DLQ', () => {
    jobs.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['aws.ssm'],
        'detail-type': ['EC2 Command Invocation Status-change Notification', 'EC2 Command Status-change Notification'],
        detail: { 'document-name': ['BackupKit-backup-kit-InstanceBackup'], status: [{ 'anything-but': ['Pending', 'InProgress', 'Delayed', 'Cancelling'] }] },
      },
      Targets: [
        Match.objectLike({
          Arn: { 'Fn::GetAtt': [logicalIdOf(backupJobs.result.function), 'Arn'] },
          DeadLetterConfig: { Arn: { 'Fn::GetAtt': [logicalIdOf(backupJobs.deadLetterQueue), 'Arn'] } },
          RetryPolicy: { MaximumRetryAttempts: 8, MaximumEventAgeInSeconds: 21600 },
        }),
      ],
    });
  });

  it('GIVEN the example THEN failed async invocations of both functions go to the dead-letter queue', () => {
    for (const job of [backupJobs.trigger, backupJobs.result]) {
      jobs.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
        FunctionName: { Ref: logicalIdOf(job.function) },
        MaximumRetryAttempts: 2,
        DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [logicalIdOf(backupJobs.deadLetterQueue), 'Arn'] } } },
      });
    }
  });

  it('GIVEN the example THEN command output goes to a KMS-encrypted log group kept a year', () => {
    jobs.hasResourceProperties('AWS::Logs::LogGroup', {
      RetentionInDays: 365,
      KmsKeyId: { 'Fn::GetAtt': [Match.stringLikeRegexp('^OpsKey'), 'Arn'] },
    });
    expect(Object.keys(jobs.findResources('AWS::Logs::LogGroup'))).toContain(logicalIdOf(backupJobs.commandLogGroup));
  });

  it('GIVEN the example THEN the trigger offers shareable console test events: a backup per target and on-demand tier, a run per scheduled tier', () => {
    const [schema] = Object.values(jobs.findResources('AWS::EventSchemas::Schema', { Properties: { RegistryName: 'lambda-testevent-schemas' } })).filter(
      (candidate) => JSON.stringify(candidate.Properties.SchemaName).includes(logicalIdOf(backupJobs.trigger.function)),
    );
    const content = JSON.parse(schema?.Properties.Content as string) as { components: { examples: Record<string, { value: unknown }>; schemas: { Event: { properties: { tier: { enum: string[] } } } } } };
    expect(content.components.examples['manual backup of orders-db']).toEqual({ value: { tier: 'manual', target: 'orders-db' } });
    expect(content.components.examples['predeploy backup of repairs-media']).toEqual({ value: { tier: 'predeploy', target: 'repairs-media' } });
    expect(content.components.examples['daily run of every target']).toEqual({ value: { tier: 'daily' } });
    expect(Object.keys(content.components.examples)).toHaveLength(4 * 2 + 3);
    expect(content.components.schemas.Event.properties.tier.enum).toEqual(['daily', 'weekly', 'monthly', 'manual', 'predeploy']);
  });

  it('GIVEN the example THEN the stack outputs the trigger name and its console link, and each instance policy\'s nested stack its ARN', () => {
    jobs.hasOutput('BackupTriggerFunctionName', { Value: { Ref: logicalIdOf(backupJobs.trigger.function) } });
    jobs.hasOutput('BackupTriggerConsoleLink', {
      Value: { 'Fn::Join': ['', Match.arrayWith([Match.stringLikeRegexp('https://eu-west-1.console.aws.amazon.com/lambda/home')])] },
    });
    expect(Object.values(findNestedOutputs(built.stacks.jobs, 'BackupPolicyArnordersdb'))).toEqual([{ Value: { Ref: expect.stringMatching(/^InstancePolicyordersdb/) }, Description: expect.stringMatching(/Attach to the instance role of 'orders-db'/) }]);
    // The parent holds no resource or output per target: one nested stack per 60 targets.
    expect(Object.keys(jobs.findResources('AWS::IAM::ManagedPolicy'))).toEqual([]);
    expect(Object.keys(jobs.findOutputs('*')).filter((id) => /ordersdb/i.test(id))).toEqual([]);
  });
});

describe('backup jobs template: schedules, dead letters, alarm, alerts', () => {
  const berlin = buildTestApp({ timeZone: 'Europe/Berlin' });
  const berlinJobs = Template.fromStack(berlin.stacks.jobs);

  it.each([
    ['daily', 'cron(0 2 * * ? *)'],
    ['weekly', 'cron(0 3 ? * SUN *)'],
    ['monthly', 'cron(0 4 1 * ? *)'],
  ])('GIVEN the %s tier THEN a schedule invokes the trigger with its tier in the configured time zone, with retries and the DLQ', (tier, cron) => {
    berlinJobs.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: cron,
      ScheduleExpressionTimezone: 'Europe/Berlin',
      KmsKeyArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^OpsKey'), 'Arn'] },
      Target: Match.objectLike({
        Input: JSON.stringify({ tier }),
        RetryPolicy: { MaximumRetryAttempts: 3, MaximumEventAgeInSeconds: 7200 },
        DeadLetterConfig: { Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('DeadLetters'), 'Arn'] } },
      }),
    });
  });

  it('GIVEN on-demand tiers THEN they get no schedule', () => {
    // Backup schedules carry a tier; the verify schedules in the same stack do not.
    const inputs = Object.values(jobs.findResources('AWS::Scheduler::Schedule')).map((schedule) => JSON.parse(schedule.Properties.Target.Input as string).tier).filter((tier) => tier !== undefined);
    expect(inputs.sort()).toEqual(['daily', 'monthly', 'weekly']);
  });

  it('GIVEN a scheduled tier no target takes part in THEN it gets no schedule', () => {
    const targets = (exampleConfig.targets ?? []).map((target) => ({ ...target, tiers: ['daily', 'manual'] }));
    const template = Template.fromStack(buildTestApp({ targets } as never).stacks.jobs);
    const inputs = Object.values(template.findResources('AWS::Scheduler::Schedule')).map((schedule) => JSON.parse(schedule.Properties.Target.Input as string).tier).filter((tier) => tier !== undefined);
    expect(inputs).toEqual(['daily']);
  });

  it('GIVEN the schedules THEN their role may invoke only the trigger and send only to the DLQ', () => {
    const statements = statementsOf(jobs, 'AWS::IAM::Policy', 'BackupJobsSchedulerRole');
    expect([...new Set(statements.flatMap(actionsOf))].sort()).toEqual(['kms:Decrypt', 'kms:GenerateDataKey', 'lambda:InvokeFunction', 'sqs:SendMessage']);
    const invoke = statements.find((statement) => actionsOf(statement).includes('lambda:InvokeFunction'));
    expect(JSON.stringify(invoke?.Resource)).toContain(logicalIdOf(backupJobs.trigger.function));
  });

  it('GIVEN the dead-letter queue THEN it is encrypted with the ops key and TLS-only', () => {
    jobs.hasResourceProperties('AWS::SQS::Queue', {
      KmsMasterKeyId: { 'Fn::GetAtt': [Match.stringLikeRegexp('^OpsKey'), 'Arn'] },
      MessageRetentionPeriod: 1_209_600,
    });
    jobs.hasResourceProperties('AWS::SQS::QueuePolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          Match.objectLike({ Effect: 'Allow', Action: 'sqs:SendMessage', Principal: { Service: 'events.amazonaws.com' } }),
        ]),
      },
    });
  });

  it('GIVEN the dead-letter queue THEN an alarm on its first visible message notifies the alert topic', () => {
    jobs.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Namespace: 'AWS/SQS',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [logicalIdOf(backupJobs.deadLetterQueue), 'QueueName'] } }],
      Statistic: 'Maximum',
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
      EvaluationPeriods: 1,
      TreatMissingData: 'notBreaching',
      AlarmActions: [{ Ref: Match.stringLikeRegexp('^AlertsTopic') }],
      AlarmDescription: Match.stringLikeRegexp('dead-letter queue'),
    });
  });

  it('GIVEN the alert topic THEN it is KMS-encrypted, TLS-only and has the e-mail subscription', () => {
    jobs.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: { 'Fn::GetAtt': [Match.stringLikeRegexp('^OpsKey'), 'Arn'] } });
    jobs.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'oncall@example.com' });
    jobs.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
    });
  });
});

describe('backup jobs template: IAM', () => {
  it('GIVEN the trigger THEN it may send the backup document only, to the listed instances or those with a target tag', () => {
    const statements = statementsOf(jobs, 'AWS::IAM::Policy', 'BackupJobsTriggerRole');
    const send = statements.filter((statement) => actionsOf(statement).includes('ssm:SendCommand'));
    expect(send).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ Resource: { 'Fn::Join': ['', expect.arrayContaining([':document/BackupKit-backup-kit-InstanceBackup'])] } }),
        expect.objectContaining({
          Resource: expect.arrayContaining([
            { 'Fn::Sub': 'arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:instance/i-0123456789abcdef0' },
            { 'Fn::Sub': 'arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:instance/i-0fedcba9876543210' },
          ]),
        }),
        expect.objectContaining({
          Resource: { 'Fn::Join': ['', expect.arrayContaining([':instance/*'])] },
          Condition: { StringEquals: { 'ssm:resourceTag/backup-kit:role': ['orders-db'] } },
        }),
      ]),
    );
    // A wildcard instance resource never comes without the tag condition, and nothing is sent to '*'.
    for (const statement of send) {
      expect(statement.Resource).not.toBe('*');
      if (JSON.stringify(statement.Resource).includes('instance/*')) expect(statement.Condition).toBeDefined();
    }
  });

  it('GIVEN the trigger THEN it reads only its own document to pin the version, and publishes only to the alert topic', () => {
    const statements = statementsOf(jobs, 'AWS::IAM::Policy', 'BackupJobsTriggerRole');
    const pin = statements.find((statement) => actionsOf(statement).includes('ssm:DescribeDocument'));
    expect(actionsOf(pin ?? { Effect: 'Allow' }).sort()).toEqual(['ssm:DescribeDocument', 'ssm:GetDocument', 'ssm:ListDocumentVersions']);
    expect(JSON.stringify(pin?.Resource)).toContain(':document/BackupKit-backup-kit-InstanceBackup');
    const publish = statements.find((statement) => actionsOf(statement).includes('sns:Publish'));
    expect(publish?.Resource).toEqual({ Ref: expect.stringMatching(/^AlertsTopic/) });
    expect(statements.flatMap(actionsOf)).not.toContain('ssm:GetCommandInvocation');
  });

  it('GIVEN the result function THEN it reads command runs (no resource-level IAM exists for them) and sends nothing', () => {
    const statements = statementsOf(jobs, 'AWS::IAM::Policy', 'BackupJobsResultRole');
    const read = statements.find((statement) => actionsOf(statement).includes('ssm:GetCommandInvocation'));
    expect(actionsOf(read ?? { Effect: 'Allow' }).sort()).toEqual(['ssm:GetCommandInvocation', 'ssm:ListCommands']);
    expect(statements.flatMap(actionsOf)).not.toContain('ssm:SendCommand');
  });

  it("GIVEN a target's instance policy THEN it writes only that target's prefixes, locked at creation (no later lock change), through the backup key", () => {
    const statements = managedPolicy('backup-kit-backup-orders-db');
    const write = statements.find((statement) => statement.Sid === 'WriteOwnBackups');
    expect(actionsOf(write ?? { Effect: 'Allow' }).sort()).toEqual(['s3:AbortMultipartUpload', 's3:PutObject']);
    const prefixes = (write?.Resource as { 'Fn::Join': [string, unknown[]] }[]).map((resource) => resource['Fn::Join'][1].at(-1));
    expect(prefixes.sort()).toEqual(['/daily/orders-db/*', '/manual/orders-db/*', '/monthly/orders-db/*', '/predeploy/orders-db/*', '/weekly/orders-db/*']);
    const kms = statements.find((statement) => statement.Sid === 'EncryptBackupsThroughS3');
    expect(actionsOf(kms ?? { Effect: 'Allow' }).sort()).toEqual(['kms:Decrypt', 'kms:GenerateDataKey']);
    expect(kms).toMatchObject({ Condition: { StringEquals: { 'kms:ViaService': 's3.eu-west-1.amazonaws.com' } } });
    expect(kms?.Resource).toMatchObject({ 'Fn::ImportValue': expect.stringMatching(/BackupsKey/) });
  });

  it("GIVEN a target with its tiers THEN its policy covers exactly those tiers' prefixes", () => {
    const targets = (exampleConfig.targets ?? []).map((target) => (target.name === 'repairs-sqlite' ? { ...target, tiers: ['daily', 'manual'] } : target));
    const statements = findNestedResources(buildTestApp({ targets } as never).stacks.jobs, 'AWS::IAM::ManagedPolicy', { Properties: { ManagedPolicyName: 'backup-kit-backup-repairs-sqlite' } });
    const write = (Object.values(statements)[0]?.Properties.PolicyDocument.Statement as Statement[]).find((s) => s.Sid === 'WriteOwnBackups');
    expect((write?.Resource as { 'Fn::Join': [string, unknown[]] }[]).map((resource) => resource['Fn::Join'][1].at(-1)).sort()).toEqual([
      '/daily/repairs-sqlite/*',
      '/manual/repairs-sqlite/*',
    ]);
  });

  it('GIVEN a password in Parameter Store THEN the instance reads that parameter and decrypts it through SSM only', () => {
    const statements = managedPolicy('backup-kit-backup-orders-db');
    expect(statements.find((statement) => statement.Sid === 'ReadOwnPasswordParameter')).toMatchObject({
      Action: 'ssm:GetParameter',
      Resource: { 'Fn::Join': ['', expect.arrayContaining([':parameter/orders/prod/db-backup-password'])] },
    });
    expect(statements.find((statement) => statement.Sid === 'DecryptOwnPasswordParameter')).toMatchObject({
      Action: 'kms:Decrypt',
      Condition: {
        StringEquals: {
          'kms:ViaService': 'ssm.eu-west-1.amazonaws.com',
          'kms:EncryptionContext:PARAMETER_ARN': { 'Fn::Join': ['', expect.arrayContaining([':parameter/orders/prod/db-backup-password'])] },
        },
      },
    });
  });

  it('GIVEN a password in Secrets Manager THEN the instance reads that secret (with its random suffix) and decrypts it through Secrets Manager only', () => {
    const statements = managedPolicy('backup-kit-backup-billing-db');
    expect(statements.find((statement) => statement.Sid === 'ReadOwnPasswordSecret')).toMatchObject({
      Action: 'secretsmanager:GetSecretValue',
      Resource: { 'Fn::Join': ['', expect.arrayContaining([':secret:billing/prod/mysql-backup-??????'])] },
    });
    expect(statements.find((statement) => statement.Sid === 'DecryptOwnPasswordSecret')).toMatchObject({
      Condition: { StringEquals: { 'kms:ViaService': 'secretsmanager.eu-west-1.amazonaws.com' }, StringLike: { 'kms:EncryptionContext:SecretARN': expect.anything() } },
    });
  });

  it('GIVEN a files target THEN its policy reads no password at all', () => {
    const actions = managedPolicy('backup-kit-backup-repairs-media').flatMap(actionsOf);
    expect(actions).not.toContain('ssm:GetParameter');
    expect(actions).not.toContain('secretsmanager:GetSecretValue');
    expect(actions).toEqual(expect.arrayContaining(['logs:CreateLogStream', 'logs:PutLogEvents']));
  });

  it('GIVEN any instance policy THEN it cannot list or read the bucket, delete backups or change their lock', () => {
    for (const name of ['backup-kit-backup-orders-db', 'backup-kit-backup-billing-db', 'backup-kit-backup-repairs-sqlite', 'backup-kit-backup-repairs-media']) {
      const actions = managedPolicy(name).flatMap(actionsOf);
      for (const forbidden of ['s3:ListBucket', 's3:ListBucketMultipartUploads', 's3:GetObject', 's3:GetObjectVersion', 's3:DeleteObject', 's3:DeleteObjectVersion', 's3:PutObjectLegalHold']) {
        expect(actions, name).not.toContain(forbidden);
      }
    }
  });
});

describe('no role of the app can delete backups or change the lock or bucket policy', () => {
  /** Never granted to anyone, on any bucket. */
  const NEVER = ['s3:BypassGovernanceRetention', 's3:PutBucketPolicy', 's3:DeleteBucketPolicy', 's3:PutBucketObjectLockConfiguration'];
  /** Never granted on a backup bucket (primary or replica) or on a resource that could be one. */
  const NOT_ON_BACKUPS = ['s3:DeleteObject', 's3:DeleteObjectVersion', 's3:DeleteObjectTagging', 's3:DeleteObjectVersionTagging', 's3:DeleteBucket'];

  const backupBucketMarkers = [
    built.stacks.storage.getLogicalId(built.stacks.storage.backups.bucket.node.defaultChild as never),
    built.stacks.replicaStorage.getLogicalId(built.stacks.replicaStorage.backups.bucket.node.defaultChild as never),
    '-replica-',
  ];

  /** '*', any S3 ARN wildcard over bucket names, or anything naming a backup bucket. */
  function couldBeBackupBucket(resource: unknown): boolean {
    // A statement without Resource (NotResource) could cover anything.
    if (resource === undefined) return true;
    const text = JSON.stringify(resource);
    return text === '"*"' || /s3:::\*/.test(text) || backupBucketMarkers.some((marker) => text.includes(marker));
  }

  /** Every statement of every policy document in a template (roles, policies, managed, bucket, queue, topic, key policies). */
  function allStatements(template: Record<string, unknown>): Statement[] {
    const found: Statement[] = [];
    const visit = (node: unknown) => {
      if (Array.isArray(node)) node.forEach(visit);
      else if (node !== null && typeof node === 'object') {
        const record = node as Record<string, unknown>;
        if (Array.isArray(record.Statement)) found.push(...(record.Statement as Statement[]));
        Object.values(record).forEach(visit);
      }
    };
    visit(template);
    return found;
  }

  const grants = (pattern: string, action: string) =>
    new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 'i').test(action);

  it('GIVEN every stack of the app THEN no Allow statement grants deletion of backups, governance bypass, bucket policy or lock changes', () => {
    const assembly = built.app.synth();
    const checked: string[] = [];
    for (const stack of assembly.stacks) {
      for (const statement of allStatements(stack.template as Record<string, unknown>)) {
        if (statement.Effect !== 'Allow') continue;
        expect(statement.NotAction, `${stack.stackName}: NotAction would grant everything else`).toBeUndefined();
        const resources = Array.isArray(statement.Resource) ? statement.Resource : [statement.Resource];
        const onBackups = resources.some(couldBeBackupBucket);
        for (const action of actionsOf(statement)) {
          for (const forbidden of NEVER) {
            expect(grants(action, forbidden), `${stack.stackName} grants ${forbidden} through '${action}'`).toBe(false);
          }
          if (onBackups) {
            for (const forbidden of NOT_ON_BACKUPS) {
              expect(grants(action, forbidden), `${stack.stackName} grants ${forbidden} through '${action}' on ${JSON.stringify(statement.Resource)}`).toBe(false);
            }
          }
        }
        checked.push(...actionsOf(statement));
      }
    }
    expect(checked).toEqual(expect.arrayContaining(['s3:PutObject', 'ssm:SendCommand', 's3:ReplicateObject']));
  });

  it('GIVEN the checker THEN it does catch wildcards and backup-bucket resources', () => {
    expect(grants('s3:*', 's3:DeleteObjectVersion')).toBe(true);
    expect(grants('s3:Delete*', 's3:DeleteObject')).toBe(true);
    expect(grants('*', 's3:PutBucketPolicy')).toBe(true);
    expect(grants('s3:Put*', 's3:PutBucketObjectLockConfiguration')).toBe(true);
    expect(grants('s3:PutObject', 's3:PutBucketPolicy')).toBe(false);
    expect(couldBeBackupBucket('*')).toBe(true);
    expect(couldBeBackupBucket({ 'Fn::Join': ['', [{ 'Fn::ImportValue': `backup-kit-storage:ExportsOutputFnGetAtt${backupBucketMarkers[0]}Arn` }, '/daily/*']] })).toBe(true);
    expect(couldBeBackupBucket('arn:aws:s3:::backup-kit-replica-123456789012-eu-central-1/*')).toBe(true);
    expect(couldBeBackupBucket('arn:aws:s3:::example-team-media/photos/*')).toBe(false);
  });
});

describe('backup jobs template: without targets', () => {
  it('GIVEN a config with no targets THEN the jobs stack has no backup document, schedules or backup functions', () => {
    const { stacks } = buildTestApp({ targets: [] });
    const template = Template.fromStack(stacks.jobs);
    expect(stacks.jobs.backupJobs).toBeUndefined();
    template.resourceCountIs('AWS::SSM::Document', 0);
    const backupSchedules = Object.values(template.findResources('AWS::Scheduler::Schedule')).filter((schedule) => 'tier' in JSON.parse(schedule.Properties.Target.Input as string));
    expect(backupSchedules).toEqual([]);
    expect(template.findOutputs('BackupTriggerFunctionName')).toEqual({});
  });
});
