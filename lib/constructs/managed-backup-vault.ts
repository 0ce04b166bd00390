import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as backup from 'aws-cdk-lib/aws-backup';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import { guardExemption, guardKeyStatement } from './backup-bucket';

/** What no one but the break-glass role may do to the recovery points. */
export const GUARDED_RECOVERY_POINT_ACTIONS = ['backup:DeleteRecoveryPoint', 'backup:UpdateRecoveryPointLifecycle', 'backup:DisassociateRecoveryPoint'] as const;

/** What no one but the exempt roles (the deploy role too: CloudFormation updates them) may do to the vault. */
export const GUARDED_VAULT_ACTIONS = [
  'backup:PutBackupVaultAccessPolicy',
  'backup:DeleteBackupVaultAccessPolicy',
  'backup:PutBackupVaultLockConfiguration',
  'backup:DeleteBackupVaultLockConfiguration',
  'backup:DeleteBackupVault',
] as const;

export interface ManagedVaultLock {
  readonly minRetention: Duration;
  readonly maxRetention: Duration;
  /**
   * Set: compliance mode, immutable once this period after deployment is over (AWS: at least 3 days).
   * @default - governance mode: the exempt roles may still change or remove the lock
   */
  readonly changeableFor?: Duration;
}

export interface ManagedBackupVaultProps {
  /** Physical name: the copy actions of the other region's plans name it in an ARN. */
  readonly vaultName: string;
  /** Whose recovery points, for the key's description. */
  readonly description: string;
  readonly lock: ManagedVaultLock;
  /**
   * The one role that may still delete a recovery point or change its lifecycle.
   * @default - nobody may: recovery points leave only by their lifecycle
   */
  readonly breakGlassRoleName?: string;
  /** Roles (by name; `*` matches any characters) that may change the vault's policy and lock: the deploy role and the break-glass role. */
  readonly guardExemptRoleNames: readonly string[];
  /**
   * Accounts whose AWS Backup may copy recovery points into this vault.
   * @default - none
   */
  readonly copySourceAccounts?: readonly string[];
  /**
   * Accounts whose vaults this vault's recovery points are copied into: AWS Backup copies across
   * accounts only when the source key is shared with the destination account.
   * @default - none
   */
  readonly copyDestinationAccounts?: readonly string[];
}

/**
 * An AWS Backup vault with its own customer-managed key, a Vault Lock, and an access policy under
 * which an account administrator can neither delete a recovery point, shorten its lifecycle, nor
 * loosen the policy or the lock: the managed-data counterpart of the backup bucket's guard.
 */
export class ManagedBackupVault extends Construct {
  readonly vault: backup.BackupVault;
  readonly key: kms.Key;

  constructor(scope: Construct, id: string, props: ManagedBackupVaultProps) {
    super(scope, id);
    if (!/^[A-Za-z0-9_.-]{2,50}$/.test(props.vaultName)) {
      throw new Error(`ManagedBackupVault vaultName: '${props.vaultName}' must be 2-50 letters, digits, '-', '_' or '.'`);
    }
    if (props.guardExemptRoleNames.length === 0) {
      throw new Error('ManagedBackupVault guardExemptRoleNames: name at least the deploy role, or CloudFormation could not update the vault');
    }
    const { minRetention, maxRetention, changeableFor } = props.lock;
    if (minRetention.toDays() > maxRetention.toDays()) {
      throw new Error(`ManagedBackupVault lock: minRetention (${minRetention.toDays()} days) is above maxRetention (${maxRetention.toDays()} days)`);
    }
    if (changeableFor !== undefined && changeableFor.toDays() < 3) {
      throw new Error(`ManagedBackupVault lock.changeableFor: AWS Backup requires at least 3 days (got ${changeableFor.toDays()})`);
    }
    const exempt = guardExemption(this, props.guardExemptRoleNames);

    this.key = new kms.Key(this, 'Key', {
      description: `backup-kit: AWS Backup recovery points of ${props.description}`,
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.key.addToResourcePolicy(guardKeyStatement(exempt));
    for (const account of props.copyDestinationAccounts ?? []) {
      if (!/^\d{12}$/.test(account)) throw new Error(`ManagedBackupVault copyDestinationAccounts: '${account}' is not a 12-digit AWS account ID`);
      this.key.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: `CopiesInto${account}`,
          principals: [new iam.AccountPrincipal(account)],
          actions: ['kms:Decrypt', 'kms:DescribeKey'],
          resources: ['*'],
        }),
      );
      this.key.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: `CopiesInto${account}Grants`,
          principals: [new iam.AccountPrincipal(account)],
          actions: ['kms:CreateGrant'],
          resources: ['*'],
          // Only grants for AWS services (AWS Backup's copy job), never for a principal of that account.
          conditions: { Bool: { 'kms:GrantIsForAWSResource': 'true' } },
        }),
      );
    }

    const accessPolicy = new iam.PolicyDocument({
      statements: [
        new iam.PolicyStatement({
          sid: 'GuardRecoveryPoints',
          effect: iam.Effect.DENY,
          principals: [new iam.AnyPrincipal()],
          actions: [...GUARDED_RECOVERY_POINT_ACTIONS],
          resources: ['*'],
          // Lifecycle expiry is AWS Backup's own doing, not a call by a principal: it goes on.
          ...(props.breakGlassRoleName !== undefined ? { conditions: guardExemption(this, [props.breakGlassRoleName]) } : {}),
        }),
        new iam.PolicyStatement({
          sid: 'GuardVault',
          effect: iam.Effect.DENY,
          principals: [new iam.AnyPrincipal()],
          actions: [...GUARDED_VAULT_ACTIONS],
          // In a vault's access policy `*` is the vault and its recovery points.
          resources: ['*'],
          conditions: exempt,
        }),
        ...(props.copySourceAccounts ?? []).map(
          (account) =>
            new iam.PolicyStatement({
              // (A vault's access policy lets another account's AWS Backup copy in; nothing more.)
              sid: `CopyFrom${account}`,
              actions: ['backup:CopyIntoBackupVault'],
              principals: [new iam.AccountPrincipal(account)],
              resources: ['*'],
            }),
        ),
      ],
    });

    this.vault = new backup.BackupVault(this, 'Vault', {
      backupVaultName: props.vaultName,
      encryptionKey: this.key,
      accessPolicy,
      lockConfiguration: { minRetention, maxRetention, ...(changeableFor !== undefined ? { changeableFor } : {}) },
      removalPolicy: RemovalPolicy.RETAIN,
    });
  }
}
