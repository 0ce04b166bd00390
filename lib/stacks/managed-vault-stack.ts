import { Stack, type StackProps } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import type { Construct } from 'constructs';
import type { BackupKitConfig } from '../config/config';
import { GuardForwarding } from '../constructs/guard-alerts';
import { ALERTED_JOB_STATES } from '../constructs/managed-backup-plans';
import { ManagedBackupVault } from '../constructs/managed-backup-vault';
import { primaryBusTarget } from '../constructs/primary-bus-forwarding';
import { type AlertChannel, RegionalAlerts } from '../constructs/regional-alerts';
import { managedVaultName } from '../naming';
import { managedVaultProps } from './managed-vault-settings';

export interface ManagedVaultStackProps extends StackProps {
  readonly config: BackupKitConfig;
  /** Whose recovery points the vault holds, for its key's description. */
  readonly holds: string;
  /**
   * The workload account, when this vault is in another one (the isolated backup account): its AWS
   * Backup may copy in, and the guard's events are forwarded to it.
   * @default - the vault is in the workload account
   */
  readonly copiedFromAccount?: string;
  /**
   * The region's alert channel of this account, owned by another stack (the replica storage's).
   * @default - with guard alerts on, this stack makes its own (a key and a topic)
   */
  readonly alertChannel?: AlertChannel;
}

/**
 * An AWS Backup vault outside the primary storage stack, where the plans copy their recovery
 * points: the DR region's, and the isolated backup account's. With guard alerts on, every call that
 * would delete its recovery points, shorten their lifecycle or loosen its policy or lock, and any
 * change to its key, is forwarded to the primary region's guard alerts, which mail it. In the
 * workload account's DR region, the restore jobs that end there (a console restore from the DR
 * vault) are forwarded to the primary region too, whose completion report and job alerts handle
 * them as their own.
 */
export class ManagedVaultStack extends Stack {
  readonly vault: ManagedBackupVault;
  readonly guardForwarding?: GuardForwarding;
  /** Forwards the region's completed and failed restore jobs to the primary region (the workload account's DR vault only). */
  readonly restoreJobForwarding?: events.Rule;

  constructor(scope: Construct, id: string, props: ManagedVaultStackProps) {
    super(scope, id, props);
    const config = props.config;
    this.vault = new ManagedBackupVault(this, 'ManagedVault', {
      ...managedVaultProps(config, props.holds),
      ...(props.copiedFromAccount !== undefined ? { copySourceAccounts: [props.copiedFromAccount] } : {}),
    });
    const forwardsRestoreJobs = props.copiedFromAccount === undefined;
    if (!config.guard.alerts && !forwardsRestoreJobs) return;
    const regionalAlerts = new RegionalAlerts(this, 'RegionalAlerts', {
      description: `AWS Backup vault forwarding in ${this.region}`,
      ...(props.alertChannel ? { channel: props.alertChannel } : { emails: config.alertEmails }),
    });
    if (config.guard.alerts) {
      this.guardForwarding = new GuardForwarding(this, 'GuardForwarding', {
        regionalAlerts,
        resources: { bucketNames: [], keyArns: [this.vault.key.keyArn], vaultNames: [managedVaultName(config.prefix)] },
        primaryRegion: config.primaryRegion,
        ...(props.copiedFromAccount !== undefined ? { primaryAccount: props.copiedFromAccount } : {}),
      });
    }
    if (forwardsRestoreJobs) {
      this.restoreJobForwarding = new events.Rule(this, 'ForwardRestoreJobs', {
        description: `backup-kit: forwards AWS Backup restore jobs that complete or fail in this region to ${config.primaryRegion}, for their report and alerts`,
        eventPattern: { source: ['aws.backup'], detailType: ['Restore Job State Change'], detail: { state: ['COMPLETED', ...ALERTED_JOB_STATES] } },
        targets: [
          primaryBusTarget(this, {
            primaryRegion: config.primaryRegion,
            what: 'the AWS Backup restore jobs of this region',
            deadLetterQueue: regionalAlerts.deadLetterQueue,
            ids: { bus: 'RestoreJobsPrimaryBus', role: 'ForwardRestoreJobsRole' },
          }),
        ],
      });
      regionalAlerts.watchRule(this.restoreJobForwarding, `forwards AWS Backup restore jobs to ${config.primaryRegion}`);
    }
  }
}
