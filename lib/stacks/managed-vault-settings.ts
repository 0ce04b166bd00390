import { Duration } from 'aws-cdk-lib';
import type { BackupKitConfig } from '../config/config';
import type { ManagedBackupVaultProps } from '../constructs/managed-backup-vault';
import { managedVaultName } from '../naming';
import { guardExemptRoleNames } from './storage-settings';

/** Whether the config protects any managed data through AWS Backup (no class: no vault, no plan). */
export function protectsManagedData(config: BackupKitConfig): boolean {
  return Object.keys(config.awsBackup.classes).length > 0;
}

/** The vault of either region, as the config's Vault Lock and guard describe it. */
export function managedVaultProps(config: BackupKitConfig, where: string): ManagedBackupVaultProps {
  const lock = config.awsBackup.vaultLock;
  return {
    vaultName: managedVaultName(config.prefix),
    description: `${config.prefix} in ${where}`,
    lock: {
      minRetention: Duration.days(lock.minRetentionDays),
      maxRetention: Duration.days(lock.maxRetentionDays),
      ...(lock.mode === 'COMPLIANCE' ? { changeableFor: Duration.days(lock.changeableForDays) } : {}),
    },
    ...(config.guard.breakGlassRoleName !== undefined ? { breakGlassRoleName: config.guard.breakGlassRoleName } : {}),
    guardExemptRoleNames: guardExemptRoleNames(config),
  };
}
