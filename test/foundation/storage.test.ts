import { Template, Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp } from './app-fixture';

let primary: Template;
let replica: Template;

beforeAll(() => {
  const { stacks } = buildTestApp();
  primary = Template.fromStack(stacks.storage);
  replica = Template.fromStack(stacks.replicaStorage);
});

function backupBucketOf(template: Template): Record<string, unknown> {
  const buckets = template.findResources('AWS::S3::Bucket', { Properties: { ObjectLockEnabled: true } });
  const [only, ...others] = Object.values(buckets);
  expect(others).toHaveLength(0);
  return (only as { Properties: Record<string, unknown> }).Properties;
}

describe.each([
  ['primary', () => primary],
  ['replica', () => replica],
])('%s backup bucket', (_name, template) => {
  it('GIVEN the example config THEN the bucket is versioned and Object-Locked in governance mode for 7 days', () => {
    template().hasResourceProperties('AWS::S3::Bucket', {
      VersioningConfiguration: { Status: 'Enabled' },
      ObjectLockEnabled: true,
      ObjectLockConfiguration: { ObjectLockEnabled: 'Enabled', Rule: { DefaultRetention: { Mode: 'GOVERNANCE', Days: 7 } } },
    });
  });

  it('THEN it is SSE-KMS with its own rotating customer-managed key and S3 Bucket Keys', () => {
    template().hasResourceProperties('AWS::S3::Bucket', {
      ObjectLockEnabled: true,
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [
          {
            BucketKeyEnabled: true,
            ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: { 'Fn::GetAtt': [Match.stringLikeRegexp('Key'), 'Arn'] } },
          },
        ],
      },
    });
    template().hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
  });

  it('THEN all public access is blocked and ownership is enforced', () => {
    template().hasResourceProperties('AWS::S3::Bucket', {
      ObjectLockEnabled: true,
      PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
      OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
    });
  });

  it('THEN the bucket policy denies any request without TLS 1.2+', () => {
    template().hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Action: 's3:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          Match.objectLike({ Effect: 'Deny', Action: 's3:*', Condition: { NumericLessThan: { 's3:TlsVersion': 1.2 } } }),
        ]),
      },
    });
  });

  it('THEN server access logs go to a separate encrypted, versioned, expiring log bucket', () => {
    const props = backupBucketOf(template());
    expect(props.LoggingConfiguration).toMatchObject({ DestinationBucketName: { Ref: expect.stringMatching(/^AccessLogsBucket/) }, LogFilePrefix: 'backup-bucket/' });
    template().hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
      VersioningConfiguration: { Status: 'Enabled' },
      LifecycleConfiguration: { Rules: Match.arrayWith([Match.objectLike({ Id: 'expire-access-logs', ExpirationInDays: 365, Status: 'Enabled' })]) },
    });
  });

  it('THEN each tier prefix has its transitions and expiration', () => {
    const rules = (backupBucketOf(template()).LifecycleConfiguration as { Rules: Record<string, unknown>[] }).Rules;
    const byId = Object.fromEntries(rules.map((rule) => [rule.Id, rule]));
    expect(byId['tier-daily']).toMatchObject({ Prefix: 'daily/', ExpirationInDays: 30, Status: 'Enabled' });
    expect(byId['tier-daily']).not.toHaveProperty('Transitions');
    expect(byId['tier-weekly']).toMatchObject({ Prefix: 'weekly/', ExpirationInDays: 90, Transitions: [{ StorageClass: 'STANDARD_IA', TransitionInDays: 30 }] });
    expect(byId['tier-monthly']).toMatchObject({
      Prefix: 'monthly/',
      ExpirationInDays: 365,
      Transitions: [
        { StorageClass: 'GLACIER', TransitionInDays: 30 },
        { StorageClass: 'DEEP_ARCHIVE', TransitionInDays: 120 },
      ],
    });
    expect(byId['tier-manual']).toMatchObject({ Prefix: 'manual/', ExpirationInDays: 7 });
    expect(byId['tier-predeploy']).toMatchObject({ Prefix: 'predeploy/', ExpirationInDays: 7 });
  });

  it('THEN noncurrent versions go to Glacier after 30 days and expire after 365; delete markers and incomplete uploads are cleaned', () => {
    const rules = (backupBucketOf(template()).LifecycleConfiguration as { Rules: Record<string, unknown>[] }).Rules;
    const byId = Object.fromEntries(rules.map((rule) => [rule.Id, rule]));
    expect(byId['noncurrent-versions']).toMatchObject({
      NoncurrentVersionTransitions: [{ StorageClass: 'GLACIER', TransitionInDays: 30 }],
      NoncurrentVersionExpiration: { NoncurrentDays: 365 },
    });
    expect(byId['expired-delete-markers']).toMatchObject({ ExpiredObjectDeleteMarker: true });
    expect(byId['abort-incomplete-multipart']).toMatchObject({ AbortIncompleteMultipartUpload: { DaysAfterInitiation: 7 } });
  });

  it('THEN every bucket and key is retained when the stack goes', () => {
    for (const type of ['AWS::S3::Bucket', 'AWS::KMS::Key']) {
      for (const resource of Object.values(template().findResources(type))) {
        expect(resource).toMatchObject({ DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
      }
    }
  });
});

describe('compliance mode', () => {
  it('GIVEN objectLock.mode COMPLIANCE THEN both buckets lock in compliance mode', () => {
    const { stacks } = buildTestApp({ objectLock: { mode: 'COMPLIANCE', defaultRetentionDays: 5 } });
    for (const stack of [stacks.storage, stacks.replicaStorage]) {
      Template.fromStack(stack).hasResourceProperties('AWS::S3::Bucket', {
        ObjectLockConfiguration: { ObjectLockEnabled: 'Enabled', Rule: { DefaultRetention: { Mode: 'COMPLIANCE', Days: 5 } } },
      });
    }
  });
});

