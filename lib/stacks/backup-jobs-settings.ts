import { Duration } from 'aws-cdk-lib';
import type { TargetPlan } from '../../contracts/backup-command';
import type { BackupKitConfig } from '../config/config';
import { tierLockMode } from '../config/schema';
import { tiersOfTarget, type TargetConfig } from '../config/sections/targets';
import type { BackupJobsTier } from '../constructs/backup-jobs';

/** The config's targets with every default resolved, as the trigger receives them. */
export function targetPlans(config: BackupKitConfig): TargetPlan[] {
  const tierNames = Object.keys(config.tiers);
  return config.targets.map((target) => ({
    name: target.name,
    kind: target.kind,
    instances: target.instances.instanceIds ? { instanceIds: target.instances.instanceIds } : { tag: requiredTag(target) },
    tiers: tiersOfTarget(target, tierNames),
    ...kindSettings(target),
    executionTimeoutSeconds: target.timeoutMinutes * 60,
    maxConcurrency: target.rateControl.maxConcurrency,
    maxErrors: target.rateControl.maxErrors,
  }));
}

function kindSettings(target: TargetConfig): Pick<TargetPlan, 'database' | 'path' | 'paths' | 'excludes'> {
  switch (target.kind) {
    case 'postgres':
    case 'mysql':
      return {
        database: {
          host: target.host,
          port: target.port,
          name: target.database,
          user: target.user,
          password: target.password.ssmParameter !== undefined ? { ssmParameter: target.password.ssmParameter } : { secretId: target.password.secretId ?? '' },
        },
      };
    case 'sqlite':
      return { path: target.path };
    case 'files':
      return {
        ...(target.paths ? { paths: target.paths } : { path: target.path ?? '' }),
        ...(target.excludes.length > 0 ? { excludes: target.excludes } : {}),
      };
  }
}

function requiredTag(target: TargetConfig): { key: string; value: string } {
  if (!target.instances.tag) throw new Error(`targets: '${target.name}' has neither instanceIds nor tag`);
  return target.instances.tag;
}

/** The config's tiers as the backup jobs use them. */
export function backupJobsTiers(config: BackupKitConfig): Record<string, BackupJobsTier> {
  return Object.fromEntries(
    Object.entries(config.tiers).map(([name, tier]) => [
      name,
      { retention: Duration.days(tier.retentionDays), mode: tierLockMode(config, name), ...(tier.schedule ? { schedule: tier.schedule } : {}) },
    ]),
  );
}
