import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import isolatedConfig from '../../config/isolated-account';
import { loadConfig } from '../../lib/config/config';
import { buildTestApp } from '../foundation/app-fixture';
import { matchesPattern } from '../support/event-patterns';
import { ACCOUNT, TemplateResolver, decide, type PolicyDocument } from '../support/iam';

/**
 * AWS Backup with an isolated backup account: every recovery point is also copied into a vault of
 * that account, in the primary region (RDS and Aurora copy across accounts or regions, not both),
 * where the workload account's administrators cannot reach it.
 */

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
const ISOLATED = '222222222222';
const PRIMARY = 'eu-west-1';
const GUARD = { breakGlassRoleName: 'backup-break-glass', deployRoleNamePattern: 'cdk-*-cfn-exec-role-*' };
const { stacks } = buildTestApp({ ...isolatedConfig, guard: GUARD });
const isolatedStack = stacks.managedVaultIsolated!;
const resolver = new TemplateResolver([stacks.storage, stacks.jobs, isolatedStack]);
const ISOLATED_VAULT = `arn:aws:backup:${PRIMARY}:${ISOLATED}:backup-vault:backup-kit-managed`;
const RECOVERY_POINT = `arn:aws:backup:${PRIMARY}:${ISOLATED}:recovery-point:0b5fa2a3-7f41-4d56-9e1c-3c1f6d2f8a11`;
const administrator: PolicyDocument = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] };

describe("the isolated account's AWS Backup vault", () => {
  const [, vault] = resolver.resourcesOf(isolatedStack, 'AWS::Backup::BackupVault')[0] ?? [];
  const vaultPolicy = resolver.policy((vault?.AccessPolicy as never) ?? null, isolatedStack);
  const intoVault = (principal: string, action: string, resource = ISOLATED_VAULT) =>
    decide({ principal, identityPolicies: [administrator], resourcePolicy: vaultPolicy, action, resource, resourceAccount: ISOLATED });

  it('GIVEN the isolated-account example THEN the vault is in that account, in the primary region, locked and kept on delete', () => {
    expect(isolatedStack.account).toBe(ISOLATED);
    expect(isolatedStack.region).toBe(PRIMARY);
    expect(isolatedStack.terminationProtection).toBe(true);
    Template.fromStack(isolatedStack).hasResource('AWS::Backup::BackupVault', {
      DeletionPolicy: 'Retain',
      Properties: { BackupVaultName: 'backup-kit-managed', LockConfiguration: { MinRetentionDays: 7, MaxRetentionDays: 3650 } },
    });
    expect(stacks.jobs.dependencies.map((stack) => stack.stackName)).toContain(isolatedStack.stackName);
  });

  it("lets the workload account's AWS Backup copy in, and no other account", async () => {
    expect(await intoVault(`arn:aws:iam::${ACCOUNT}:role/backup-kit-backup-service`, 'backup:CopyIntoBackupVault')).toBe('Allowed');
    expect(await intoVault('arn:aws:iam::333333333333:role/anyone', 'backup:CopyIntoBackupVault')).toBe('ImplicitlyDenied');
    // Copying in is all: the workload account may not read, restore or delete there.
    expect(await intoVault(`arn:aws:iam::${ACCOUNT}:role/admin`, 'backup:DeleteRecoveryPoint', RECOVERY_POINT)).toBe('ExplicitlyDenied');
    expect(await intoVault(`arn:aws:iam::${ACCOUNT}:role/admin`, 'backup:StartRestoreJob', RECOVERY_POINT)).toBe('ImplicitlyDenied');
  });

  it('forwards no restore jobs: the kit restores from its own account\'s vaults only', () => {
    const patterns = Object.values(Template.fromStack(isolatedStack).findResources('AWS::Events::Rule')).map((rule) => JSON.stringify(rule.Properties.EventPattern));
    expect(patterns.some((pattern) => pattern.includes('Restore Job State Change'))).toBe(false);
    expect(stacks.managedVaultDr?.restoreJobForwarding).toBeDefined();
  });

  it("lets no administrator of the isolated account delete a recovery point or loosen the vault; its break-glass role may delete", async () => {
    expect(await intoVault(`arn:aws:iam::${ISOLATED}:role/admin`, 'backup:DeleteRecoveryPoint', RECOVERY_POINT)).toBe('ExplicitlyDenied');
    expect(await intoVault(`arn:aws:iam::${ISOLATED}:role/admin`, 'backup:PutBackupVaultAccessPolicy')).toBe('ExplicitlyDenied');
    expect(await intoVault(`arn:aws:iam::${ISOLATED}:role/backup-break-glass`, 'backup:DeleteRecoveryPoint', RECOVERY_POINT)).toBe('Allowed');
  });
});

