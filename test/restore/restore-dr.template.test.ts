import { Match, Template } from 'aws-cdk-lib/assertions';
import { findNestedResources } from '../support/nested';
import { describe, expect, it } from 'vitest';
import isolatedConfig from '../../config/isolated-account';
import { exampleConfig } from '../../config/example';
import { buildTestApp } from '../foundation/app-fixture';
import { ACCOUNT, TemplateResolver, decide, type PolicyDocument } from '../support/iam';

/**
 * Restores in the DR region (a regional outage): the restore document, functions, instance
 * policies and alarms deployed there from the replica bucket, and nothing in that path that refers
 * to the primary region.
 */

const SECRET_ARN = `arn:aws:secretsmanager:eu-west-1:${ACCOUNT}:secret:billing/prod/mysql-backup-AbCdEf`;
const { stacks } = buildTestApp({
  account: ACCOUNT,
  targets: (exampleConfig.targets ?? []).map((target) => (target.name === 'billing-db' ? { ...target, password: { secretId: SECRET_ARN } } : target)),
  restore: {
    targets: { 'repairs-sqlite': { onto: { instanceIds: ['i-0dddddddddddddddd'] } }, 'repairs-media': { onto: { instanceIds: ['i-0dddddddddddddddd'] } } },
    servers: { 'rs-systems': ['repairs-sqlite', 'repairs-media'] },
  },
} as never);
const dr = stacks.restoreDr!;
const template = Template.fromStack(dr);
const json = template.toJSON() as { Resources: Record<string, { Type: string; Properties?: Record<string, unknown> }>; Description?: string };

