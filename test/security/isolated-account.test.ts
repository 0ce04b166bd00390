import { describe, expect, it } from 'vitest';
import isolatedConfig from '../../config/isolated-account';
import { configErrorOf } from '../support/config-errors';
import { buildTestApp } from '../foundation/app-fixture';
import { matchesPattern } from '../support/event-patterns';
import { ACCOUNT, TemplateResolver, decide, type PolicyDocument } from '../support/iam';
import { checkPolicyDocument, policyDocumentsOf } from '../support/policy-reference';

/**
 * The isolated backup account: the replica bucket and its key live in another account, which lets
 * in exactly the workload's replication role (to write replicas it then owns) and its verify worker
 * (to check them). Nobody of the workload account, an administrator or the root included, can delete,
 * unlock, re-key or even read a replica. Synth needs no credentials.
 */

const ISOLATED = '222222222222';
const GUARD = { breakGlassRoleName: 'backup-break-glass', deployRoleNamePattern: 'cdk-*-cfn-exec-role-*' };
const { stacks } = buildTestApp({ ...isolatedConfig, guard: GUARD });
const all = [stacks.storage, stacks.replicaStorage, stacks.jobs, ...[stacks.rdsRestoreDr, stacks.managedVaultDr, stacks.managedVaultIsolated].filter((stack) => stack !== undefined)];
const resolver = new TemplateResolver(all);
type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

const replicaName = `backup-kit-replica-${ISOLATED}-eu-central-1`;
function replicaPolicies(): { bucketPolicy: PolicyDocument; keyArn: string; keyPolicy: PolicyDocument } {
  const stack = stacks.replicaStorage;
  const [, policy] = resolver.resourcesOf(stack, 'AWS::S3::BucketPolicy').find(([, properties]) => resolver.resolve(properties.Bucket ?? null, stack) === replicaName) ?? [];
  const [keyId, key] = resolver.resourcesOf(stack, 'AWS::KMS::Key').find(([id]) => id.startsWith('Replica')) ?? [];
  return {
    bucketPolicy: resolver.policy(policy?.PolicyDocument ?? null, stack),
    keyArn: String(resolver.resolve({ 'Fn::GetAtt': [keyId ?? '', 'Arn'] }, stack)),
    keyPolicy: resolver.policy(key?.KeyPolicy ?? null, stack),
  };
}
/** The identity policies the templates attach to the role whose physical name is `roleName`. */
function rolePolicies(roleName: string): PolicyDocument[] {
  for (const stack of all) {
    const role = resolver.resourcesOf(stack, 'AWS::IAM::Role').find(([, properties]) => properties.RoleName === roleName);
    if (!role) continue;
    return resolver
      .resourcesOf(stack, 'AWS::IAM::Policy')
      .filter(([, properties]) => ((properties.Roles ?? []) as { Ref?: string }[]).some((ref) => ref.Ref === role[0]))
      .map(([, properties]) => resolver.policy(properties.PolicyDocument ?? null, stack));
  }
  throw new Error(`no role named ${roleName}`);
}
const OBJECT = `arn:aws:s3:::${replicaName}/daily/orders-db/2026/12/01/orders-db_20261201T020000Z.pgdump.gz`;
const BUCKET = `arn:aws:s3:::${replicaName}`;

describe('config', () => {
  const base = { prefix: 'backup-kit', primaryRegion: 'eu-west-1', drRegion: 'eu-central-1' };

  it('an isolated account needs the workload account named, and a different one', () => {
    expect(configErrorOf({ ...base, replication: { isolatedAccount: ISOLATED } })).toMatch(/account: must name the workload account when replication\.isolatedAccount is set/);
    expect(configErrorOf({ ...base, account: ISOLATED, replication: { isolatedAccount: ISOLATED } })).toMatch(/replication\.isolatedAccount: must differ from account/);
    expect(configErrorOf({ ...base, account: ACCOUNT, replication: { isolatedAccount: '2222' } })).toMatch(/replication\.isolatedAccount: must be a 12-digit AWS account ID/);
  });
});

