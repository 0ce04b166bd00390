import { describe, expect, it } from 'vitest';
import { buildTestApp } from '../foundation/app-fixture';
import { ACCOUNT, TemplateResolver, decide, type PolicyDocument } from '../support/iam';

/**
 * The vault guard's claims, checked with an IAM evaluator over the synthesized vault access policy:
 * an account administrator can neither delete a recovery point, shorten its lifecycle, nor loosen
 * the vault's policy or lock.
 */
const { stacks } = buildTestApp({
  primaryRegion: 'eu-west-1',
  drRegion: 'eu-central-1',
  account: ACCOUNT,
  guard: { breakGlassRoleName: 'backup-break-glass', deployRoleNamePattern: 'cdk-*-cfn-exec-role-*' },
  awsBackup: { classes: { databases: { resources: { rdsInstances: [`arn:aws:rds:eu-west-1:${ACCOUNT}:db:orders-db`] } } } },
});

const administrator: PolicyDocument = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] };
const role = (name: string) => `arn:aws:iam::${ACCOUNT}:role/${name}`;
const DEPLOY = role(`cdk-hnb659fds-cfn-exec-role-${ACCOUNT}-eu-west-1`);

for (const [where, stack] of [['primary', stacks.storage], ['DR', stacks.managedVaultDr!]] as const) {
  describe(`the ${where} region's AWS Backup vault`, () => {
    const resolver = new TemplateResolver([stack]);
    const [, vault] = resolver.resourcesOf(stack, 'AWS::Backup::BackupVault')[0] ?? [];
    const vaultPolicy = resolver.policy((vault?.AccessPolicy as never) ?? null, stack);
    const RECOVERY_POINT = `arn:aws:backup:${stack.region}:${ACCOUNT}:recovery-point:0b5fa2a3-7f41-4d56-9e1c-3c1f6d2f8a11`;
    const VAULT = `arn:aws:backup:${stack.region}:${ACCOUNT}:backup-vault:backup-kit-managed`;
    const as = (principal: string, action: string, resource: string) => decide({ principal, identityPolicies: [administrator], resourcePolicy: vaultPolicy, action, resource });

    it('lets no administrator, and not the deploy role, delete a recovery point or shorten its lifecycle; the break-glass role may', async () => {
      for (const action of ['backup:DeleteRecoveryPoint', 'backup:UpdateRecoveryPointLifecycle']) {
        expect(await as(role('admin'), action, RECOVERY_POINT)).toBe('ExplicitlyDenied');
        expect(await as(DEPLOY, action, RECOVERY_POINT)).toBe('ExplicitlyDenied');
        expect(await as(role('backup-break-glass'), action, RECOVERY_POINT)).toBe('Allowed');
      }
    });

    it('lets no administrator loosen the vault policy, remove the lock or delete the vault; CloudFormation and the break-glass role may', async () => {
      for (const action of ['backup:PutBackupVaultAccessPolicy', 'backup:DeleteBackupVaultLockConfiguration', 'backup:DeleteBackupVault']) {
        expect(await as(role('admin'), action, VAULT)).toBe('ExplicitlyDenied');
        expect(await as(DEPLOY, action, VAULT)).toBe('Allowed');
        expect(await as(role('backup-break-glass'), action, VAULT)).toBe('Allowed');
      }
    });

    it('still lets an administrator read and restore (the incident needs them)', async () => {
      expect(await as(role('admin'), 'backup:DescribeRecoveryPoint', RECOVERY_POINT)).toBe('Allowed');
      expect(await as(role('admin'), 'backup:StartRestoreJob', RECOVERY_POINT)).toBe('Allowed');
    });
  });
}
