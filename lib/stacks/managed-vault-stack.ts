import { Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import type { BackupKitConfig } from '../config/config';
import { GuardForwarding } from '../constructs/guard-alerts';
import { ManagedBackupVault } from '../constructs/managed-backup-vault';
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
 * change to its key, is forwarded to the primary region's guard alerts, which mail it.
 */
export class ManagedVaultStack extends Stack {
  readonly vault: ManagedBackupVault;
  readonly guardForwarding?: GuardForwarding;

  constructor(scope: Construct, id: string, props: ManagedVaultStackProps) {
    super(scope, id, props);
    const config = props.config;
    this.vault = new ManagedBackupVault(this, 'ManagedVault', {
      ...managedVaultProps(config, props.holds),
      ...(props.copiedFromAccount !== undefined ? { copySourceAccounts: [props.copiedFromAccount] } : {}),
    });
    if (config.guard.alerts) {
      const regionalAlerts = new RegionalAlerts(this, 'RegionalAlerts', {
        description: `AWS Backup vault guard forwarding in ${this.region}`,
        ...(props.alertChannel ? { channel: props.alertChannel } : { emails: config.alertEmails }),
      });
      this.guardForwarding = new GuardForwarding(this, 'GuardForwarding', {
        regionalAlerts,
        resources: { bucketNames: [], keyArns: [this.vault.key.keyArn], vaultNames: [managedVaultName(config.prefix)] },
        primaryRegion: config.primaryRegion,
        ...(props.copiedFromAccount !== undefined ? { primaryAccount: props.copiedFromAccount } : {}),
      });
    }
  }
}