describe('the stacks', () => {
  it('put the replica bucket and key in the isolated account, the rest in the workload account', () => {
    expect(stacks.replicaStorage.account).toBe(ISOLATED);
    expect([stacks.storage.account, stacks.jobs.account]).toEqual([ACCOUNT, ACCOUNT]);
    expect(resolver.resourcesOf(stacks.replicaStorage, 'AWS::S3::Bucket').map(([, properties]) => properties.BucketName)).toContain(replicaName);
  });

  it('replicate to that account with owner override, encrypting with its key', () => {
    const [, bucket] = resolver.resourcesOf(stacks.storage, 'AWS::S3::Bucket').find(([, properties]) => properties.ReplicationConfiguration !== undefined) ?? [];
    const rule = (resolver.resolve(bucket?.ReplicationConfiguration ?? null, stacks.storage) as { Role: string; Rules: { Destination: Record<string, Json> }[] });
    expect(rule.Role).toBe(`arn:aws:iam::${ACCOUNT}:role/backup-kit-backup-replication`);
    expect(rule.Rules[0]?.Destination).toMatchObject({
      Bucket: BUCKET,
      Account: ISOLATED,
      AccessControlTranslation: { Owner: 'Destination' },
      EncryptionConfiguration: { ReplicaKmsKeyID: `arn:aws:kms:eu-central-1:${ISOLATED}:alias/backup-kit-backup-replica` },
    });
  });

  it('every policy of every stack is valid against the service reference', async () => {
    const findings = (await Promise.all(all.flatMap((stack) => policyDocumentsOf(resolver, stack)).map(({ where, document }) => checkPolicyDocument(where, document)))).flat();
    expect(findings.map((finding) => `${finding.where}: ${finding.problem}`)).toEqual([]);
  });
});

describe('who can do what to the replica', () => {
  const administrator: PolicyDocument = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] };
  const ask = (principal: string, identityPolicies: PolicyDocument[], action: string, resource: string, resourcePolicy: PolicyDocument) =>
    decide({ principal, identityPolicies, action, resource, resourcePolicy, resourceAccount: ISOLATED });

  it("the workload's replication role may write replicas and hand them to the replica account, and encrypt them with its key", async () => {
    const { bucketPolicy, keyArn, keyPolicy } = replicaPolicies();
    const role = `arn:aws:iam::${ACCOUNT}:role/backup-kit-backup-replication`;
    const policies = rolePolicies('backup-kit-backup-replication');
    for (const action of ['s3:ReplicateObject', 's3:ReplicateTags', 's3:ObjectOwnerOverrideToBucketOwner']) expect(await ask(role, policies, action, OBJECT, bucketPolicy)).toBe('Allowed');
    expect(await ask(role, policies, 's3:ReplicateDelete', OBJECT, bucketPolicy)).not.toBe('Allowed');
    expect(await ask(role, policies, 's3:DeleteObjectVersion', OBJECT, bucketPolicy)).not.toBe('Allowed');
    expect(
      await decide({ principal: role, identityPolicies: policies, action: 'kms:GenerateDataKey', resource: keyArn, resourcePolicy: keyPolicy, resourceAccount: ISOLATED, context: { 'kms:ViaService': 's3.eu-central-1.amazonaws.com', 'kms:ResourceAliases': ['alias/backup-kit-backup-replica'] } }),
    ).toBe('Allowed');
  });

  it('the verify worker may read replica metadata, and write nothing', async () => {
    const { bucketPolicy } = replicaPolicies();
    const worker = `arn:aws:iam::${ACCOUNT}:role/backup-kit-verify-worker`;
    const policies = rolePolicies('backup-kit-verify-worker');
    expect(await ask(worker, policies, 's3:GetObject', OBJECT, bucketPolicy)).toBe('Allowed');
    expect(await ask(worker, policies, 's3:ListBucket', BUCKET, bucketPolicy)).toBe('Allowed');
    expect(await ask(worker, policies, 's3:PutObject', OBJECT, bucketPolicy)).not.toBe('Allowed');
  });

  it.each([
    ['an administrator', `arn:aws:iam::${ACCOUNT}:role/admin`],
    ['the break-glass role of the workload account', `arn:aws:iam::${ACCOUNT}:role/backup-break-glass`],
    ["the workload account's deploy role", `arn:aws:iam::${ACCOUNT}:role/cdk-hnb659fds-cfn-exec-role-${ACCOUNT}-eu-central-1`],
  ])('%s of the workload account can neither destroy, unlock, change nor read anything', async (_who, principal) => {
    const { bucketPolicy, keyArn, keyPolicy } = replicaPolicies();
    for (const action of ['s3:DeleteObjectVersion', 's3:BypassGovernanceRetention', 's3:GetObject', 's3:PutObject', 's3:PutObjectRetention']) expect(await ask(principal, [administrator], action, OBJECT, bucketPolicy)).not.toBe('Allowed');
    for (const action of ['s3:PutBucketPolicy', 's3:PutLifecycleConfiguration', 's3:PutBucketVersioning', 's3:DeleteBucket']) expect(await ask(principal, [administrator], action, BUCKET, bucketPolicy)).not.toBe('Allowed');
    for (const action of ['kms:ScheduleKeyDeletion', 'kms:DisableKey', 'kms:PutKeyPolicy', 'kms:Decrypt']) expect(await ask(principal, [administrator], action, keyArn, keyPolicy)).not.toBe('Allowed');
  });

  it("the workload account's root user cannot either", async () => {
    const { bucketPolicy, keyArn, keyPolicy } = replicaPolicies();
    const root = `arn:aws:iam::${ACCOUNT}:root`;
    expect(await ask(root, [], 's3:DeleteObjectVersion', OBJECT, bucketPolicy)).not.toBe('Allowed');
    expect(await ask(root, [], 'kms:ScheduleKeyDeletion', keyArn, keyPolicy)).not.toBe('Allowed');
  });

  it("in the replica account, the guard holds as in one account: an administrator there cannot delete a locked version or schedule the key's deletion", async () => {
    const { bucketPolicy, keyArn, keyPolicy } = replicaPolicies();
    const localAdmin = `arn:aws:iam::${ISOLATED}:role/admin`;
    expect(await ask(localAdmin, [administrator], 's3:DeleteObjectVersion', OBJECT, bucketPolicy)).toBe('ExplicitlyDenied');
    expect(await ask(localAdmin, [administrator], 'kms:ScheduleKeyDeletion', keyArn, keyPolicy)).toBe('ExplicitlyDenied');
    expect(await ask(`arn:aws:iam::${ISOLATED}:role/backup-break-glass`, [administrator], 's3:DeleteObjectVersion', OBJECT, bucketPolicy)).toBe('Allowed');
  });
});

