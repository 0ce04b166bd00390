import { Aws, Duration, Stack, type StackProps } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import type { BackupKitConfig } from '../config/config';
import { AccessLogBucket } from '../constructs/access-log-bucket';
import { BackupBucket } from '../constructs/backup-bucket';
import { GuardForwarding, GuardTrail } from '../constructs/guard-alerts';
import { type AlertChannel, RegionalAlerts } from '../constructs/regional-alerts';
import { guardTrailName, replicaBucketName, replicaKeyAliasName, replicationRoleName, verifyWorkerRoleName } from '../naming';
import { guardExemptRoleNames, objectLockRetention, tierLifecycles } from './storage-settings';

export interface ReplicaStorageStackProps extends StackProps {
  readonly config: BackupKitConfig;
  /**
   * Make the region's alert channel (key and topic) here, for the workload account's other stacks
   * in the region (restores, RDS event forwarding), even with the guard alerts off.
   * @default false
   */
  readonly hostAlertChannel?: boolean;
}

/** The DR region: the replica bucket, its own key, the same protections and lifecycle. */
export class ReplicaStorageStack extends Stack {
  readonly backups: BackupBucket;
  /** The region's alert channel; present with the guard alerts on, or when `hostAlertChannel` is set. */
  readonly alertChannel?: AlertChannel;

  constructor(scope: Construct, id: string, props: ReplicaStorageStackProps) {
    super(scope, id, props);
    const { config } = props;
    const isolated = config.replication.isolatedAccount;
    if (props.hostAlertChannel && isolated !== undefined) {
      throw new Error(`ReplicaStorageStack hostAlertChannel: the replica is in the isolated account ${isolated}, whose topic the workload account's stacks may not use`);
    }
    const workload = (roleName: string) => `arn:${Aws.PARTITION}:iam::${config.account ?? ''}:role/${roleName}`;
    const accessLogs = new AccessLogBucket(this, 'AccessLogs', {
      retention: Duration.days(config.accessLogs.retentionDays),
    });
    this.backups = new BackupBucket(this, 'Replica', {
      description: `replicated backups of ${config.prefix} in ${config.drRegion}`,
      bucketName: replicaBucketName(config.prefix, config.drRegion, isolated),
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
      ...(isolated !== undefined
        ? { crossAccount: { replicationRoleArn: workload(replicationRoleName(config.prefix)), readerRoleArns: [workload(verifyWorkerRoleName(config.prefix))] } }
        : {}),
    });
    const regionalAlerts =
      config.guard.alerts || props.hostAlertChannel ? new RegionalAlerts(this, 'RegionalAlerts', { emails: config.alertEmails, description: `guard forwarding in ${config.drRegion}` }) : undefined;
    this.alertChannel = regionalAlerts?.channel;
    if (config.guard.alerts && regionalAlerts) {
      // In an isolated account no trail of the workload account records this bucket: it gets its own.
      const trail =
        isolated !== undefined
          ? new GuardTrail(this, 'GuardTrail', {
              trailName: guardTrailName(config.prefix),
              bucketArns: [this.backups.bucket.bucketArn],
              managementEvents: config.guard.trailManagementEvents,
              accessLogBucket: accessLogs.bucket,
              retention: Duration.days(config.accessLogs.retentionDays),
            })
          : undefined;
      new GuardForwarding(this, 'GuardForwarding', {
        regionalAlerts,
        resources: { bucketNames: [this.backups.bucket.bucketName], keyArns: [this.backups.key.keyArn], ...(trail ? { trailName: guardTrailName(config.prefix) } : {}) },
        primaryRegion: config.primaryRegion,
        ...(isolated !== undefined && config.account !== undefined ? { primaryAccount: config.account } : {}),
      });
    }
  }
}

