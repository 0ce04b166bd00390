import { Duration } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import type { BackupKitConfig } from '../config/config';
import { tierLockMode } from '../config/schema';
import type { BackupTierLifecycle } from '../constructs/backup-bucket';

/** The config's tiers as the lifecycle the primary and replica buckets share. */
export function tierLifecycles(config: BackupKitConfig): BackupTierLifecycle[] {
  return Object.entries(config.tiers).map(([name, tier]) => ({
    name,
    retention: Duration.days(tier.retentionDays),
    mode: tierLockMode(config, name),
    transitions: tier.transitions,
  }));
}

/** The roles the guard leaves able to change the buckets and keys: CloudFormation's, and the break-glass role. */
export function guardExemptRoleNames(config: BackupKitConfig): string[] {
  return [config.guard.deployRoleNamePattern, ...(config.guard.breakGlassRoleName !== undefined ? [config.guard.breakGlassRoleName] : [])];
}

export function objectLockRetention(config: BackupKitConfig): s3.ObjectLockRetention {
  const days = Duration.days(config.objectLock.defaultRetentionDays);
  return config.objectLock.mode === 'COMPLIANCE'
    ? s3.ObjectLockRetention.compliance(days)
    : s3.ObjectLockRetention.governance(days);
}
