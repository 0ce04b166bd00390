import { Aws, CfnOutput, Duration, Stack, type StackProps } from 'aws-cdk-lib';
import { STACK_OUTPUTS } from '../../contracts/stack-outputs';
import { Construct } from 'constructs';
import type { BackupKitConfig } from '../config/config';
import { AccessLogBucket } from '../constructs/access-log-bucket';
import { BackupBucket } from '../constructs/backup-bucket';
import { BackupReplication } from '../constructs/backup-replication';
import { GuardTrail } from '../constructs/guard-alerts';
import { guardTrailName, replicaBucketName, replicaKeyAliasName, replicationRoleName } from '../naming';
import { guardExemptRoleNames, objectLockRetention, tierLifecycles } from './storage-settings';
import { ManagedBackupVault } from '../constructs/managed-backup-vault';
import { managedVaultProps, protectsManagedData } from './managed-vault-settings';

export interface StorageStackProps extends StackProps {
  readonly config: BackupKitConfig;
}

/** The primary region's stateful part: the backup bucket, its key, access logs, replication. */
export class StorageStack extends Stack {
  readonly backups: BackupBucket;
  readonly replication: BackupReplication;
  /** The trail that feeds the guard alerts; absent when `guard.alerts` is off. */
  readonly guardTrail?: GuardTrail;
  /** The AWS Backup vault of the managed data classes; absent when `awsBackup` names none. */
  readonly managedVault?: ManagedBackupVault;

  constructor(scope: Construct, id: string, props: StorageStackProps) {
    super(scope, id, props);
    const { config } = props;
    const isolated = config.replication.isolatedAccount;
    const accessLogs = new AccessLogBucket(this, 'AccessLogs', {
      retention: Duration.days(config.accessLogs.retentionDays),
    });
    this.backups = new BackupBucket(this, 'Backups', {
      description: `backups of ${config.prefix}`,
      tiers: tierLifecycles(config),
      noncurrentVersions: {
        transitions: config.noncurrentVersions.transitions,
        expireAfter: Duration.days(config.noncurrentVersions.expireAfterDays),
      },
      objectLockRetention: objectLockRetention(config),
      accessLogBucket: accessLogs.bucket,
      abortIncompleteUploadsAfter: Duration.days(config.abortIncompleteUploadsAfterDays),
      guardExemptRoleNames: guardExemptRoleNames(config),
    });
    // What `npx backup-kit status` and `list` read (docs/status.md).
    new CfnOutput(this, STACK_OUTPUTS.backupBucketName, { value: this.backups.bucket.bucketName, description: 'The backup bucket, which npx backup-kit status and list read' });
    if (config.guard.alerts) {
      this.guardTrail = new GuardTrail(this, 'GuardTrail', {
        trailName: guardTrailName(config.prefix),
        // An isolated replica account records its own bucket's events (see ReplicaStorageStack).
        bucketArns: [this.backups.bucket.bucketArn, ...(isolated === undefined ? [`arn:${Aws.PARTITION}:s3:::${replicaBucketName(config.prefix, config.drRegion)}`] : [])],
        managementEvents: config.guard.trailManagementEvents,
        accessLogBucket: accessLogs.bucket,
        retention: Duration.days(config.accessLogs.retentionDays),
      });
    }
    if (protectsManagedData(config)) {
      const isolated = config.replication.isolatedAccount;
      this.managedVault = new ManagedBackupVault(this, 'ManagedVault', {
        ...managedVaultProps(config, config.primaryRegion),
        // Its recovery points are copied into the isolated account's vault: AWS Backup needs the key shared.
        ...(isolated !== undefined ? { copyDestinationAccounts: [isolated] } : {}),
      });
    }
    this.replication = new BackupReplication(this, 'Replication', {
      source: this.backups.bucket,
      sourceKey: this.backups.key,
      destinationBucketName: replicaBucketName(config.prefix, config.drRegion, isolated),
      ...(isolated !== undefined ? { destinationAccount: isolated, roleName: replicationRoleName(config.prefix) } : {}),
      destinationRegion: config.drRegion,
      destinationKeyAlias: replicaKeyAliasName(config.prefix),
      replicationTimeControl: config.replication.replicationTimeControl,
      metrics: config.replication.metrics,
    });
  }
}
