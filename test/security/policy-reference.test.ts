import { describe, expect, it } from 'vitest';
import { buildTestApp } from '../foundation/app-fixture';
import { TemplateResolver } from '../support/iam';
import { checkPolicyDocument, policyDocumentsOf } from '../support/policy-reference';

/**
 * Every statement of every synthesized policy (identity, role trust excluded, bucket, key, queue and
 * topic policies), in every stack, is valid for its service according to AWS's service
 * authorization reference: no action that does not exist, no resource the action cannot take,
 * no condition key the service does not know.
 */

const { stacks } = buildTestApp({ guard: { breakGlassRoleName: 'backup-break-glass', deployRoleNamePattern: 'cdk-*-cfn-exec-role-*' } });
const all = [stacks.storage, stacks.replicaStorage, stacks.jobs, ...(stacks.rdsRestoreDr ? [stacks.rdsRestoreDr] : [])];
const resolver = new TemplateResolver(all);

describe('every synthesized policy against the service reference', () => {
  it.each(all.map((stack) => [stack.stackName, stack] as const))('%s', async (_name, stack) => {
    const documents = policyDocumentsOf(resolver, stack);
    expect(documents.length).toBeGreaterThan(0);
    const findings = (await Promise.all(documents.map(({ where, document }) => checkPolicyDocument(where, document)))).flat();
    expect(findings.map((finding) => `${finding.where}: ${finding.problem}`)).toEqual([]);
  });
});

describe('the checker finds what it claims to', () => {
  const check = (statement: Record<string, unknown>) => checkPolicyDocument('test', { Version: '2012-10-17', Statement: [statement] } as never);

  it('an action that does not exist', async () => {
    expect(await check({ Effect: 'Allow', Action: 's3:PutObjects', Resource: '*' })).toEqual([expect.objectContaining({ problem: 'action s3:PutObjects is not in the service reference' })]);
  });

  it('an ARN in the account the reference writes as * (a recovery point) is a form the action takes', async () => {
    expect(await check({ Effect: 'Allow', Action: 'backup:StartRestoreJob', Resource: 'arn:aws:rds:eu-west-1:111122223333:snapshot:awsbackup:*' })).toEqual([]);
    expect(await check({ Effect: 'Allow', Action: 'backup:StartRestoreJob', Resource: 'arn:aws:s3:::team-media' })).not.toEqual([]);
  });

  it('a Sid used twice in one policy (IAM refuses the whole policy)', async () => {
    const statement = { Sid: 'PublishAlerts', Effect: 'Allow', Action: 'sns:Publish', Resource: 'arn:aws:sns:eu-west-1:111122223333:alerts' };
    const findings = await checkPolicyDocument('test', { Version: '2012-10-17', Statement: [statement, { ...statement, Resource: 'arn:aws:sns:eu-west-1:111122223333:other' }] } as never);
    expect(findings.map((finding) => finding.problem)).toEqual(['Sid PublishAlerts appears more than once: IAM refuses the policy']);
  });

  it('a grant on a resource the action cannot take (it does nothing there)', async () => {
    const findings = await check({ Effect: 'Allow', Action: ['rds:DescribeDBInstances'], Resource: 'arn:aws:rds:eu-west-1:111122223333:auto-backup:*' });
    expect(findings.map((finding) => finding.problem)).toEqual([expect.stringContaining('rds:DescribeDBInstances applies to none of arn:aws:rds:eu-west-1:111122223333:auto-backup:*'), expect.stringContaining('no action of the statement applies to')]);
  });

  it('a wildcard-only action scoped to an ARN', async () => {
    const findings = await check({ Effect: 'Allow', Action: 'logs:DescribeLogGroups', Resource: 'arn:aws:logs:eu-west-1:111122223333:log-group:*' });
    expect(findings.map((finding) => finding.problem)).toEqual([expect.stringContaining('logs:DescribeLogGroups applies to none of'), expect.stringContaining('no action of the statement applies to')]);
    expect(await check({ Effect: 'Allow', Action: 'logs:DescribeLogGroups', Resource: '*' })).toEqual([]);
  });

  it('a combined statement is fine while each action and each resource meets one of the other', async () => {
    expect(await check({ Effect: 'Deny', Action: ['s3:PutBucketPolicy', 's3:DeleteObjectVersion'], Resource: ['arn:aws:s3:::backups', 'arn:aws:s3:::backups/*'] })).toEqual([]);
    expect(await check({ Effect: 'Allow', Action: ['logs:CreateLogStream', 'logs:PutLogEvents'], Resource: 'arn:aws:logs:eu-west-1:111122223333:log-group:app:*' })).toEqual([]);
    expect(await check({ Effect: 'Allow', Action: 'kms:GenerateDataKey*', Resource: 'arn:aws:kms:eu-west-1:111122223333:key/abc' })).toEqual([]);
  });

  it('a bucket action on an object ARN', async () => {
    expect(await check({ Effect: 'Allow', Action: 's3:ListBucket', Resource: 'arn:aws:s3:::backups/daily/*' })).toHaveLength(2);
    expect(await check({ Effect: 'Allow', Action: 's3:ListBucket', Resource: 'arn:aws:s3:::backups' })).toEqual([]);
  });

  it('a condition key of another service, and one of none', async () => {
    expect(await check({ Effect: 'Allow', Action: 's3:GetObject', Resource: 'arn:aws:s3:::b/*', Condition: { StringEquals: { 'kms:ViaService': 'x' } } })).toHaveLength(1);
    expect(await check({ Effect: 'Allow', Action: 's3:GetObject', Resource: 'arn:aws:s3:::b/*', Condition: { Bool: { 'aws:SecureTransprt': 'false' } } })).toHaveLength(1);
    expect(await check({ Effect: 'Allow', Action: 'kms:Decrypt', Resource: '*', Condition: { StringLike: { 'kms:EncryptionContext:aws:logs:arn': 'x' } } })).toEqual([]);
  });
});

describe('service roles trust their service only for this account', () => {
  // Lambda does not pass aws:SourceAccount when it assumes an execution role; every other service here does.
  it.each(all.map((stack) => [stack.stackName, stack] as const))('%s', (_name, stack) => {
    const unguarded = resolver.resourcesOf(stack, 'AWS::IAM::Role').flatMap(([id, properties]) =>
      ((properties.AssumeRolePolicyDocument as { Statement: { Principal?: { Service?: string | string[] }; Condition?: Record<string, Record<string, unknown>> }[] }).Statement ?? [])
        .filter((statement) => {
          const services = [statement.Principal?.Service ?? []].flat();
          if (services.length === 0 || services.every((service) => service === 'lambda.amazonaws.com')) return false;
          const keys = Object.values(statement.Condition ?? {}).flatMap((operator) => Object.keys(operator));
          return !keys.some((key) => key === 'aws:SourceAccount' || key === 'aws:SourceArn');
        })
        .map((statement) => `${id}: ${JSON.stringify(statement.Principal)}`),
    );
    expect(unguarded).toEqual([]);
  });
});
