import { Match, Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import type { BackupKitConfigInput } from '../../lib/config/config';
import { buildTestApp } from '../foundation/app-fixture';
import { TemplateResolver, decide, type PolicyDocument } from '../support/iam';

const ACCOUNT = '111122223333';
const ORDERS = `arn:aws:rds:eu-west-1:${ACCOUNT}:db:orders-db`;
const SHOP = `arn:aws:rds:eu-west-1:${ACCOUNT}:cluster:shop-aurora`;

const managed: Partial<BackupKitConfigInput> = {
  primaryRegion: 'eu-west-1',
  drRegion: 'eu-central-1',
  account: ACCOUNT,
  timeZone: 'Europe/Berlin',
  guard: { breakGlassRoleName: 'backup-break-glass' },
  awsBackup: {
    classes: {
      databases: { resources: { rdsInstances: [ORDERS], auroraClusters: [SHOP] } },
      media: {
        resources: { s3Buckets: ['shop-media'] },
        rules: { daily: { schedule: 'cron(0 1 * * ? *)', retentionDays: 30, continuous: true, copyToDr: false } },
      },
    },
  },
};

describe('AWS Backup for the managed data classes', () => {
  const { stacks } = buildTestApp(managed);
  const storage = Template.fromStack(stacks.storage);
  const jobs = Template.fromStack(stacks.jobs);

  it('GIVEN no class in the config THEN nothing of AWS Backup is deployed (nothing billed)', () => {
    const plain = buildTestApp({ awsBackup: { classes: {} } }).stacks;
    expect(plain.managedVaultDr).toBeUndefined();
    Template.fromStack(plain.storage).resourceCountIs('AWS::Backup::BackupVault', 0);
    Template.fromStack(plain.jobs).resourceCountIs('AWS::Backup::BackupPlan', 0);
  });

  it('GIVEN classes THEN each region has one vault of the same name, with its own rotating key, a Vault Lock and retention on delete', () => {
    const dr = Template.fromStack(stacks.managedVaultDr!);
    for (const template of [storage, dr]) {
      template.resourceCountIs('AWS::Backup::BackupVault', 1);
      template.hasResource('AWS::Backup::BackupVault', {
        DeletionPolicy: 'Retain',
        Properties: {
          BackupVaultName: 'backup-kit-managed',
          EncryptionKeyArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^ManagedVaultKey'), 'Arn'] },
          // GOVERNANCE by default: no ChangeableForDays, so the lock is not made immutable
          LockConfiguration: { MinRetentionDays: 7, MaxRetentionDays: 3650 },
        },
      });
      template.hasResourceProperties('AWS::KMS::Key', { Description: Match.stringLikeRegexp('AWS Backup recovery points'), EnableKeyRotation: true });
    }
    expect(stacks.managedVaultDr?.region).toBe('eu-central-1');
  });

  it('GIVEN COMPLIANCE mode THEN the lock becomes immutable after changeableForDays', () => {
    const compliance = buildTestApp({ ...managed, awsBackup: { ...managed.awsBackup, vaultLock: { mode: 'COMPLIANCE', changeableForDays: 5 } } }).stacks;
    Template.fromStack(compliance.storage).hasResourceProperties('AWS::Backup::BackupVault', { LockConfiguration: { MinRetentionDays: 7, MaxRetentionDays: 3650, ChangeableForDays: 5 } });
  });

  it('GIVEN the vault policy THEN it denies deleting recovery points and shortening their lifecycle to all but the break-glass role, and changing the policy or lock to all but it and the deploy role', () => {
    const vault = Object.values(storage.findResources('AWS::Backup::BackupVault'))[0] as { Properties: { AccessPolicy: { Statement: Record<string, unknown>[] } } };
    const statements = vault.Properties.AccessPolicy.Statement;
    const guard = statements.find((statement) => statement.Sid === 'GuardRecoveryPoints');
    expect(guard).toMatchObject({ Effect: 'Deny', Principal: { AWS: '*' }, Action: ['backup:DeleteRecoveryPoint', 'backup:UpdateRecoveryPointLifecycle', 'backup:DisassociateRecoveryPoint'] });
    expect(JSON.stringify(guard?.Condition)).toMatch(/ArnNotLike.*role\/backup-break-glass/);
    expect(JSON.stringify(guard?.Condition)).not.toMatch(/cfn-exec-role/);
    const vaultGuard = statements.find((statement) => statement.Sid === 'GuardVault');
    expect(vaultGuard).toMatchObject({ Effect: 'Deny', Principal: { AWS: '*' } });
    expect(vaultGuard?.Action).toEqual(expect.arrayContaining(['backup:PutBackupVaultAccessPolicy', 'backup:DeleteBackupVaultLockConfiguration', 'backup:DeleteBackupVault']));
    expect(JSON.stringify(vaultGuard?.Condition)).toMatch(/role\/cdk-\*-cfn-exec-role-\*.*role\/backup-break-glass/);
  });

  it("GIVEN the plans THEN each class's rules run in the config's time zone, keep their retention, and copy to the DR vault by name", () => {
    jobs.resourceCountIs('AWS::Backup::BackupPlan', 2);
    jobs.hasResourceProperties('AWS::Backup::BackupPlan', {
      BackupPlan: {
        BackupPlanName: 'backup-kit-databases',
        BackupPlanRule: Match.arrayWith([
          Match.objectLike({
            RuleName: 'daily',
            ScheduleExpression: 'cron(0 3 * * ? *)',
            ScheduleExpressionTimezone: 'Europe/Berlin',
            Lifecycle: { DeleteAfterDays: 35 },
            CopyActions: [{ DestinationBackupVaultArn: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':backup:eu-central-1:', { Ref: 'AWS::AccountId' }, ':backup-vault:backup-kit-managed']] }, Lifecycle: { DeleteAfterDays: 35 } }],
          }),
          Match.objectLike({ RuleName: 'monthly', ScheduleExpression: 'cron(0 5 1 * ? *)', Lifecycle: { DeleteAfterDays: 365 } }),
        ]),
      },
    });
    jobs.hasResourceProperties('AWS::Backup::BackupPlan', {
      BackupPlan: {
        BackupPlanName: 'backup-kit-media',
        BackupPlanRule: [Match.objectLike({ RuleName: 'daily', EnableContinuousBackup: true, Lifecycle: { DeleteAfterDays: 30 }, CopyActions: Match.absent() })],
      },
    });
  });

  it('GIVEN the selections THEN they name exactly the configured resources, backed up by one role with S3 backup rights', () => {
    jobs.hasResourceProperties('AWS::Backup::BackupSelection', { BackupSelection: Match.objectLike({ SelectionName: 'backup-kit-databases', Resources: [ORDERS, SHOP] }) });
    jobs.hasResourceProperties('AWS::Backup::BackupSelection', {
      BackupSelection: Match.objectLike({ SelectionName: 'backup-kit-media', Resources: [{ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':s3:::shop-media']] }] }),
    });
    jobs.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: { Statement: [Match.objectLike({ Principal: { Service: 'backup.amazonaws.com' }, Condition: { StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } } })] },
      ManagedPolicyArns: Match.arrayWith([Match.objectLike({ 'Fn::Join': ['', Match.arrayWith([Match.stringLikeRegexp('AWSBackupServiceRolePolicyForS3Backup')])] })]),
    });
  });

  it('GIVEN jobs that fail, are aborted, expire or end partial THEN each kind alerts on the alert topic naming the job, with a dead-letter queue under an alarm', () => {
    for (const detailType of ['Backup Job State Change', 'Copy Job State Change', 'Restore Job State Change']) {
      jobs.hasResourceProperties('AWS::Events::Rule', {
        EventPattern: { source: ['aws.backup'], 'detail-type': [detailType], detail: { state: ['FAILED', 'ABORTED', 'EXPIRED', 'PARTIAL'] } },
        Targets: [Match.objectLike({ Arn: { Ref: Match.stringLikeRegexp('^AlertsTopic') }, DeadLetterConfig: Match.anyValue(), InputTransformer: Match.objectLike({ InputTemplate: Match.stringLikeRegexp('docs/aws-backup.md') }) })],
      });
    }
    jobs.hasResourceProperties('AWS::CloudWatch::Alarm', { AlarmDescription: Match.stringLikeRegexp('AWS Backup job alerts') });
  });

  it('GIVEN restore jobs that complete or fail in the DR region (a console restore from the DR vault) THEN its vault stack forwards them to the primary bus, dead-lettered and alarmed, with a role that may put events there only', async () => {
    const dr = Template.fromStack(stacks.managedVaultDr!);
    dr.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: { source: ['aws.backup'], 'detail-type': ['Restore Job State Change'], detail: { state: ['COMPLETED', 'FAILED', 'ABORTED', 'EXPIRED', 'PARTIAL'] } },
      Targets: [Match.objectLike({ Arn: { 'Fn::Join': ['', Match.arrayWith([Match.stringLikeRegexp(':events:eu-west-1:')])] }, DeadLetterConfig: Match.anyValue(), RoleArn: Match.anyValue() })],
    });
    dr.hasResourceProperties('AWS::CloudWatch::Alarm', { AlarmDescription: Match.stringLikeRegexp('forwards AWS Backup restore jobs to eu-west-1 failed to deliver') });
    const resolver = new TemplateResolver([stacks.managedVaultDr!]);
    const [, rule] = resolver.resourcesOf(stacks.managedVaultDr!, 'AWS::Events::Rule').find(([id]) => id.startsWith('ForwardRestoreJobs')) ?? [];
    const roleId = String((rule?.Targets as { RoleArn: { 'Fn::GetAtt': [string] } }[] | undefined)?.[0]?.RoleArn['Fn::GetAtt'][0]);
    const policies = resolver
      .resourcesOf(stacks.managedVaultDr!, 'AWS::IAM::Policy')
      .filter(([, policy]) => JSON.stringify(policy.Roles).includes(roleId))
      .map(([, policy]) => resolver.policy(policy.PolicyDocument ?? null, stacks.managedVaultDr!) as PolicyDocument);
    const as = (resource: string) => decide({ principal: `arn:aws:iam::${ACCOUNT}:role/forward`, identityPolicies: policies, action: 'events:PutEvents', resource });
    expect(await as(`arn:aws:events:eu-west-1:${ACCOUNT}:event-bus/default`)).toBe('Allowed');
    expect(await as(`arn:aws:events:eu-central-1:${ACCOUNT}:event-bus/default`)).toBe('ImplicitlyDenied');
    // The primary region's report and job alerts match them there: neither filters on the region.
    for (const template of [jobs]) {
      const patterns = Object.values(template.findResources('AWS::Events::Rule')).map((found) => found.Properties.EventPattern as { 'detail-type'?: string[]; region?: unknown } | undefined);
      const restoreRules = patterns.filter((pattern) => pattern?.['detail-type']?.includes('Restore Job State Change'));
      expect(restoreRules).toHaveLength(2);
      for (const pattern of restoreRules) expect(pattern?.region).toBeUndefined();
    }
  });

  describe('the recovery point age of each resource named by ARN or bucket name', () => {
    const resolver = new TemplateResolver([stacks.storage, stacks.jobs]);
    const [, ageFunction] = resolver.resourcesOf(stacks.jobs, 'AWS::Lambda::Function').find(([, fn]) => JSON.stringify(fn.Environment ?? {}).includes('MANAGED_BACKUP_SETTINGS')) ?? [];
    const settings = JSON.parse(String((resolver.resolve((ageFunction?.Environment ?? null) as never, stacks.jobs) as { Variables: Record<string, string> }).Variables.MANAGED_BACKUP_SETTINGS)) as {
      vaultName: string;
      resources: { name: string; arn: string; className: string; maxAgeHours: number; backupPlanId: string; selectionId: string }[];
    };

    it('GIVEN a class with daily snapshots and one with only continuous backup THEN the first class\'s resources are watched at 36 h, the other\'s not (synth warned)', () => {
      expect(settings.vaultName).toBe('backup-kit-managed');
      expect(settings.resources.map(({ name, arn, className, maxAgeHours }) => ({ name, arn, className, maxAgeHours }))).toEqual([
        { name: 'rds:orders-db', arn: ORDERS, className: 'databases', maxAgeHours: 36 },
        { name: 'aurora:shop-aurora', arn: SHOP, className: 'databases', maxAgeHours: 36 },
      ]);
      // The plan and selection ids of the class, so a resource never backed up counts from its enrolment.
      expect(settings.resources[0]?.backupPlanId).toMatch(/^ManagedBackupPlandatabases.*\.BackupPlanId$/);
      expect(settings.resources[0]?.selectionId).toMatch(/^ManagedBackupPlandatabasesSelection.*\.SelectionId$/);
    });

    it('GIVEN the watched resources THEN each has an alarm on its own series that breaches on missing data, made after the report at deploy; the report runs hourly', () => {
      const alarms = jobs.findResources('AWS::CloudWatch::Alarm', { Properties: { MetricName: 'HoursSinceLastRecoveryPoint' } });
      const [reportAtDeploy] = Object.keys(jobs.findResources('Custom::RecoveryPointAgesAtDeploy'));
      expect(Object.values(alarms).map((alarm) => (alarm.Properties.Dimensions as { Name: string; Value: string }[]).find((d) => d.Name === 'Resource')?.Value).sort()).toEqual(['aurora:shop-aurora', 'rds:orders-db']);
      for (const alarm of Object.values(alarms)) {
        expect(alarm.Properties).toMatchObject({ Namespace: 'BackupKit', Threshold: 36, ComparisonOperator: 'GreaterThanThreshold', EvaluationPeriods: 2, Period: 3600, Statistic: 'Maximum', TreatMissingData: 'breaching' });
        expect(alarm.Properties.AlarmDescription).toMatch(/docs\/aws-backup\.md#a-resource-has-no-recent-recovery-point/);
        expect(alarm.DependsOn).toContain(reportAtDeploy);
      }
      jobs.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'cron(25 * * * ? *)', Targets: [Match.objectLike({ Input: JSON.stringify({ action: 'report-ages' }), RetryPolicy: Match.objectLike({ MaximumRetryAttempts: 2 }) })] });
    });

    it('GIVEN a restore-tested class THEN each of its resources has an alarm on the days since its last passed restore test, as a drill of it: daily, breaching on missing data, made after the report', () => {
      const alarms = jobs.findResources('AWS::CloudWatch::Alarm', { Properties: { MetricName: 'DaysSinceLastSuccessfulDrill', Dimensions: Match.arrayWith([Match.objectLike({ Name: 'Target' })]) } });
      const [reportAtDeploy] = Object.keys(jobs.findResources('Custom::RecoveryPointAgesAtDeploy'));
      expect(Object.values(alarms).map((alarm) => (alarm.Properties.Dimensions as { Name: string; Value: string }[]).find((d) => d.Name === 'Target')?.Value).sort()).toEqual(['aurora:shop-aurora', 'rds:orders-db']);
      for (const alarm of Object.values(alarms)) {
        expect(alarm.Properties).toMatchObject({ Namespace: 'BackupKit', Threshold: 33, EvaluationPeriods: 2, Period: 86400, Statistic: 'Maximum', TreatMissingData: 'breaching' });
        expect(alarm.Properties.Dimensions).toContainEqual({ Name: 'service', Value: 'drill' });
        expect(alarm.Properties.AlarmDescription).toMatch(/docs\/aws-backup\.md#a-restore-test-failed/);
        expect(alarm.DependsOn).toContain(reportAtDeploy);
      }
    });

    it('GIVEN the report function\'s role THEN it may read recovery points and its own plans\' selections, and change nothing', async () => {
      const roleId = (ageFunction?.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
      const policies = resolver
        .resourcesOf(stacks.jobs, 'AWS::IAM::Policy')
        .filter(([, policy]) => JSON.stringify(policy.Roles).includes(roleId))
        .map(([, policy]) => resolver.policy(policy.PolicyDocument ?? null, stacks.jobs) as PolicyDocument);
      const plan = (id: string) => `arn:aws:backup:eu-west-1:${ACCOUNT}:backup-plan:${id}`;
      const ownPlan = resolver.resourcesOf(stacks.jobs, 'AWS::Backup::BackupPlan').map(([id]) => plan(id))[0] ?? '';
      const as = (action: string, resource: string) => decide({ principal: `arn:aws:iam::${ACCOUNT}:role/age-report`, identityPolicies: policies, action, resource });
      expect(await as('backup:ListRecoveryPointsByResource', '*')).toBe('Allowed');
      expect(await as('backup:ListRestoreJobsByProtectedResource', '*')).toBe('Allowed');
      expect(await as('backup:GetBackupSelection', ownPlan)).toBe('Allowed');
      expect(await as('backup:GetBackupSelection', plan('someone-elses-plan'))).toBe('ImplicitlyDenied');
      const recoveryPoint = `arn:aws:backup:eu-west-1:${ACCOUNT}:recovery-point:0b5fa2a3-7f41-4d56-9e1c-3c1f6d2f8a11`;
      expect(await as('backup:DeleteRecoveryPoint', recoveryPoint)).toBe('ImplicitlyDenied');
      expect(await as('backup:StartRestoreJob', recoveryPoint)).toBe('ImplicitlyDenied');
      expect(await as('backup:StartBackupJob', `arn:aws:backup:eu-west-1:${ACCOUNT}:backup-vault:backup-kit-managed`)).toBe('ImplicitlyDenied');
    });
  });

  describe('restore testing', () => {
    it('GIVEN the default restore testing THEN each class has a monthly plan in the config time zone restoring the newest snapshot of the primary vault, and a selection per resource type naming exactly its resources', () => {
      jobs.resourceCountIs('AWS::Backup::RestoreTestingPlan', 2);
      jobs.hasResourceProperties('AWS::Backup::RestoreTestingPlan', {
        RestoreTestingPlanName: 'backup_kit_databases',
        ScheduleExpression: 'cron(0 6 15 * ? *)',
        ScheduleExpressionTimezone: 'Europe/Berlin',
        RecoveryPointSelection: {
          Algorithm: 'LATEST_WITHIN_WINDOW',
          IncludeVaults: [{ 'Fn::ImportValue': Match.stringLikeRegexp('ManagedVault') }],
          RecoveryPointTypes: ['SNAPSHOT'],
          SelectionWindowDays: 35,
        },
      });
      const selections = Object.values(jobs.findResources('AWS::Backup::RestoreTestingSelection')).map((resource) => resource.Properties as Record<string, unknown>);
      expect(selections.map(({ RestoreTestingPlanName, ProtectedResourceType, ProtectedResourceArns, ValidationWindowHours }) => [RestoreTestingPlanName, ProtectedResourceType, ProtectedResourceArns, ValidationWindowHours])).toEqual([
        ['backup_kit_databases', 'RDS', [ORDERS], 2],
        ['backup_kit_databases', 'Aurora', [SHOP], 2],
        ['backup_kit_media', 'S3', [{ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':s3:::shop-media']] }], 2],
      ]);
    });

    it('GIVEN the restore role THEN only AWS Backup of this account assumes it, with the restore policies (S3 too: a bucket is tested)', () => {
      jobs.hasResourceProperties('AWS::IAM::Role', {
        Description: Match.stringLikeRegexp('restore testing'),
        AssumeRolePolicyDocument: { Statement: [Match.objectLike({ Principal: { Service: 'backup.amazonaws.com' }, Condition: { StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } } })] },
        ManagedPolicyArns: [
          Match.objectLike({ 'Fn::Join': ['', Match.arrayWith([Match.stringLikeRegexp('service-role/AWSBackupServiceRolePolicyForRestores')])] }),
          Match.objectLike({ 'Fn::Join': ['', Match.arrayWith([Match.stringLikeRegexp('AWSBackupServiceRolePolicyForS3Restore')])] }),
        ],
      });
    });

    it('GIVEN a network for the restore tests THEN the RDS and Aurora copies get its subnet group and security groups; a bucket\'s selection gets none', () => {
      const network = { subnetGroupName: 'shop-db-subnets', securityGroupIds: ['sg-0f1e2d3c4b5a69788', 'sg-0a1b2c3d4e5f60718'] };
      const classes = { databases: { resources: { rdsInstances: [ORDERS], auroraClusters: [SHOP], s3Buckets: ['shop-media'] }, restoreTesting: { network } } };
      const own = Template.fromStack(buildTestApp({ ...managed, awsBackup: { classes } }).stacks.jobs);
      const overrides = Object.values(own.findResources('AWS::Backup::RestoreTestingSelection')).map((resource) => [resource.Properties.ProtectedResourceType, resource.Properties.RestoreMetadataOverrides]);
      expect(overrides).toEqual([
        ['RDS', { dbSubnetGroupName: 'shop-db-subnets', vpcSecurityGroupIds: '["sg-0f1e2d3c4b5a69788","sg-0a1b2c3d4e5f60718"]' }],
        ['Aurora', { dbSubnetGroupName: 'shop-db-subnets', vpcSecurityGroupIds: '["sg-0f1e2d3c4b5a69788","sg-0a1b2c3d4e5f60718"]' }],
        ['S3', undefined],
      ]);
    });

    it('GIVEN 31 buckets in a class THEN they are split into selections of at most 30 ARNs, as AWS Backup requires', () => {
      const buckets = Array.from({ length: 31 }, (_, index) => `shop-media-${index}`);
      const own = Template.fromStack(buildTestApp({ ...managed, awsBackup: { classes: { media: { resources: { s3Buckets: buckets } } } } }).stacks.jobs);
      const selections = Object.values(own.findResources('AWS::Backup::RestoreTestingSelection')).map((resource) => resource.Properties as { RestoreTestingSelectionName: string; ProtectedResourceArns: unknown[] });
      expect(selections.map((selection) => [selection.RestoreTestingSelectionName, selection.ProtectedResourceArns.length])).toEqual([
        ['s3_media', 30],
        ['s3_media_2', 1],
      ]);
    });

    it('GIVEN restore testing turned off for a class, or its own schedule and window THEN the plans follow', () => {
      const classes = {
        databases: { resources: { rdsInstances: [ORDERS] }, restoreTesting: { schedule: 'cron(30 4 1 */3 ? *)', validationWindowHours: 6, algorithm: 'RANDOM_WITHIN_WINDOW' as const, alarmAfterDays: 100 } },
        media: { resources: { s3Buckets: ['shop-media'] }, restoreTesting: { enabled: false } },
      };
      const own = Template.fromStack(buildTestApp({ ...managed, awsBackup: { classes } }).stacks.jobs);
      own.resourceCountIs('AWS::Backup::RestoreTestingPlan', 1);
      own.hasResourceProperties('AWS::Backup::RestoreTestingPlan', { ScheduleExpression: 'cron(30 4 1 */3 ? *)', RecoveryPointSelection: Match.objectLike({ Algorithm: 'RANDOM_WITHIN_WINDOW' }) });
      own.hasResourceProperties('AWS::Backup::RestoreTestingSelection', { ProtectedResourceType: 'RDS', ValidationWindowHours: 6 });
      // No bucket tested: the role gets no S3 restore policy.
      const roles = Object.values(own.findResources('AWS::IAM::Role', { Properties: { Description: Match.stringLikeRegexp('restore testing') } }));
      expect(JSON.stringify(roles)).not.toContain('S3Restore');
    });
  });

  it('GIVEN the whole app with AWS Backup under cdk-nag THEN there is no unacknowledged finding', () => {
    const { app } = buildTestApp(managed, { nag: true });
    expect(() => app.synth()).not.toThrow();
  });
});
