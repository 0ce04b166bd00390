import { Match, Template } from 'aws-cdk-lib/assertions';
import { Annotations } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import type { BackupKitConfigInput } from '../../lib/config/config';
import { buildTestApp } from '../foundation/app-fixture';
import { TemplateResolver, decide, type PolicyDocument } from '../support/iam';

/** The console restore of AWS Backup recovery points: its function, its settings, and what its two roles may do. */

const ACCOUNT = '111122223333';
const ORDERS = `arn:aws:rds:eu-west-1:${ACCOUNT}:db:orders-db`;
const SHOP = `arn:aws:rds:eu-west-1:${ACCOUNT}:cluster:shop-aurora`;

const managed: Partial<BackupKitConfigInput> = {
  primaryRegion: 'eu-west-1',
  drRegion: 'eu-central-1',
  account: ACCOUNT,
  awsBackup: {
    classes: {
      databases: { resources: { rdsInstances: [ORDERS], auroraClusters: [SHOP] } },
      media: { resources: { s3Buckets: ['shop-media'] }, rules: { daily: { schedule: 'cron(0 1 * * ? *)', retentionDays: 30, copyToDr: false } } },
    },
  },
};

describe('console restores from AWS Backup recovery points', () => {
  const { stacks } = buildTestApp(managed);
  const jobs = Template.fromStack(stacks.jobs);
  const resolver = new TemplateResolver([stacks.storage, stacks.jobs]);
  const [, restoreFunction] = resolver.resourcesOf(stacks.jobs, 'AWS::Lambda::Function').find(([, fn]) => JSON.stringify(fn.Environment ?? {}).includes('MANAGED_RESTORE_SETTINGS')) ?? [];
  const settings = JSON.parse(String((resolver.resolve((restoreFunction?.Environment ?? null) as never, stacks.jobs) as { Variables: Record<string, string> }).Variables.MANAGED_RESTORE_SETTINGS)) as {
    vaultName: string;
    restoreRoleArn: string;
    resources: { name: string; kind: string; identifier: string; arn: string; copiedToDr: boolean }[];
  };
  const policiesOf = (roleArnOrId: string) => {
    const [roleId] = Object.entries(resolver.resourcesOf(stacks.jobs, 'AWS::IAM::Role')).map(([, [id]]) => id).filter((id) => roleArnOrId.includes(id));
    return resolver
      .resourcesOf(stacks.jobs, 'AWS::IAM::Policy')
      .filter(([, policy]) => JSON.stringify(policy.Roles).includes(String(roleId)))
      .map(([, policy]) => resolver.policy(policy.PolicyDocument ?? null, stacks.jobs) as PolicyDocument);
  };

  it('GIVEN the config\'s RDS instance, Aurora cluster and bucket THEN the function knows each by kind and name, and which class copies to the DR region', () => {
    expect(settings.vaultName).toBe('backup-kit-managed');
    expect(settings.resources.map(({ name, kind, identifier, arn, copiedToDr }) => ({ name, kind, identifier, arn, copiedToDr }))).toEqual([
      { name: 'rds:orders-db', kind: 'rds', identifier: 'orders-db', arn: ORDERS, copiedToDr: true },
      { name: 'aurora:shop-aurora', kind: 'aurora', identifier: 'shop-aurora', arn: SHOP, copiedToDr: true },
      { name: 's3:shop-media', kind: 's3', identifier: 'shop-media', arn: 'arn:aws:s3:::shop-media', copiedToDr: false },
    ]);
  });

  it('GIVEN AWS Backup\'s restore role THEN only AWS Backup of this account assumes it, and whatever AWS\'s managed policies allow, it writes only <source>-restored-* buckets and databases', async () => {
    jobs.hasResourceProperties('AWS::IAM::Role', {
      Description: Match.stringLikeRegexp('console restores'),
      AssumeRolePolicyDocument: { Statement: [Match.objectLike({ Principal: { Service: 'backup.amazonaws.com' }, Condition: { StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } } })] },
    });
    // AWS's restore policies allow these on every resource: stand in for them.
    const managedPolicies: PolicyDocument = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: ['s3:*', 'rds:*'], Resource: '*' }] };
    const policies = [managedPolicies, ...policiesOf(settings.restoreRoleArn)];
    const as = (action: string, resource: string) => decide({ principal: settings.restoreRoleArn, identityPolicies: policies, action, resource });
    expect(await as('s3:PutObject', 'arn:aws:s3:::shop-media-restored-202602010500/uploads/a.png')).toBe('Allowed');
    expect(await as('s3:CreateBucket', 'arn:aws:s3:::shop-media-restored-202602010500')).toBe('Allowed');
    expect(await as('s3:PutObject', 'arn:aws:s3:::shop-media/uploads/a.png')).toBe('ExplicitlyDenied');
    expect(await as('s3:DeleteObjectVersion', 'arn:aws:s3:::shop-media/uploads/a.png')).toBe('ExplicitlyDenied');
    expect(await as('s3:PutBucketPolicy', 'arn:aws:s3:::shop-media')).toBe('ExplicitlyDenied');
    expect(await as('s3:PutObject', `arn:aws:s3:::backup-kit-backups-${ACCOUNT}/x`)).toBe('ExplicitlyDenied');
    expect(await as('rds:ModifyDBInstance', `arn:aws:rds:eu-west-1:${ACCOUNT}:db:orders-db-restored-202602020305`)).toBe('Allowed');
    expect(await as('rds:DeleteDBInstance', `arn:aws:rds:eu-west-1:${ACCOUNT}:db:orders-db`)).toBe('ExplicitlyDenied');
    expect(await as('rds:ModifyDBCluster', `arn:aws:rds:eu-west-1:${ACCOUNT}:cluster:shop-aurora`)).toBe('ExplicitlyDenied');
    expect(await as('rds:DeleteDBCluster', `arn:aws:rds:eu-central-1:${ACCOUNT}:cluster:shop-aurora`)).toBe('ExplicitlyDenied');
  });

  it('GIVEN the function\'s role THEN it reads the kit\'s vaults, starts restores only with the restore role, and can change nothing itself', async () => {
    const roleRef = JSON.stringify(restoreFunction?.Role);
    const policies = policiesOf(roleRef);
    const as = (action: string, resource: string, context?: Record<string, string>) => decide({ principal: `arn:aws:iam::${ACCOUNT}:role/managed-restore`, identityPolicies: policies, action, resource, ...(context ? { context } : {}) });
    const vault = (region: string, name = 'backup-kit-managed') => `arn:aws:backup:${region}:${ACCOUNT}:backup-vault:${name}`;
    // A bucket's recovery point is AWS Backup's own; a database's, the snapshot AWS Backup made.
    const recoveryPoints = (region: string) => [
      `arn:aws:backup:${region}:${ACCOUNT}:recovery-point:0b5fa2a3-7f41-4d56-9e1c-3c1f6d2f8a11`,
      `arn:aws:rds:${region}:${ACCOUNT}:snapshot:awsbackup:job-be59cf2a-2343-4402-bd8b-226993d23453`,
      `arn:aws:rds:${region}:${ACCOUNT}:cluster-snapshot:awsbackup:copyjob-8f3c1d2e`,
    ];
    for (const region of ['eu-west-1', 'eu-central-1']) {
      expect(await as('backup:ListRecoveryPointsByBackupVault', vault(region))).toBe('Allowed');
      for (const recoveryPoint of recoveryPoints(region)) {
        expect(await as('backup:GetRecoveryPointRestoreMetadata', recoveryPoint)).toBe('Allowed');
        expect(await as('backup:StartRestoreJob', recoveryPoint)).toBe('Allowed');
        expect(await as('backup:DeleteRecoveryPoint', recoveryPoint)).toBe('ImplicitlyDenied');
      }
    }
    // A snapshot someone took by hand is not a recovery point of the vault.
    expect(await as('backup:StartRestoreJob', `arn:aws:rds:eu-west-1:${ACCOUNT}:snapshot:before-migration`)).toBe('ImplicitlyDenied');
    expect(await as('backup:ListRecoveryPointsByBackupVault', vault('eu-west-1', 'someone-elses'))).toBe('ImplicitlyDenied');
    expect(await as('iam:PassRole', settings.restoreRoleArn, { 'iam:PassedToService': 'backup.amazonaws.com' })).toBe('Allowed');
    expect(await as('iam:PassRole', settings.restoreRoleArn, { 'iam:PassedToService': 'ec2.amazonaws.com' })).toBe('ImplicitlyDenied');
    expect(await as('iam:PassRole', `arn:aws:iam::${ACCOUNT}:role/admin`, { 'iam:PassedToService': 'backup.amazonaws.com' })).toBe('ImplicitlyDenied');
    expect(await as('s3:ListBucket', 'arn:aws:s3:::shop-media-restored-x')).toBe('Allowed');
    expect(await as('s3:GetBucketVersioning', 'arn:aws:s3:::shop-media')).toBe('Allowed');
    expect(await as('s3:PutObject', 'arn:aws:s3:::shop-media-restored-x/a')).toBe('ImplicitlyDenied');
    expect(await as('rds:DescribeDBInstances', `arn:aws:rds:eu-central-1:${ACCOUNT}:db:orders-db-restored-x`)).toBe('Allowed');
    expect(await as('rds:DescribeDBClusters', `arn:aws:rds:eu-west-1:${ACCOUNT}:cluster:shop-aurora-restored-x`)).toBe('Allowed');
    expect(await as('rds:RestoreDBInstanceFromDBSnapshot', `arn:aws:rds:eu-west-1:${ACCOUNT}:db:orders-db-restored-x`)).toBe('ImplicitlyDenied');
  });

  it('GIVEN a restore job that completes THEN the completion report runs, dead-lettered, and may read restore jobs and mail the alert topic, nothing more', async () => {
    jobs.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: { source: ['aws.backup'], 'detail-type': ['Restore Job State Change'], detail: { state: ['COMPLETED'] } },
      Targets: [Match.objectLike({ DeadLetterConfig: Match.anyValue(), RetryPolicy: Match.objectLike({ MaximumRetryAttempts: 4 }) })],
    });
    const [, completion] = resolver.resourcesOf(stacks.jobs, 'AWS::Lambda::Function').find(([, fn]) => JSON.stringify(fn.Environment ?? {}).includes('MANAGED_RESTORE_ALERT_TOPIC')) ?? [];
    expect(completion).toBeDefined();
    const policies = policiesOf(JSON.stringify(completion?.Role));
    const as = (action: string, resource: string) => decide({ principal: `arn:aws:iam::${ACCOUNT}:role/managed-restore-completion`, identityPolicies: policies, action, resource });
    expect(await as('backup:DescribeRestoreJob', '*')).toBe('Allowed');
    // Restore tests: their copies and the live bucket listed, the copies described, the verdict stamped; no object read.
    expect(await as('backup:PutRestoreValidationResult', '*')).toBe('Allowed');
    expect(await as('s3:ListBucket', 'arn:aws:s3:::awsbackup-restore-test-5f2c9a')).toBe('Allowed');
    expect(await as('s3:ListBucket', 'arn:aws:s3:::shop-media')).toBe('Allowed');
    expect(await as('s3:ListBucket', `arn:aws:s3:::backup-kit-backups-${ACCOUNT}`)).toBe('ImplicitlyDenied');
    expect(await as('s3:GetObject', 'arn:aws:s3:::awsbackup-restore-test-5f2c9a/a.jpg')).toBe('ImplicitlyDenied');
    expect(await as('rds:DescribeDBInstances', `arn:aws:rds:eu-west-1:${ACCOUNT}:db:awsbackup-restore-test-8c1d`)).toBe('Allowed');
    expect(await as('rds:DescribeDBClusters', `arn:aws:rds:eu-west-1:${ACCOUNT}:cluster:awsbackup-restore-test-77aa`)).toBe('Allowed');
    expect(await as('rds:DescribeDBInstances', `arn:aws:rds:eu-west-1:${ACCOUNT}:db:orders-db`)).toBe('ImplicitlyDenied');
    expect(await as('backup:StartRestoreJob', `arn:aws:backup:eu-west-1:${ACCOUNT}:recovery-point:x`)).toBe('ImplicitlyDenied');
    expect(await as('iam:PassRole', settings.restoreRoleArn)).toBe('ImplicitlyDenied');
    const alarms = Object.values(jobs.findResources('AWS::CloudWatch::Alarm')).map((alarm) => String(alarm.Properties.AlarmDescription));
    expect(alarms.filter((text) => text.includes('AWS Backup restore'))).toHaveLength(3);
  });

  it('GIVEN the function THEN its console has dry-run test events for a database and a bucket', () => {
    const schemas = Object.values(jobs.findResources('AWS::EventSchemas::Schema')).map((schema) => String(schema.Properties.Content));
    const restoreSchema = schemas.find((content) => content.includes('recoveryPoint'));
    expect(restoreSchema).toBeDefined();
    for (const name of ['database latest dry run', 'database a month ago dry run', 'bucket latest dry run', 'bucket prefix dry run']) expect(restoreSchema).toContain(name);
  });

  it('GIVEN a source whose restored name would not fit 63 characters THEN synth warns that the function does not offer it', () => {
    const long = `arn:aws:rds:eu-west-1:${ACCOUNT}:db:${'a'.repeat(45)}`;
    const { stacks: own } = buildTestApp({ ...managed, awsBackup: { classes: { databases: { resources: { rdsInstances: [ORDERS, long] } } } } });
    Annotations.fromStack(own.jobs).hasWarning('*', Match.stringLikeRegexp(`rds:${'a'.repeat(45)} is backed up, but its name is longer than 41 characters`));
  });
});
