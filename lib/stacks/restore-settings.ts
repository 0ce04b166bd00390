import { Duration, TimeZone } from 'aws-cdk-lib';
import * as kms from 'aws-cdk-lib/aws-kms';
import type { Construct } from 'constructs';
import { defaultScratchRoot, type RestoreTarget } from '../../contracts/restore-command';
import type { BackupKitConfig } from '../config/config';
import type { RdsDrillSource, RestoreDrillOptions, RestoreJobsProps } from '../constructs/restore-jobs';
import { tierLockMode } from '../config/schema';
import { targetPlans } from './backup-jobs-settings';

/** The config's targets with their backup plan and restore settings, as the restore jobs receive them. */
export function restoreTargets(config: BackupKitConfig): RestoreTarget[] {
  return targetPlans(config).map((plan) => {
    const settings = config.restore.targets[plan.name];
    return {
      backup: plan,
      restore: {
        ...(plan.path !== undefined || plan.paths !== undefined ? { scratchRoot: settings?.scratchRoot ?? defaultScratchRoot(plan.name) } : {}),
        ...(settings?.user !== undefined ? { user: settings.user } : {}),
        ...(settings?.password?.ssmParameter !== undefined ? { password: { ssmParameter: settings.password.ssmParameter } } : {}),
        ...(settings?.password?.secretId !== undefined ? { password: { secretId: settings.password.secretId } } : {}),
        ...(settings?.workDirectory !== undefined ? { workDirectory: settings.workDirectory } : {}),
        ...(settings?.onto?.instanceIds !== undefined ? { onto: { instanceIds: settings.onto.instanceIds } } : {}),
        ...(settings?.onto?.tag !== undefined ? { onto: { tag: settings.onto.tag } } : {}),
        drill: settings?.drill ?? true,
        probes: settings?.probes ?? [],
      },
    };
  });
}

/** Retention of the safety tier; undefined when that tier does not exist (replace restores are then refused). */
export function safetyRetention(config: BackupKitConfig): Duration | undefined {
  const days = config.tiers[config.restore.safetyTier]?.retentionDays;
  return days === undefined ? undefined : Duration.days(days);
}

/** The drills, or undefined when they are off. */
export function restoreDrills(scope: Construct, config: BackupKitConfig): RestoreDrillOptions | undefined {
  const { drills } = config.restore;
  if (!drills.enabled) return undefined;
  const rds: RdsDrillSource[] = drills.rds.map((drill) => {
    const keyArn = config.rds.instances.find((instance) => instance.identifier === drill.identifier)?.kmsKeyArn;
    return {
      identifier: drill.identifier,
      instanceClass: drill.instanceClass,
      ...(keyArn ? { kmsKey: kms.Key.fromKeyArn(scope, `RdsDrillKey-${drill.identifier}`, keyArn) } : {}),
    };
  });
  return { schedule: drills.schedule, alarmAfterDays: drills.alarmAfterDays, rds, rebuilds: drills.rebuilds };
}

/** What the restore jobs take from the config, wherever they are deployed (the primary region, or the DR region from the replica). */
export function restoreJobsSettings(
  config: BackupKitConfig,
): Pick<RestoreJobsProps, 'targets' | 'safetyTier' | 'safetyRetention' | 'safetyObjectLockMode' | 'timeZone' | 'servers'> {
  const retention = safetyRetention(config);
  return {
    targets: restoreTargets(config),
    safetyTier: config.restore.safetyTier,
    ...(retention ? { safetyRetention: retention } : {}),
    safetyObjectLockMode: tierLockMode(config, config.restore.safetyTier),
    timeZone: TimeZone.of(config.timeZone),
    servers: config.restore.servers,
  };
}

/**
 * The targets as a restore in `region` sees them: a password secret named by its full ARN is read
 * from its replica there (a multi-region secret keeps its name and suffix in every region).
 * Parameters and secrets named by name are looked up in the region already.
 */
export function targetsInRegion(targets: readonly RestoreTarget[], region: string): RestoreTarget[] {
  const moved = <T extends { ssmParameter: string } | { secretId: string }>(password: T): T =>
    'secretId' in password && password.secretId.startsWith('arn:') ? { ...password, secretId: password.secretId.replace(/^(arn:[^:]+:secretsmanager:)[^:]+:/, `$1${region}:`) } : password;
  return targets.map((target) => ({
    backup: target.backup.database ? { ...target.backup, database: { ...target.backup.database, password: moved(target.backup.database.password) } } : target.backup,
    restore: target.restore.password ? { ...target.restore, password: moved(target.restore.password) } : target.restore,
  }));
}
