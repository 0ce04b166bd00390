import { Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import type { BackupKitConfig } from '../config/config';
import { ManagedBackupVault } from '../constructs/managed-backup-vault';
import { managedVaultProps } from './managed-vault-settings';

export interface ManagedVaultDrStackProps extends StackProps {
  readonly config: BackupKitConfig;
}

/** The DR region's AWS Backup vault: where every rule with `copyToDr` copies its recovery points. */
export class ManagedVaultDrStack extends Stack {
  readonly vault: ManagedBackupVault;

  constructor(scope: Construct, id: string, props: ManagedVaultDrStackProps) {
    super(scope, id, props);
    this.vault = new ManagedBackupVault(this, 'ManagedVault', managedVaultProps(props.config, props.config.drRegion));
  }
}
