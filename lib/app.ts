import { Annotations, App, Tags, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { BackupKitConfig } from './config/config';
import { JobsStack } from './stacks/jobs-stack';
import { ReplicaStorageStack } from './stacks/replica-storage-stack';
import { StorageStack } from './stacks/storage-stack';

export interface BackupKitStacks {
  readonly storage: StorageStack;
  readonly replicaStorage: ReplicaStorageStack;
  readonly jobs: JobsStack;
}

export interface BuildAppOptions {
  /** Config warnings to show at synth. */
  readonly warnings?: readonly string[];
  /**
   * Run cdk-nag's AwsSolutions pack over the whole app.
   * @default true
   */
  readonly nag?: boolean;
}

/** Composes every stack of the app from a validated config. */
export function buildApp(app: App, config: BackupKitConfig, options: BuildAppOptions = {}): BackupKitStacks {
  const account = config.account;
  const replicaStorage = new ReplicaStorageStack(app, `${config.prefix}-storage-dr`, {
    env: { account, region: config.drRegion },
    description: `backup-kit ${config.prefix}: replica backup bucket in the DR region`,
    terminationProtection: true,
    config,
  });
  const storage = new StorageStack(app, `${config.prefix}-storage`, {
    env: { account, region: config.primaryRegion },
    description: `backup-kit ${config.prefix}: backup bucket, key and replication`,
    terminationProtection: true,
    config,
  });
  // Replication targets the replica bucket, which must exist first.
  storage.addStackDependency(replicaStorage);
  const jobs = new JobsStack(app, `${config.prefix}-jobs`, {
    env: { account, region: config.primaryRegion },
    description: `backup-kit ${config.prefix}: backup, verify, restore and drill jobs, alarms, dashboard`,
    config,
    backupBucket: storage.backups.bucket,
    backupKey: storage.backups.key,
  });

  Tags.of(app).add('app', 'backup-kit');
  Tags.of(app).add('backup-kit:prefix', config.prefix);
  for (const warning of options.warnings ?? []) {
    Annotations.of(app).addWarningV2('backup-kit:config', `config ${warning}`);
  }
  if (options.nag ?? true) {
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  }
  return { storage, replicaStorage, jobs };
}
