/**
 * What the command line reads from the deployed stacks: their names and the outputs it needs.
 * Pure: shared by the stacks that declare the outputs and the command that reads them.
 */

/** The stateful stack of the primary region, which holds the backup bucket. */
export function storageStackName(prefix: string): string {
  return `${prefix}-storage`;
}

export const STACK_OUTPUTS = {
  /** The backup bucket's name (CloudFormation makes it). */
  backupBucketName: 'BackupBucketName',
} as const;