describe('guard alerts of the isolated account', () => {
  it('its own trail records the replica, and its guarded events are forwarded to the workload account, whose bus takes only those sources from it', () => {
    const trail = resolver.resourcesOf(stacks.replicaStorage, 'AWS::CloudTrail::Trail')[0]?.[1];
    expect(JSON.stringify(resolver.resolve(trail?.EventSelectors ?? null, stacks.replicaStorage))).toContain(`arn:aws:s3:::${replicaName}/`);
    const forwards = resolver.resourcesOf(stacks.replicaStorage, 'AWS::Events::Rule');
    expect(forwards.length).toBe(3);
    for (const [, rule] of forwards) expect(JSON.stringify(resolver.resolve(rule.Targets ?? null, stacks.replicaStorage))).toContain(`arn:aws:events:eu-west-1:${ACCOUNT}:event-bus/default`);

    const [, busPolicy] = resolver.resourcesOf(stacks.jobs, 'AWS::Events::EventBusPolicy')[0] ?? [];
    expect(resolver.resolve(busPolicy?.Statement ?? null, stacks.jobs)).toMatchObject({
      Principal: { AWS: `arn:aws:iam::${ISOLATED}:root` },
      Action: 'events:PutEvents',
      Condition: { StringEquals: { 'events:source': ['aws.s3', 'aws.kms', 'aws.cloudtrail', 'aws.backup'] } },
    });
    const forwarded = resolver.resourcesOf(stacks.jobs, 'AWS::Events::Rule').filter(([id]) => id.startsWith('GuardAlertsGuardedforwarded'));
    const pattern = resolver.resolve(forwarded[0]?.[1].EventPattern ?? null, stacks.jobs) as Record<string, Json>;
    const event = { source: 'aws.s3', 'detail-type': 'AWS API Call via CloudTrail', account: ISOLATED, region: 'eu-central-1', detail: { eventName: 'PutBucketPolicy' } };
    expect(matchesPattern(pattern, event)).toBe(true);
    expect(matchesPattern(pattern, { ...event, account: '333333333333' })).toBe(false);
  });
});
