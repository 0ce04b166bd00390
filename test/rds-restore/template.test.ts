import { App, Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { TemplateResolver } from '../support/iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import { beforeAll, describe, expect, it } from 'vitest';
import { REQUESTED_BY_PLACEHOLDER, parseRestoreEvent } from '../../contracts/rds-restore-event';
import { parseRestoreSettings } from '../../contracts/rds';
import { RdsBackupReplication } from '../../lib/constructs/rds-backup-replication';
import { RdsRestore } from '../../lib/constructs/rds-restore';
import { ShareableTestEvents } from '../../lib/constructs/shareable-test-events';
import isolatedConfig from '../../config/isolated-account';
import { buildTestApp } from '../foundation/app-fixture';

type Resource = { Type: string; Properties: Record<string, unknown>; DependsOn?: string[] };
type Statement = { Action: string | string[]; Resource: unknown; Condition?: Record<string, Record<string, unknown>>; Sid?: string };

const DR_KEY = 'arn:aws:kms:eu-central-1:111122223333:key/9f8e7d6c-5b4a-4f3e-9d2c-1b0a9f8e7d6c';

/** Every statement of the policies attached to the role whose logical ID starts with `rolePrefix`. */
function statementsOf(template: Template, rolePrefix: string): Statement[] {
  const policies = Object.values(template.findResources('AWS::IAM::Policy')) as Resource[];
  return policies
    .filter((policy) => (policy.Properties.Roles as { Ref: string }[]).some((role) => role.Ref.startsWith(rolePrefix)))
    .flatMap((policy) => (policy.Properties.PolicyDocument as { Statement: Statement[] }).Statement);
}

const actionsOf = (statements: Statement[]) => statements.flatMap((statement) => [statement.Action].flat());

/** ARNs of a statement with CloudFormation's joins flattened to text (`<Partition>`, `<Account>`). */
function resourcesOf(statement: Statement): string[] {
  const render = (value: unknown): string => {
    if (typeof value === 'string') return value;
    const join = (value as { 'Fn::Join'?: [string, unknown[]] })['Fn::Join'];
    if (join) return join[1].map(render).join(join[0]);
    const ref = (value as { Ref?: string }).Ref;
    if (ref === 'AWS::Partition') return '<Partition>';
    if (ref === 'AWS::AccountId') return '<Account>';
    return JSON.stringify(value);
  };
  return [statement.Resource].flat().map(render);
}

/** Logical ID of the role of the function whose description starts with `description`. */
function roleOfFunction(template: Template, description: string): string {
  const fn = template.findResources('AWS::Lambda::Function')[logicalIdOf(template, 'AWS::Lambda::Function', (candidate) => String(candidate.Properties.Description).startsWith(description))] as Resource;
  return (fn.Properties.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
}

function logicalIdOf(template: Template, type: string, predicate: (resource: Resource) => boolean): string {
  const found = Object.entries(template.findResources(type) as Record<string, Resource>).find(([, resource]) => predicate(resource));
  if (!found) throw new Error(`no ${type} matched`);
  return found[0];
}

describe('RDS restore in the jobs stack (example config)', () => {
  let template: Template;
  let restoreRole: string;
  let completionRole: string;
  let replicationRole: string;

  beforeAll(() => {
    const { stacks } = buildTestApp();
    template = Template.fromStack(stacks.jobs);
    restoreRole = roleOfFunction(template, 'Restores an allowlisted RDS instance');
    completionRole = roleOfFunction(template, 'Reports a restored RDS instance');
    replicationRole = roleOfFunction(template, 'Starts and stops replication of RDS automated backups');
  });

  it('THEN the restore function runs the restore handler as service rds-restore, with the allowlist in its settings', () => {
    const functions = template.findResources('AWS::Lambda::Function', {
      Properties: { Description: Match.stringLikeRegexp('^Restores an allowlisted RDS instance to a point in time') },
    }) as Record<string, Resource>;
    const [restoreFunction] = Object.values(functions);
    expect(restoreFunction?.Properties).toMatchObject({ Runtime: 'nodejs24.x', Architectures: ['arm64'], Timeout: 120 });
    const variables = (restoreFunction?.Properties.Environment as { Variables: Record<string, string> }).Variables;
    expect(variables.POWERTOOLS_SERVICE_NAME).toBe('rds-restore');
    const settings = parseRestoreSettings(JSON.parse(variables.RDS_RESTORE_SETTINGS ?? '{}'));
    expect(settings).toEqual({
      primaryRegion: 'eu-west-1',
      drRegion: 'eu-central-1',
      sources: [
        {
          identifier: 'orders-db',
          kmsKeyArn: 'arn:aws:kms:eu-west-1:111122223333:key/1a2b3c4d-5e6f-4a1b-8c2d-3e4f5a6b7c8d',
          dr: { subnetGroupName: 'orders-dr-db-subnets', securityGroupIds: ['sg-0a1b2c3d4e5f60718'], parameterGroupName: 'orders-postgres16', kmsKeyArn: DR_KEY },
        },
        { identifier: 'billing-aurora', kind: 'cluster', kmsKeyArn: 'arn:aws:kms:eu-west-1:111122223333:key/5c6d7e8f-9a0b-4c1d-8e2f-3a4b5c6d7e8f' },
      ],
    });
  });

  it('THEN the restore role may restore only the allowlisted source into <source>-pitr-* names (and the groups RDS attaches)', () => {
    const statements = statementsOf(template, restoreRole);
    const restore = statements.filter((statement) => [statement.Action].flat().includes('rds:RestoreDBInstanceToPointInTime'));
    expect(restore.flatMap(resourcesOf).sort()).toEqual(
      [
        'arn:<Partition>:rds:eu-west-1:<Account>:db:orders-db',
        'arn:<Partition>:rds:eu-west-1:<Account>:db:orders-db-pitr-*',
        'arn:<Partition>:rds:eu-west-1:<Account>:subgrp:*',
        'arn:<Partition>:rds:eu-west-1:<Account>:pg:*',
        'arn:<Partition>:rds:eu-west-1:<Account>:og:*',
        'arn:<Partition>:rds:eu-central-1:<Account>:auto-backup:*',
        'arn:<Partition>:rds:eu-central-1:<Account>:db:orders-db-pitr-*',
        'arn:<Partition>:rds:eu-central-1:<Account>:subgrp:orders-dr-db-subnets',
        'arn:<Partition>:rds:eu-central-1:<Account>:pg:orders-postgres16',
        'arn:<Partition>:rds:eu-central-1:<Account>:og:default:*',
      ].sort(),
    );
    const tagging = statements.filter((statement) => [statement.Action].flat().includes('rds:AddTagsToResource'));
    expect(tagging.flatMap(resourcesOf).sort()).toEqual([
      'arn:<Partition>:rds:eu-central-1:<Account>:db:orders-db-pitr-*',
      'arn:<Partition>:rds:eu-west-1:<Account>:cluster:billing-aurora-pitr-*',
      'arn:<Partition>:rds:eu-west-1:<Account>:db:billing-aurora-pitr-*',
      'arn:<Partition>:rds:eu-west-1:<Account>:db:orders-db-pitr-*',
    ]);
  });

  it('THEN the restore role may restore only the allowlisted cluster into <source>-pitr-* clusters, and create only their instances', () => {
    const statements = statementsOf(template, restoreRole);
    const of = (action: string) => statements.filter((statement) => [statement.Action].flat().includes(action)).flatMap(resourcesOf).sort();
    expect(of('rds:RestoreDBClusterToPointInTime')).toEqual(
      [
        'arn:<Partition>:rds:eu-west-1:<Account>:cluster:billing-aurora',
        'arn:<Partition>:rds:eu-west-1:<Account>:cluster:billing-aurora-pitr-*',
        'arn:<Partition>:rds:eu-west-1:<Account>:subgrp:*',
        'arn:<Partition>:rds:eu-west-1:<Account>:cluster-pg:*',
      ].sort(),
    );
    expect(of('rds:CreateDBInstance')).toEqual(
      [
        'arn:<Partition>:rds:eu-west-1:<Account>:db:billing-aurora-pitr-*',
        'arn:<Partition>:rds:eu-west-1:<Account>:cluster:billing-aurora-pitr-*',
        'arn:<Partition>:rds:eu-west-1:<Account>:pg:*',
        'arn:<Partition>:rds:eu-west-1:<Account>:og:*',
        'arn:<Partition>:rds:eu-west-1:<Account>:subgrp:*',
      ].sort(),
    );
    // The cluster is no instance source: the instance restore does not name it.
    expect(of('rds:RestoreDBInstanceToPointInTime').some((arn) => arn.includes('billing-aurora'))).toBe(false);
  });

  it('THEN the restore role has only restore, tagging, describe and RDS-scoped KMS actions', () => {
    const actions = new Set(actionsOf(statementsOf(template, restoreRole)));
    expect([...actions].sort()).toEqual(
      [
        'kms:CreateGrant',
        'kms:DescribeKey',
        'logs:CreateLogStream',
        'logs:PutLogEvents',
        'rds:AddTagsToResource',
        'rds:CreateDBInstance',
        'rds:DescribeDBClusters',
        'rds:DescribeDBInstanceAutomatedBackups',
        'rds:DescribeDBInstances',
        'rds:RestoreDBClusterToPointInTime',
        'rds:RestoreDBInstanceToPointInTime',
      ].sort(),
    );
  });

  it('THEN neither the restore nor the completion role can delete, modify, reboot or stop anything, or use rds:*', () => {
    for (const role of [restoreRole, completionRole]) {
      const actions = actionsOf(statementsOf(template, role));
      expect(actions.length).toBeGreaterThan(0);
      expect(actions.filter((action) => /^rds:(Delete|Modify|Reboot|Stop|Remove|Promote|Failover)/i.test(action) || /^rds:\*|^\*$/.test(action))).toEqual([]);
      expect(actions.filter((action) => action.includes('*') && action.startsWith('rds:'))).toEqual([]);
    }
  });

  it('THEN KMS grants work only through RDS, for AWS resources, on the configured keys', () => {
    const kmsStatements = statementsOf(template, restoreRole).filter((statement) => [statement.Action].flat().some((action) => action.startsWith('kms:')));
    expect(kmsStatements.length).toBeGreaterThan(0);
    for (const statement of kmsStatements) {
      expect(statement.Condition?.StringEquals?.['kms:ViaService']).toMatch(/^rds\.eu-(west|central)-1\.amazonaws\.com$/);
      expect(resourcesOf(statement).every((arn) => /^arn:aws:kms:eu-(west|central)-1:111122223333:key\/[0-9a-f-]+$/.test(arn))).toBe(true);
      if ([statement.Action].flat().includes('kms:CreateGrant')) {
        expect(statement.Condition?.Bool).toEqual({ 'kms:GrantIsForAWSResource': 'true' });
      }
    }
  });

  it('THEN the completion role reads and tags only <source>-pitr-* instances and publishes to the alert topic', () => {
    const statements = statementsOf(template, completionRole);
    const rds = statements.filter((statement) => [statement.Action].flat().some((action) => action.startsWith('rds:')));
    expect(actionsOf(rds).sort()).toEqual(['rds:AddTagsToResource', 'rds:DescribeDBInstances']);
    expect(rds.flatMap(resourcesOf).sort()).toEqual(['arn:<Partition>:rds:eu-central-1:<Account>:db:orders-db-pitr-*', 'arn:<Partition>:rds:eu-west-1:<Account>:db:billing-aurora-pitr-*', 'arn:<Partition>:rds:eu-west-1:<Account>:db:orders-db-pitr-*']);
    expect(statements).toContainEqual(expect.objectContaining({ Action: 'sns:Publish', Resource: { Ref: expect.stringMatching(/^AlertsTopic/) } }));
  });

  it('THEN an EventBridge rule sends RDS events of <source>-pitr-* instances to the completion function', () => {
    const completionFunction = logicalIdOf(template, 'AWS::Lambda::Function', (fn) => String(fn.Properties.Description).startsWith('Reports a restored RDS instance'));
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['aws.rds'],
        'detail-type': ['RDS DB Instance Event'],
        detail: {
          SourceType: ['DB_INSTANCE'],
          SourceIdentifier: [{ prefix: 'orders-db-pitr-' }, { prefix: 'billing-aurora-pitr-' }],
          $or: [{ EventID: ['RDS-EVENT-0005', 'RDS-EVENT-0008', 'RDS-EVENT-0019', 'RDS-EVENT-0002'] }, { EventCategories: ['failure'] }],
        },
      },
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [completionFunction, 'Arn'] }, RetryPolicy: { MaximumRetryAttempts: 4, MaximumEventAgeInSeconds: 21600 } })],
    });
    template.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      Principal: 'events.amazonaws.com',
      FunctionName: { 'Fn::GetAtt': [completionFunction, 'Arn'] },
    });
  });

  it('THEN an event the completion cannot take lands in a watched dead-letter queue: from the rule and after the function\'s own retries', () => {
    const completionFunction = logicalIdOf(template, 'AWS::Lambda::Function', (fn) => String(fn.Properties.Description).startsWith('Reports a restored RDS instance'));
    const queue = Object.keys(template.findResources('AWS::SQS::Queue')).find((id) => id.startsWith('RdsRestoreCompletionDeadLetters')) ?? 'none';
    template.hasResourceProperties('AWS::Events::Rule', {
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [completionFunction, 'Arn'] }, DeadLetterConfig: { Arn: { 'Fn::GetAtt': [queue, 'Arn'] } } })],
    });
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: completionFunction },
      MaximumRetryAttempts: 2,
      DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [queue, 'Arn'] } } },
    });
    expect(Object.values(template.findResources('AWS::CloudWatch::Alarm')).some((alarm) => JSON.stringify(alarm).includes(queue))).toBe(true);
  });

  it('THEN the shareable test events "latest", "specific time" and "dry run" are in the Lambda console registry', () => {
    const restoreFunction = logicalIdOf(template, 'AWS::Lambda::Function', (fn) => String(fn.Properties.Description).startsWith('Restores an allowlisted'));
    // Other console-invoked jobs have their own schemas; this one is named after the restore function.
    const schemas = (Object.values(template.findResources('AWS::EventSchemas::Schema')) as Resource[]).filter((candidate) =>
      JSON.stringify(candidate.Properties.SchemaName).includes(`"${restoreFunction}"`),
    );
    expect(schemas).toHaveLength(1);
    const schema = schemas[0] as Resource;
    expect(schema.Properties).toMatchObject({
      RegistryName: 'lambda-testevent-schemas',
      Type: 'OpenApi3',
      SchemaName: { 'Fn::Join': ['', ['_', { Ref: restoreFunction }, '-schema']] },
    });
    const content = JSON.parse(String(schema.Properties.Content)) as { openapi: string; components: { schemas: { Event: { required: string[] } }; examples: Record<string, { value: Record<string, unknown> }> } };
    expect(content.openapi).toBe('3.0.0');
    expect(content.components.schemas.Event.required).toEqual(['source', 'restoreTime']);
    expect(content.components.examples).toEqual({
      latest: { value: { source: 'orders-db', restoreTime: 'latest', requestedBy: REQUESTED_BY_PLACEHOLDER } },
      'specific time': { value: { source: 'orders-db', restoreTime: '2026-11-21T14:06:00Z', requestedBy: REQUESTED_BY_PLACEHOLDER } },
      'dry run': { value: { source: 'orders-db', restoreTime: 'latest', dryRun: true, requestedBy: REQUESTED_BY_PLACEHOLDER } },
    });
    // Each example is a valid event once the engineer puts in a name, and refused until then.
    for (const { value } of Object.values(content.components.examples)) {
      expect(() => parseRestoreEvent(value)).toThrow(/requestedBy: replace REPLACE-WITH-YOUR-NAME/);
      expect(() => parseRestoreEvent({ ...value, requestedBy: 'jane' })).not.toThrow();
    }
  });

  it('THEN the registry is created if missing (ConflictException tolerated) before the schema, and never deleted', () => {
    const registry = logicalIdOf(template, 'Custom::AWS', (resource) => JSON.stringify(resource.Properties).includes('CreateRegistry'));
    const properties = template.findResources('Custom::AWS')[registry] as Resource;
    const create = JSON.parse(String(properties.Properties.Create)) as Record<string, unknown>;
    expect(create).toMatchObject({ service: 'schemas', action: 'CreateRegistry', parameters: { RegistryName: 'lambda-testevent-schemas' }, ignoreErrorCodesMatching: 'ConflictException' });
    expect(properties.Properties.Delete).toBeUndefined();
    const schemaResource = Object.values(template.findResources('AWS::EventSchemas::Schema'))[0] as Resource;
    expect(schemaResource.DependsOn).toEqual(expect.arrayContaining([registry]));
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: [
          {
            Action: 'schemas:CreateRegistry',
            Effect: 'Allow',
            Resource: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':schemas:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':registry/lambda-testevent-schemas']] },
          },
        ],
      },
    });
  });

  it('THEN the stack outputs the function name and its console link', () => {
    const restoreFunction = logicalIdOf(template, 'AWS::Lambda::Function', (fn) => String(fn.Properties.Description).startsWith('Restores an allowlisted'));
    const outputs = template.toJSON().Outputs as Record<string, { Value: unknown; Description: string }>;
    const byPrefix = (prefix: string) => Object.entries(outputs).find(([id]) => id.startsWith(prefix))?.[1];
    expect(byPrefix('RdsRestoreFunctionName')?.Value).toEqual({ Ref: restoreFunction });
    expect(byPrefix('RdsRestoreConsoleLink')?.Value).toEqual({
      'Fn::Join': ['', ['https://eu-west-1.console.aws.amazon.com/lambda/home?region=eu-west-1#/functions/', { Ref: restoreFunction }]],
    });
  });

  it('THEN orders-db replicates its automated backups to the DR region 7 days, with the DR key', () => {
    template.hasResourceProperties('Custom::RdsBackupReplication', {
      SourceDBInstanceArn: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':rds:eu-west-1:', { Ref: 'AWS::AccountId' }, ':db:orders-db']] },
      DestinationRegion: 'eu-central-1',
      RetentionDays: 7,
      KmsKeyArn: DR_KEY,
    });
  });

  it('THEN the replication role may start and stop replication of orders-db only, and modify nothing', () => {
    const statements = statementsOf(template, replicationRole);
    const rdsActions = new Set(actionsOf(statements).filter((action) => action.startsWith('rds:')));
    expect([...rdsActions].sort()).toEqual([
      'rds:DescribeDBInstanceAutomatedBackups',
      'rds:DescribeDBInstances',
      'rds:StartDBInstanceAutomatedBackupsReplication',
      'rds:StopDBInstanceAutomatedBackupsReplication',
    ]);
    const startStop = statements.filter((statement) => [statement.Action].flat().includes('rds:StartDBInstanceAutomatedBackupsReplication'));
    expect(startStop.flatMap(resourcesOf).sort()).toEqual(['arn:<Partition>:rds:eu-central-1:<Account>:auto-backup:*', 'arn:<Partition>:rds:eu-west-1:<Account>:db:orders-db']);
  });
});

