import { jobsStackName, storageStackName } from '../contracts/stack-outputs';
import { Annotations, App, Tags, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { BackupKitConfig } from './config/config';
import { JobsStack } from './stacks/jobs-stack';
import { RdsRestoreDrStack } from './stacks/rds-restore-dr-stack';
import { ReplicaStorageStack } from './stacks/replica-storage-stack';
import { RestoreDrStack } from './stacks/restore-dr-stack';
import { StorageStack } from './stacks/storage-stack';
import { ManagedVaultStack } from './stacks/managed-vault-stack';
import { protectsManagedData } from './stacks/managed-vault-settings';

export interface BackupKitStacks {
  readonly storage: StorageStack;
  readonly replicaStorage: ReplicaStorageStack;
  readonly jobs: JobsStack;
  /** DR-region forwarding of RDS restore events; only when an RDS instance replicates its backups there. */
  readonly rdsRestoreDr?: RdsRestoreDrStack;
  /** Restores of the EC2 targets in the DR region from the replica, when there are targets and the replica is in this account. */
  readonly restoreDr?: RestoreDrStack;
  /** The DR region's AWS Backup vault, when the config protects managed data. */
  readonly managedVaultDr?: ManagedVaultStack;
  /** The isolated backup account's AWS Backup vault, when the config names that account and protects managed data. */
  readonly managedVaultIsolated?: ManagedVaultStack;
}

export interface BuildAppOptions {
  /** Config warnings to show at synth. */
  readonly warnings?: readonly string[];
  /**
   * Run cdk-nag's AwsSolutions pack over the whole app.
   * @default true
   */
  readonly nag?: boolean;
  /**
   * Directory of the instance scripts the backup and restore documents embed.
   * @default - `scripts/instance/` of this repository
   */
  readonly instanceScriptsDir?: string;
}

/**
 * Feature flags the app's constructs are written for. They are also in cdk.json; setting them
 * here keeps an App built elsewhere (tests, another entry point) synthesizing the same templates.
 */
const FEATURE_FLAGS: Readonly<Record<string, unknown>> = {
  '@aws-cdk/aws-iam:minimizePolicies': true,
  '@aws-cdk/aws-s3:createDefaultLoggingPolicy': true,
  '@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy': true,
  '@aws-cdk/aws-kms:aliasNameRef': true,
  '@aws-cdk/aws-lambda-nodejs:useLatestRuntimeVersion': true,
  '@aws-cdk/aws-sns:enforceSslByDefault': true,
  '@aws-cdk/aws-sqs:enforceSslByDefault': true,
  '@aws-cdk/aws-s3:publicAccessBlockedByDefault': true,
};

/** Composes every stack of the app from a validated config. */
export function buildApp(app: App, config: BackupKitConfig, options: BuildAppOptions = {}): BackupKitStacks {
  for (const [flag, value] of Object.entries(FEATURE_FLAGS)) {
    if (app.node.tryGetContext(flag) === undefined) app.node.setContext(flag, value);
  }
  const account = config.account;
  const isolated = config.replication.isolatedAccount;
  const drRestorable = config.rds.instances.filter((instance) => instance.drReplication).map((instance) => instance.identifier);
  // The replica in an isolated account is read from there, not by this account's instances.
  const restoresInDr = config.targets.length > 0 && isolated === undefined;
  const replicaStorage = new ReplicaStorageStack(app, `${config.prefix}-storage-dr`, {
    env: { account: isolated ?? account, region: config.drRegion },
    description: `backup-kit ${config.prefix}: replica backup bucket in the DR region${isolated !== undefined ? ', in the isolated backup account' : ''}`,
    terminationProtection: true,
    config,
    // One alert topic for the account's stacks in the DR region, where the account owns the replica stack.
    hostAlertChannel: isolated === undefined && (restoresInDr || drRestorable.length > 0),
  });
  const storage = new StorageStack(app, storageStackName(config.prefix), {
    env: { account, region: config.primaryRegion },
    description: `backup-kit ${config.prefix}: backup bucket, key and replication`,
    terminationProtection: true,
    config,
  });
  // Replication targets the replica bucket, which must exist first.
  storage.addStackDependency(replicaStorage);
  const jobs = new JobsStack(app, jobsStackName(config.prefix), {
    env: { account, region: config.primaryRegion },
    description: `backup-kit ${config.prefix}: backup, verify, restore and drill jobs, alarms, dashboard`,
    config,
    backupBucket: storage.backups.bucket,
    backupKey: storage.backups.key,
    ...(storage.managedVault ? { managedVault: storage.managedVault.vault, managedVaultKey: storage.managedVault.key } : {}),
    ...(options.instanceScriptsDir ? { instanceScriptsDir: options.instanceScriptsDir } : {}),
  });
  const managedVaultDr = protectsManagedData(config)
    ? new ManagedVaultStack(app, `${config.prefix}-vault-dr`, {
        env: { account, region: config.drRegion },
        description: `backup-kit ${config.prefix}: AWS Backup vault in the DR region, where the managed data's recovery points are copied`,
        terminationProtection: true,
        config,
        holds: config.drRegion,
        // The replica stack's channel when this account owns it (not in an isolated account).
        ...(replicaStorage.alertChannel && isolated === undefined ? { alertChannel: replicaStorage.alertChannel } : {}),
      })
    : undefined;
  // The plans copy into the DR vault, which must exist first.
  if (managedVaultDr) jobs.addStackDependency(managedVaultDr, 'the copy actions of the AWS Backup plans name the DR vault');
  const managedVaultIsolated =
    protectsManagedData(config) && isolated !== undefined
      ? // In the primary region: RDS and Aurora snapshots copy across accounts or regions, not both at once.
        new ManagedVaultStack(app, `${config.prefix}-vault-isolated`, {
          env: { account: isolated, region: config.primaryRegion },
          description: `backup-kit ${config.prefix}: AWS Backup vault in the isolated backup account, where the managed data's recovery points are copied`,
          terminationProtection: true,
          config,
          holds: `the isolated account, copied from ${config.account ?? 'the workload account'}`,
          ...(config.account !== undefined ? { copiedFromAccount: config.account } : {}),
        })
      : undefined;
  if (managedVaultIsolated) jobs.addStackDependency(managedVaultIsolated, 'the copy actions of the AWS Backup plans name the isolated account\'s vault');
  const rdsRestoreDr =
    drRestorable.length > 0
      ? new RdsRestoreDrStack(app, `${config.prefix}-rds-restore-dr`, {
          env: { account, region: config.drRegion },
          description: `backup-kit ${config.prefix}: forwards RDS restore events from the DR region to the primary`,
          sourceIdentifiers: drRestorable,
          primaryRegion: config.primaryRegion,
          alertEmails: config.alertEmails,
          ...(replicaStorage.alertChannel && isolated === undefined ? { alertChannel: replicaStorage.alertChannel } : {}),
        })
      : undefined;

  const restoreDr =
    restoresInDr && replicaStorage.alertChannel
      ? new RestoreDrStack(app, `${config.prefix}-restore-dr`, {
          env: { account, region: config.drRegion },
          description: `backup-kit ${config.prefix}: restores in ${config.drRegion} from the replica bucket, for when ${config.primaryRegion} is down`,
          config,
          replicaBucket: replicaStorage.backups.bucket,
          replicaKey: replicaStorage.backups.key,
          alertChannel: replicaStorage.alertChannel,
          ...(options.instanceScriptsDir ? { instanceScriptsDir: options.instanceScriptsDir } : {}),
        })
      : undefined;
  if (config.targets.length > 0 && isolated !== undefined) {
    Annotations.of(app).addWarningV2(
      'backup-kit:restore-dr',
      `no restore stack in ${config.drRegion}: the replica is in the isolated account ${isolated}; in a regional outage, restore from there by hand (docs/runbooks/lost-region.md)`,
    );
  }

  Tags.of(app).add('app', 'backup-kit');
  Tags.of(app).add('backup-kit:prefix', config.prefix);
  for (const warning of options.warnings ?? []) {
    Annotations.of(app).addWarningV2('backup-kit:config', `config ${warning}`);
  }
  if (options.nag ?? true) {
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  }
  return { storage, replicaStorage, jobs, rdsRestoreDr, restoreDr, managedVaultDr, managedVaultIsolated };
}
