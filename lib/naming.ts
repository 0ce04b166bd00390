import { Aws } from 'aws-cdk-lib';

/**
 * Names that are a contract between stacks in different regions. Synth has no account,
 * so they are built from the deploy-time account token, which resolves to the same
 * account in both stacks.
 */
export function replicaBucketName(prefix: string, drRegion: string): string {
  return `${prefix}-replica-${Aws.ACCOUNT_ID}-${drRegion}`;
}

export function replicaKeyAliasName(prefix: string): string {
  return `alias/${prefix}-backup-replica`;
}

export function replicaKeyAliasArn(prefix: string, drRegion: string): string {
  return `arn:${Aws.PARTITION}:kms:${drRegion}:${Aws.ACCOUNT_ID}:${replicaKeyAliasName(prefix)}`;
}

/** The guard's trail, found by name by the alert rules. */
export function guardTrailName(prefix: string): string {
  return `${prefix}-guard`;
}