describe('DR region forwarding', () => {
  it('GIVEN a source replicated to the DR region THEN a DR stack forwards its restore events to the primary default bus', () => {
    const { stacks } = buildTestApp();
    expect(stacks.rdsRestoreDr?.region).toBe('eu-central-1');
    const template = Template.fromStack(stacks.rdsRestoreDr as Stack);
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: { source: ['aws.rds'], detail: Match.objectLike({ SourceIdentifier: [{ prefix: 'orders-db-pitr-' }] }) },
      Targets: [
        Match.objectLike({
          Arn: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':events:eu-west-1:', { Ref: 'AWS::AccountId' }, ':event-bus/default']] },
        }),
      ],
    });
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: { Statement: [Match.objectLike({ Action: 'events:PutEvents' })] },
    });
  });

  it('GIVEN that DR stack THEN what it cannot forward goes to its dead-letter queue, and its alarms notify the region\'s one topic, the replica stack\'s', () => {
    const { stacks } = buildTestApp();
    const drStack = stacks.rdsRestoreDr as Stack;
    const template = Template.fromStack(drStack);
    const resolver = new TemplateResolver([stacks.replicaStorage, drStack]);
    const [rule] = Object.keys(template.findResources('AWS::Events::Rule'));
    template.resourceCountIs('AWS::SNS::Topic', 0);
    template.resourceCountIs('AWS::KMS::Key', 0);
    const [topicId] = resolver.resourcesOf(stacks.replicaStorage, 'AWS::SNS::Topic').map(([id]) => id);
    const topicArn = resolver.resolve({ Ref: topicId ?? '' }, stacks.replicaStorage);
    template.hasResourceProperties('AWS::Events::Rule', { Targets: [Match.objectLike({ DeadLetterConfig: { Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^RegionalAlertsDeadLetters'), 'Arn'] } } })] });
    const alarms = resolver.resourcesOf(drStack, 'AWS::CloudWatch::Alarm');
    expect(alarms.map(([, alarm]) => alarm.MetricName).sort()).toEqual(['ApproximateNumberOfMessagesVisible', 'FailedInvocations']);
    expect(alarms.find(([, alarm]) => alarm.MetricName === 'FailedInvocations')?.[1].Dimensions).toEqual([{ Name: 'RuleName', Value: { Ref: rule } }]);
    for (const [id, alarm] of alarms) {
      expect(resolver.resolve(alarm.AlarmActions ?? null, drStack), id).toEqual([topicArn]);
      expect(resolver.resolve(alarm.OKActions ?? null, drStack), id).toEqual([topicArn]);
    }
    Template.fromStack(stacks.replicaStorage).hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'oncall@example.com' });
  });

  it('GIVEN the replica in an isolated account THEN the DR stack has its own key and topic, with the same subscriptions', () => {
    const { stacks } = buildTestApp(isolatedConfig);
    const template = Template.fromStack(stacks.rdsRestoreDr as Stack);
    template.resourceCountIs('AWS::KMS::Key', 1);
    const [topic] = Object.keys(template.findResources('AWS::SNS::Topic'));
    template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'oncall@example.com', TopicArn: { Ref: topic } });
    for (const alarm of Object.values(template.findResources('AWS::CloudWatch::Alarm'))) expect(alarm.Properties.AlarmActions).toEqual([{ Ref: topic }]);
  });
});

