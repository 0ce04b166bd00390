import { Aws } from 'aws-cdk-lib';
import { managedVaultName } from '../contracts/managed-backup';

/**
 * Names that are a contract between stacks in different regions (and, with an isolated replica
 * account, different accounts). Synth has no account, so in one account they are built from the
 * deploy-time account token, which resolves to the same account in both stacks; an isolated
 * replica account is named in the config, so its names carry it.
 */
export function replicaBucketName(prefix: string, drRegion: string, replicaAccount?: string): string {
  return `${prefix}-replica-${replicaAccount ?? Aws.ACCOUNT_ID}-${drRegion}`;
}

export function replicaKeyAliasName(prefix: string): string {
  return `alias/${prefix}-backup-replica`;
}

/** Roles an isolated replica account's policies name: the one that replicates, the one that checks replicas. */
export function replicationRoleName(prefix: string): string {
  return `${prefix}-backup-replication`;
}

export function verifyWorkerRoleName(prefix: string): string {
  return `${prefix}-verify-worker`;
}

/** The guard's trail, found by name by the alert rules. */
export function guardTrailName(prefix: string): string {
  return `${prefix}-guard`;
}

export { managedVaultName };

/** ARN of that vault in `region` of this account (the DR one is another stack's, found by name). */
export function managedVaultArn(prefix: string, region: string, account: string = Aws.ACCOUNT_ID): string {
  return `arn:${Aws.PARTITION}:backup:${region}:${account}:backup-vault:${managedVaultName(prefix)}`;
}
