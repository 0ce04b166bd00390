import { Annotations, Aws, Duration } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import type { BackupKitConfig } from '../config/config';
import { managedResourceName } from '../../contracts/managed-backup';
import { NAME_MAX_LENGTH, RESTORED_SUFFIX_LENGTH, type RestorableResource } from '../../contracts/managed-restore';
import type { ProbedDatabase } from '../../contracts/database-probe';
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
  return watchedManagedResources(config.awsBackup).flatMap(({ list, resource, className, maxAgeHours, restoreTestMaxDays }) => {
    const enrolled = plans.classes.get(className);
    if (!enrolled) return [];
    const arn = list === 's3Buckets' ? `arn:${Aws.PARTITION}:s3:::${resource}` : resource;
    return [{ name: managedResourceName(list, resource), arn, className, maxAgeHours, ...(restoreTestMaxDays !== undefined ? { restoreTestMaxDays } : {}), plan: enrolled.plan, selection: enrolled.selection }];
  });
}

const RESTORABLE_LISTS = { rdsInstances: 'rds', auroraClusters: 'aurora', s3Buckets: 's3' } as const;

/**
 * The resources a console restore handles: the RDS instances, Aurora clusters and buckets the
 * config names, each with whether its class copies to the DR region and, for an instance also
 * listed in rds.instances with drReplication, the DR network a restore there uses.
 */
export function managedRestoreResources(scope: Construct, config: BackupKitConfig): RestorableResource[] {
  return Object.entries(config.awsBackup.classes).flatMap(([className, backupClass]) => {
    const copiedToDr = Object.values(backupClass.rules).some((rule) => rule.copyToDr);
    return (Object.keys(RESTORABLE_LISTS) as (keyof typeof RESTORABLE_LISTS)[]).flatMap((list) =>
      backupClass.resources[list].flatMap((resource): RestorableResource[] => {
        const name = managedResourceName(list, resource);
        const identifier = name.slice(name.indexOf(':') + 1);
        if (identifier.length > NAME_MAX_LENGTH - RESTORED_SUFFIX_LENGTH) {
          Annotations.of(scope).addWarningV2(
            `backup-kit:managed-restore-name:${name}`,
            `awsBackup.classes.${className}.resources.${list}: ${name} is backed up, but its name is longer than ${NAME_MAX_LENGTH - RESTORED_SUFFIX_LENGTH} characters, so a restored copy '<name>-restored-<yyyymmddhhmm>' would not fit ${NAME_MAX_LENGTH}: the restore function does not offer it; restore it from the AWS Backup console`,
          );
          return [];
        }
        const drReplication = list === 'rdsInstances' ? config.rds.instances.find((instance) => instance.identifier === identifier)?.drReplication : undefined;
        const arn = list === 's3Buckets' ? `arn:${Aws.PARTITION}:s3:::${resource}` : resource;
        return [
          {
            name,
            kind: RESTORABLE_LISTS[list],
            identifier,
            arn,
            className,
            copiedToDr,
            ...(list === 'rdsInstances' && backupClass.restoreTesting.probes[identifier] ? { probed: true } : {}),
            ...(drReplication
              ? {
                  drNetwork: {
                    subnetGroupName: drReplication.subnetGroupName,
                    securityGroupIds: [...drReplication.securityGroupIds],
                    ...(drReplication.parameterGroupName ? { parameterGroupName: drReplication.parameterGroupName } : {}),
                    ...(drReplication.optionGroupName ? { optionGroupName: drReplication.optionGroupName } : {}),
                  },
                }
              : {}),
          },
        ];
      }),
    );
  });
}

/** The RDS instances whose restore test copies answer SQL probes, with what the probe function runs. */
export function probedDatabases(config: BackupKitConfig): ProbedDatabase[] {
  return Object.values(config.awsBackup.classes).flatMap((backupClass) =>
    Object.entries(backupClass.restoreTesting.probes).map(([identifier, probe]) => ({ resource: `rds:${identifier}`, database: probe.database, user: probe.user, statements: [...probe.statements] })),
  );
}