describe('configs without (DR) RDS', () => {
  it('GIVEN no RDS instances THEN the jobs stack has no restore, no replication and there is no DR stack', () => {
    const { stacks } = buildTestApp({ rds: { instances: [] } });
    const template = Template.fromStack(stacks.jobs);

    expect(JSON.stringify(template.findResources('AWS::EventSchemas::Schema'))).not.toMatch(/RdsRestore/);
    template.resourceCountIs('Custom::RdsBackupReplication', 0);
    expect(stacks.jobs.rdsRestore).toBeUndefined();
    expect(stacks.rdsRestoreDr).toBeUndefined();
  });

  it('GIVEN sources without replication or keys THEN the role has no DR-region resources and uses keys only through RDS in the primary region', () => {
    const { stacks } = buildTestApp({ rds: { instances: [{ identifier: 'orders-db' }, { identifier: 'billing-db' }] } });
    const template = Template.fromStack(stacks.jobs);
    const restoreRole = roleOfFunction(template, 'Restores an allowlisted RDS instance');
    const statements = statementsOf(template, restoreRole);

    expect(statements.flatMap(resourcesOf).filter((arn) => arn.includes('eu-central-1'))).toEqual([]);
    expect(statements.flatMap(resourcesOf)).toEqual(expect.arrayContaining(['arn:<Partition>:rds:eu-west-1:<Account>:db:billing-db-pitr-*', 'arn:<Partition>:kms:eu-west-1:<Account>:key/*']));
    template.resourceCountIs('Custom::RdsBackupReplication', 0);
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: { detail: Match.objectLike({ SourceIdentifier: [{ prefix: 'orders-db-pitr-' }, { prefix: 'billing-db-pitr-' }] }) },
    });
    expect(stacks.rdsRestoreDr).toBeUndefined();
  });

  it('GIVEN unkeyed sources and DR without parameter or option group THEN cdk-nag still passes on the whole app', () => {
    const dr = { subnetGroupName: 'dr-subnets', securityGroupIds: ['sg-0a1b2c3d4e5f60718'] };
    const { app } = buildTestApp({ rds: { instances: [{ identifier: 'orders-db', drReplication: dr }, { identifier: 'billing-db' }] } }, { nag: true });

    expect(() => app.synth()).not.toThrow();
  });
});

