import { Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import type { BackupKitConfig } from '../config/config';
import { GuardForwarding } from '../constructs/guard-alerts';
import { ManagedBackupVault } from '../constructs/managed-backup-vault';
import { type AlertChannel, RegionalAlerts } from '../constructs/regional-alerts';
import { managedVaultName } from '../naming';
import { managedVaultProps } from './managed-vault-settings';

export interface ManagedVaultDrStackProps extends StackProps {
  readonly config: BackupKitConfig;
  /**
   * The region's alert channel of this account, owned by another stack (the replica storage's).
   * @default - with guard alerts on, this stack makes its own (a key and a topic)
   */
  readonly alertChannel?: AlertChannel;
}

/**
 * The DR region's AWS Backup vault: where every rule with `copyToDr` copies its recovery points.
 * With guard alerts on, every call that would delete its recovery points, shorten their lifecycle
 * or loosen its policy or lock, and any change to its key, is forwarded to the primary region's
 * guard alerts, which mail it.
 */
export class ManagedVaultDrStack extends Stack {
  readonly vault: ManagedBackupVault;
  readonly guardForwarding?: GuardForwarding;

  constructor(scope: Construct, id: string, props: ManagedVaultDrStackProps) {
    super(scope, id, props);
    const config = props.config;
    this.vault = new ManagedBackupVault(this, 'ManagedVault', managedVaultProps(config, config.drRegion));
    if (config.guard.alerts) {
      const regionalAlerts = new RegionalAlerts(this, 'RegionalAlerts', {
        description: `AWS Backup vault guard forwarding in ${config.drRegion}`,
        ...(props.alertChannel ? { channel: props.alertChannel } : { emails: config.alertEmails }),
      });
      this.guardForwarding = new GuardForwarding(this, 'GuardForwarding', {
        regionalAlerts,
        resources: { bucketNames: [], keyArns: [this.vault.key.keyArn], vaultNames: [managedVaultName(config.prefix)] },
        primaryRegion: config.primaryRegion,
      });
    }
  }
}