describe('cross-region replication', () => {
  function replicationRule(): Record<string, unknown> {
    const config = backupBucketOf(primary).ReplicationConfiguration as { Rules: Record<string, unknown>[]; Role: unknown };
    expect(config.Rules).toHaveLength(1);
    return config.Rules[0] as Record<string, unknown>;
  }

  it('THEN every object replicates, KMS-encrypted ones included, to the replica bucket with the replica key', () => {
    expect(replicationRule()).toMatchObject({
      Status: 'Enabled',
      Filter: { Prefix: '' },
      SourceSelectionCriteria: { SseKmsEncryptedObjects: { Status: 'Enabled' } },
      Destination: {
        Bucket: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':s3:::backup-kit-replica-', { Ref: 'AWS::AccountId' }, '-eu-central-1']] },
        EncryptionConfiguration: {
          ReplicaKmsKeyID: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':kms:eu-central-1:', { Ref: 'AWS::AccountId' }, ':alias/backup-kit-backup-replica']] },
        },
      },
    });
  });

  it('THEN delete markers are not replicated', () => {
    expect(replicationRule()).toMatchObject({ DeleteMarkerReplication: { Status: 'Disabled' } });
  });

  it('THEN Replication Time Control and metrics are on by default', () => {
    expect(replicationRule()).toMatchObject({
      Destination: { ReplicationTime: { Status: 'Enabled', Time: { Minutes: 15 } }, Metrics: { Status: 'Enabled', EventThreshold: { Minutes: 15 } } },
    });
  });

  it('GIVEN RTC and metrics off THEN neither is configured', () => {
    const { stacks } = buildTestApp({ replication: { replicationTimeControl: false, metrics: false } });
    const bucket = Object.values(Template.fromStack(stacks.storage).findResources('AWS::S3::Bucket', { Properties: { ObjectLockEnabled: true } }))[0] as {
      Properties: { ReplicationConfiguration: { Rules: { Destination: Record<string, unknown> }[] } };
    };
    const destination = bucket.Properties.ReplicationConfiguration.Rules[0]?.Destination;
    expect(destination).not.toHaveProperty('ReplicationTime');
    expect(destination).not.toHaveProperty('Metrics');
  });

  it('THEN the replica bucket and key carry the names replication points at', () => {
    replica.hasResourceProperties('AWS::S3::Bucket', {
      BucketName: { 'Fn::Join': ['', ['backup-kit-replica-', { Ref: 'AWS::AccountId' }, '-eu-central-1']] },
    });
    replica.hasResourceProperties('AWS::KMS::Alias', { AliasName: 'alias/backup-kit-backup-replica' });
  });

  it('THEN the replication role touches only the two buckets and the two keys, and cannot replicate deletes', () => {
    const policies = Object.values(primary.findResources('AWS::IAM::Policy'));
    const replicationPolicy = policies.find((policy) => JSON.stringify(policy).includes('s3:ReplicateObject')) as {
      Properties: { PolicyDocument: { Statement: { Action: string | string[]; Resource: unknown; Condition?: unknown }[] } };
    };
    const statements = replicationPolicy.Properties.PolicyDocument.Statement;
    const actions = statements.flatMap((statement) => [statement.Action].flat());
    expect(actions).not.toContain('s3:ReplicateDelete');
    expect(actions.some((action) => action.includes('*'))).toBe(false);
    const resources = JSON.stringify(statements.map((statement) => statement.Resource));
    expect(resources).not.toMatch(/"\*"/);
    const encrypt = statements.find((statement) => [statement.Action].flat().includes('kms:Encrypt'));
    expect(encrypt?.Condition).toEqual({
      StringEquals: { 'kms:ViaService': 's3.eu-central-1.amazonaws.com' },
      'ForAnyValue:StringEquals': { 'kms:ResourceAliases': ['alias/backup-kit-backup-replica'] },
    });
    const decrypt = statements.find((statement) => [statement.Action].flat().includes('kms:Decrypt'));
    expect(decrypt?.Resource).toEqual({ 'Fn::GetAtt': [expect.stringMatching(/^BackupsKey/), 'Arn'] });
  });

  it('THEN the primary stack deploys after the replica stack', () => {
    const { stacks } = buildTestApp();
    expect(stacks.storage.dependencies.map((stack) => stack.stackName)).toContain(stacks.replicaStorage.stackName);
  });
});

describe('stateful logical IDs are pinned (a rename would replace a bucket or key)', () => {
  it('primary', () => {
    expect(Object.keys(primary.findResources('AWS::S3::Bucket')).sort()).toEqual(['AccessLogsBucketCD784A59', 'BackupsBucket2936A3AA', 'GuardTrailLogsD2B79308']);
    expect(Object.keys(primary.findResources('AWS::KMS::Key')).sort()).toEqual(['BackupsKeyC696F888', 'GuardTrailKeyDD3485B4', 'ManagedVaultKey32E4A2E7']);
  });

  it('replica', () => {
    expect(Object.keys(replica.findResources('AWS::S3::Bucket')).sort()).toEqual(['AccessLogsBucketCD784A59', 'ReplicaBucket80C984FB']);
    expect(Object.keys(replica.findResources('AWS::KMS::Key')).filter((id) => !id.startsWith('RegionalAlerts'))).toEqual(['ReplicaKey29E01B67']);
  });
});