describe('construct validation', () => {
  const stack = () => {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const scope = new Stack(app, 'Test', { env: { region: 'eu-west-1', account: '111122223333' } });
    return { app, scope, key: new kms.Key(scope, 'Key'), topic: new sns.Topic(scope, 'Topic') };
  };

  it('GIVEN no sources, an invalid or a duplicate source THEN RdsRestore throws naming the prop', () => {
    const { scope, key, topic } = stack();
    const props = { drRegion: 'eu-central-1', logKey: key, alertTopic: topic };
    expect(() => new RdsRestore(scope, 'A', { ...props, sources: [] })).toThrow(/RdsRestore sources: at least one source is required/);
    expect(() => new RdsRestore(scope, 'B', { ...props, sources: [{ identifier: 'Orders' }] })).toThrow(/RdsRestore sources: 'Orders' is not a valid source identifier/);
    expect(() => new RdsRestore(scope, 'C', { ...props, sources: [{ identifier: 'a' }, { identifier: 'a' }] })).toThrow(/RdsRestore sources: 'a' is listed twice/);
    expect(() => new RdsRestore(scope, 'D', { ...props, drRegion: 'eu-west-1', sources: [{ identifier: 'a' }] })).toThrow(/RdsRestore drRegion: must differ/);
  });

  it('GIVEN a retention RDS does not allow or a repeated instance THEN RdsBackupReplication throws naming the prop', () => {
    const { scope, key } = stack();
    const replication = new RdsBackupReplication(scope, 'R', { destinationRegion: 'eu-central-1', logKey: key });
    expect(() => replication.addInstance({ identifier: 'orders-db', retention: Duration.days(36) })).toThrow(/addInstance retention: RDS keeps replicated backups 1-35 whole days \(got 36\)/);
    replication.addInstance({ identifier: 'orders-db', retention: Duration.days(7) });
    expect(() => replication.addInstance({ identifier: 'orders-db', retention: Duration.days(7) })).toThrow(/'orders-db' is already replicated/);
  });

  it('GIVEN shareable test events without events or with a name twice THEN synth or addEvent fails', () => {
    const { app, scope, key } = stack();
    const restore = new RdsRestore(scope, 'Restore', { sources: [{ identifier: 'orders-db' }], drRegion: 'eu-central-1', logKey: key, alertTopic: new sns.Topic(scope, 'T2') });
    expect(() => restore.testEvents.addEvent('latest', {})).toThrow(/'latest' is already used/);
    new ShareableTestEvents(scope, 'Empty', { function: restore.restoreFunction.function, logKey: key });
    expect(() => app.synth()).toThrow(/ShareableTestEvents: add at least one event with addEvent\(\)/);
  });

  it('GIVEN a metric of a source not allowlisted THEN it throws; of an allowlisted one THEN it is BackupKit RdsRestoreMinutes by service and Source', () => {
    const { scope, key, topic } = stack();
    const restore = new RdsRestore(scope, 'Restore', { sources: [{ identifier: 'orders-db' }], drRegion: 'eu-central-1', logKey: key, alertTopic: topic });
    expect(() => restore.metricRestoreMinutes('other-db')).toThrow(/'other-db' is not an allowlisted source/);
    const metric = restore.metricRestoreMinutes('orders-db');
    expect(metric).toMatchObject({ namespace: 'BackupKit', metricName: 'RdsRestoreMinutes', dimensions: { service: 'rds-restore', Source: 'orders-db' }, statistic: 'Maximum' });
  });
});