describe('the DR-region restore stack', () => {
  it('is deployed in the DR region with the restore document, the restore and result functions, and a policy per target', () => {
    expect(dr.region).toBe('eu-central-1');
    template.hasResourceProperties('AWS::SSM::Document', { Name: 'BackupKit-backup-kit-dr-InstanceRestore', DocumentType: 'Command' });
    template.resourcePropertiesCountIs('AWS::Lambda::Function', { Environment: { Variables: Match.objectLike({ RESTORE_DOCUMENT_NAME: 'BackupKit-backup-kit-dr-InstanceRestore' }) } }, 2);
    for (const target of exampleConfig.targets ?? []) {
      expect(Object.keys(findNestedResources(dr, 'AWS::IAM::ManagedPolicy', { Properties: { ManagedPolicyName: `backup-kit-dr-restore-${target.name}` } })), target.name).toHaveLength(1);
    }
    // AND the rebuild event works there: the servers are known, and a dry run of each is a test event
    template.hasResourceProperties('AWS::Lambda::Function', { Environment: { Variables: Match.objectLike({ RESTORE_SERVERS: JSON.stringify({ 'rs-systems': ['repairs-sqlite', 'repairs-media'] }) }) } });
    expect(JSON.stringify(template.findResources('AWS::EventSchemas::Schema'))).toContain('dry run rebuild rs-systems onto i-0dddddddddddddddd');
  });

  it('restores read the replica bucket with its key, in the DR region', () => {
    const restore = Object.values(json.Resources).find((resource) => resource.Type === 'AWS::Lambda::Function' && JSON.stringify(resource.Properties).includes('RESTORE_SITE'));
    const site = JSON.stringify((restore?.Properties?.Environment as { Variables: Record<string, unknown> }).Variables.RESTORE_SITE);
    expect(site).toContain('backup-kit-storage-dr:ExportsOutputRefReplicaBucket');
    expect(site).toContain('\\"region\\":\\"eu-central-1\\"');
  });

  it('refers to nothing in the primary region: no ARN, endpoint or import of it (the path works while that region is down)', () => {
    const found: string[] = [];
    const walk = (value: unknown, path: string): void => {
      if (typeof value === 'string') {
        if (value.includes('eu-west-1') && path !== '.Description') found.push(`${path}: ${value.slice(0, 200)}`);
        return;
      }
      if (Array.isArray(value)) value.forEach((item, index) => walk(item, `${path}[${index}]`));
      else if (value && typeof value === 'object') {
        for (const [key, item] of Object.entries(value)) {
          if (key === 'Fn::ImportValue' && !String(JSON.stringify(item)).startsWith('"backup-kit-storage-dr:')) found.push(`${path}: imports ${JSON.stringify(item)}`);
          walk(item, `${path}.${key}`);
        }
      }
    };
    walk(json, '');
    expect(found).toEqual([]);
    // the secret named by its primary-region ARN is read from its replica in the DR region
    expect(JSON.stringify(json)).toContain(`arn:aws:secretsmanager:eu-central-1:${ACCOUNT}:secret:billing/prod/mysql-backup-AbCdEf`);
  });

  it('alarms on the region\'s one alert topic, the replica stack\'s, and keeps its logs and queues under that region\'s ops key', () => {
    // No key and no topic of its own: one monthly key fee and one e-mail confirmation fewer.
    template.resourceCountIs('AWS::SNS::Topic', 0);
    template.resourceCountIs('AWS::KMS::Key', 0);
    const resolver = new TemplateResolver([stacks.replicaStorage, dr]);
    const [topicId] = resolver.resourcesOf(stacks.replicaStorage, 'AWS::SNS::Topic').map(([id]) => id);
    const [keyId] = resolver.resourcesOf(stacks.replicaStorage, 'AWS::KMS::Key').map(([id]) => id).filter((id) => id.startsWith('RegionalAlerts'));
    const topicArn = resolver.resolve({ Ref: topicId ?? '' }, stacks.replicaStorage);
    const keyArn = resolver.resolve({ 'Fn::GetAtt': [keyId ?? '', 'Arn'] }, stacks.replicaStorage);
    const alarms = resolver.resourcesOf(dr, 'AWS::CloudWatch::Alarm');
    expect(alarms.some(([, alarm]) => alarm.Namespace === 'AWS/Lambda' && alarm.MetricName === 'Errors')).toBe(true);
    expect(alarms.some(([, alarm]) => alarm.Namespace === 'AWS/SQS')).toBe(true);
    for (const [id, alarm] of alarms) expect(resolver.resolve(alarm.AlarmActions ?? null, dr), id).toEqual([topicArn]);
    for (const type of ['AWS::Logs::LogGroup', 'AWS::SQS::Queue']) {
      const encrypted = resolver.resourcesOf(dr, type).map(([, properties]) => resolver.resolve(properties.KmsKeyId ?? properties.KmsMasterKeyId ?? null, dr));
      expect(encrypted.length, type).toBeGreaterThan(0);
      expect(new Set(encrypted), type).toEqual(new Set([keyArn]));
    }
  });

  it('the DR restore policy lets an instance read the target\'s replicas and decrypt them through S3 there, and the backup user\'s password there', async () => {
    const resolver = new TemplateResolver([stacks.replicaStorage, dr]);
    const [, policy] = resolver.resourcesOf(dr, 'AWS::IAM::ManagedPolicy').find(([, properties]) => properties.ManagedPolicyName === 'backup-kit-dr-restore-orders-db') ?? [];
    const document: PolicyDocument = resolver.policy(policy?.PolicyDocument ?? null, dr);
    const [bucketId] = resolver.resourcesOf(stacks.replicaStorage, 'AWS::S3::Bucket').find(([, properties]) => properties.ObjectLockEnabled === true) ?? [];
    const replica = String(resolver.resolve({ Ref: bucketId ?? '' }, stacks.replicaStorage));
    const [keyId, key] = resolver.resourcesOf(stacks.replicaStorage, 'AWS::KMS::Key').find(([id]) => id.startsWith('Replica')) ?? [];
    // The replica key's own policy: it must leave this to IAM in the account.
    const keyPolicy = resolver.policy(key?.KeyPolicy ?? null, stacks.replicaStorage);
    const keyArn = String(resolver.resolve({ 'Fn::GetAtt': [keyId ?? '', 'Arn'] }, stacks.replicaStorage));
    const principal = `arn:aws:iam::${ACCOUNT}:role/dr-app-server`;
    const ask = (action: string, resource: string, context: Record<string, string> = {}) =>
      decide({ principal, identityPolicies: [document], action, resource, context, ...(action.startsWith('kms:') ? { resourcePolicy: keyPolicy } : {}) });
    expect(await ask('s3:GetObject', `arn:aws:s3:::${replica}/daily/orders-db/2026/12/01/orders-db_20261201T020000Z.pgdump.gz`)).toBe('Allowed');
    expect(await ask('s3:GetObject', `arn:aws:s3:::${replica}/daily/billing-db/2026/12/01/billing-db_20261201T020000Z.sql.gz`)).toBe('ImplicitlyDenied');
    expect(await ask('kms:Decrypt', keyArn, { 'kms:ViaService': 's3.eu-central-1.amazonaws.com' })).toBe('Allowed');
    expect(await ask('kms:Decrypt', keyArn, { 'kms:ViaService': 's3.eu-west-1.amazonaws.com' })).toBe('ImplicitlyDenied');
    expect(await ask('ssm:GetParameter', `arn:aws:ssm:eu-central-1:${ACCOUNT}:parameter/orders/prod/db-backup-password`)).toBe('Allowed');
    expect(await ask('ssm:GetParameter', `arn:aws:ssm:eu-west-1:${ACCOUNT}:parameter/orders/prod/db-backup-password`)).toBe('ImplicitlyDenied');
  });

  it('is not deployed when the replica is in an isolated account, and synth says so', () => {
    const isolated = buildTestApp(isolatedConfig as never);
    expect(isolated.stacks.restoreDr).toBeUndefined();
    expect(JSON.stringify(isolated.app.node.metadata)).toMatch(/no restore stack in eu-central-1: the replica is in the isolated account 222222222222/);
  });
});
