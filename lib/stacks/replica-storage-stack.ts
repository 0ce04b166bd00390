import { Duration, Stack, type StackProps } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import type { BackupKitConfig } from '../config/config';
import { AccessLogBucket } from '../constructs/access-log-bucket';
import { BackupBucket } from '../constructs/backup-bucket';
import { GuardForwarding } from '../constructs/guard-alerts';
import { replicaBucketName, replicaKeyAliasName } from '../naming';
import { guardExemptRoleNames, objectLockRetention, tierLifecycles } from './storage-settings';

export interface ReplicaStorageStackProps extends StackProps {
  readonly config: BackupKitConfig;
}

/** The DR region: the replica bucket, its own key, the same protections and lifecycle. */
export class ReplicaStorageStack extends Stack {
  readonly backups: BackupBucket;

  constructor(scope: Construct, id: string, props: ReplicaStorageStackProps) {
    super(scope, id, props);
    const { config } = props;
    const accessLogs = new AccessLogBucket(this, 'AccessLogs', {
      retention: Duration.days(config.accessLogs.retentionDays),
    });
    this.backups = new BackupBucket(this, 'Replica', {
      description: `replicated backups of ${config.prefix} in ${config.drRegion}`,
      bucketName: replicaBucketName(config.prefix, config.drRegion),
      keyAlias: replicaKeyAliasName(config.prefix),
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
    if (config.guard.alerts) {
      new GuardForwarding(this, 'GuardForwarding', {
        resources: { bucketNames: [this.backups.bucket.bucketName], keyArns: [this.backups.key.keyArn] },
        primaryRegion: config.primaryRegion,
      });
    }
  }
}