describe('the copies into it', () => {
  it('GIVEN the default rules THEN each copies to the DR vault and to the isolated vault, with its own lifecycle', () => {
    const plans = resolver.resourcesOf(stacks.jobs, 'AWS::Backup::BackupPlan').map(([, plan]) => resolver.resolve(plan as Json, stacks.jobs) as { BackupPlan: { BackupPlanRule: { RuleName: string; CopyActions?: { DestinationBackupVaultArn: string; Lifecycle?: { DeleteAfterDays?: number } }[]; Lifecycle?: { DeleteAfterDays?: number } }[] } });
    expect(plans.length).toBeGreaterThan(0);
    for (const rule of plans.flatMap((plan) => plan.BackupPlan.BackupPlanRule)) {
      expect(rule.CopyActions?.map((action) => action.DestinationBackupVaultArn), rule.RuleName).toEqual([`arn:aws:backup:eu-central-1:${ACCOUNT}:backup-vault:backup-kit-managed`, ISOLATED_VAULT]);
      for (const action of rule.CopyActions ?? []) expect(action.Lifecycle?.DeleteAfterDays).toBe(rule.Lifecycle?.DeleteAfterDays);
    }
  });

  it('GIVEN a rule with copyToIsolatedAccount false THEN it copies to the DR vault only', () => {
    const classes = { databases: { resources: { rdsInstances: [`arn:aws:rds:${PRIMARY}:${ACCOUNT}:db:orders-db`] }, rules: { daily: { schedule: 'cron(0 3 * * ? *)', retentionDays: 35, copyToIsolatedAccount: false } } } };
    const only = buildTestApp({ ...isolatedConfig, awsBackup: { classes } }).stacks;
    Template.fromStack(only.jobs).hasResourceProperties('AWS::Backup::BackupPlan', {
      BackupPlan: { BackupPlanRule: [{ RuleName: 'daily', CopyActions: [{ DestinationBackupVaultArn: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:backup:eu-central-1:`, { Ref: 'AWS::AccountId' }, ':backup-vault:backup-kit-managed']] }, Lifecycle: { DeleteAfterDays: 35 } }] }] },
    });
  });

  it("GIVEN the primary vault's key THEN the isolated account may decrypt with it and grant it to AWS services (the copy job), not to its principals", async () => {
    const [keyId, key] = resolver.resourcesOf(stacks.storage, 'AWS::KMS::Key').find(([id]) => id.startsWith('ManagedVault')) ?? [];
    const keyPolicy = resolver.policy(key?.KeyPolicy ?? null, stacks.storage);
    const keyArn = String(resolver.resolve({ 'Fn::GetAtt': [keyId ?? '', 'Arn'] }, stacks.storage));
    const asIsolated = (action: string, context: Record<string, string> = {}) =>
      decide({ principal: `arn:aws:iam::${ISOLATED}:role/aws-backup-copier`, identityPolicies: [administrator], resourcePolicy: keyPolicy, action, resource: keyArn, context });
    expect(await asIsolated('kms:Decrypt')).toBe('Allowed');
    expect(await asIsolated('kms:CreateGrant', { 'kms:GrantIsForAWSResource': 'true' })).toBe('Allowed');
    expect(await asIsolated('kms:CreateGrant', { 'kms:GrantIsForAWSResource': 'false' })).toBe('ImplicitlyDenied');
    expect(await asIsolated('kms:PutKeyPolicy')).not.toBe('Allowed');
    const otherAccount = await decide({ principal: 'arn:aws:iam::333333333333:role/x', identityPolicies: [administrator], resourcePolicy: keyPolicy, action: 'kms:Decrypt', resource: keyArn });
    expect(otherAccount).toBe('ImplicitlyDenied');
  });

  it('GIVEN copies to another account THEN synth warns of what AWS requires: one Organization with cross-account backup on, and RDS keys shared', () => {
    const { warnings } = loadConfig(isolatedConfig);
    expect(warnings).toEqual(expect.arrayContaining([expect.stringMatching(/^awsBackup\.classes: recovery points are copied to the isolated account 222222222222 .*cross-account backup turned on.*aws\/rds cannot leave the account/)]));
  });
});

describe('guard alerts on the isolated vault', () => {
  const forwarding = resolver.resourcesOf(isolatedStack, 'AWS::Events::Rule').map(([, rule]) => ({ pattern: resolver.resolve(rule.EventPattern ?? null, isolatedStack) as Record<string, Json>, targets: JSON.stringify(resolver.resolve((rule.Targets ?? null) as Json, isolatedStack)) }));
  const alerting = resolver
    .resourcesOf(stacks.jobs, 'AWS::Events::Rule')
    .filter(([id]) => id.startsWith('GuardAlerts'))
    .map(([, rule]) => resolver.resolve(rule.EventPattern ?? null, stacks.jobs) as Record<string, Json>);
  const event = (eventName: string, account: string, backupVaultName = 'backup-kit-managed'): Record<string, Json> => ({
    version: '0',
    id: '1',
    'detail-type': 'AWS API Call via CloudTrail',
    source: 'aws.backup',
    account,
    time: '2026-12-02T03:04:05Z',
    region: PRIMARY,
    resources: [],
    detail: { eventSource: 'backup.amazonaws.com', eventName, awsRegion: PRIMARY, requestParameters: { backupVaultName }, errorCode: 'AccessDeniedException' },
  });

  it("forwards a refused deletion in the isolated account to the workload account's bus, where it alerts; routine calls stay there", () => {
    const deletion = event('DeleteRecoveryPoint', ISOLATED);
    expect(forwarding.some((rule) => matchesPattern(rule.pattern, deletion))).toBe(true);
    for (const rule of forwarding) expect(rule.targets).toContain(`arn:aws:events:${PRIMARY}:${ACCOUNT}:event-bus/default`);
    expect(alerting.some((pattern) => matchesPattern(pattern, deletion))).toBe(true);
    expect(forwarding.some((rule) => matchesPattern(rule.pattern, event('StartCopyJob', ISOLATED)))).toBe(false);
  });

  it("lets the isolated account put AWS Backup events on the workload bus, and a forwarded rule does not alert on the workload account's own routine calls in its region", () => {
    const [, busPolicy] = resolver.resourcesOf(stacks.jobs, 'AWS::Events::EventBusPolicy')[0] ?? [];
    expect(JSON.stringify(resolver.resolve(busPolicy as Json, stacks.jobs))).toContain('aws.backup');
    const own = { ...event('StartBackupJob', ACCOUNT), source: 'aws.backup' };
    expect(alerting.some((pattern) => matchesPattern(pattern, own))).toBe(false);
  });
});
