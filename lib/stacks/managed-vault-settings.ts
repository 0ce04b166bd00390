import { Aws, Duration } from 'aws-cdk-lib';
import type { BackupKitConfig } from '../config/config';
import { managedResourceName } from '../../contracts/managed-backup';
import { watchedManagedResources } from '../config/sections/aws-backup';
import type { ManagedBackupPlans } from '../constructs/managed-backup-plans';
import type { ManagedBackupVaultProps } from '../constructs/managed-backup-vault';
import type { WatchedRecoveryPoints } from '../constructs/recovery-point-ages';
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

/** The watched resources of the config, each with the plan and selection of its class. */
export function watchedRecoveryPoints(config: BackupKitConfig, plans: ManagedBackupPlans): WatchedRecoveryPoints[] {
  return watchedManagedResources(config.awsBackup).flatMap(({ list, resource, className, maxAgeHours }) => {
    const enrolled = plans.classes.get(className);
    if (!enrolled) return [];
    const arn = list === 's3Buckets' ? `arn:${Aws.PARTITION}:s3:::${resource}` : resource;
    return [{ name: managedResourceName(list, resource), arn, className, maxAgeHours, plan: enrolled.plan, selection: enrolled.selection }];
  });
}
