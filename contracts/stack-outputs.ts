/**
 * What the command line reads from the deployed stacks: their names and the outputs it needs.
 * Pure: shared by the stacks that declare the outputs and the command that reads them.
 */

/** The stateful stack of the primary region, which holds the backup bucket. */
export function storageStackName(prefix: string): string {
  return `${prefix}-storage`;
}

/** The stateless stack of the primary region, which holds the jobs and the restore functions. */
export function jobsStackName(prefix: string): string {
  return `${prefix}-jobs`;
}

export const STACK_OUTPUTS = {
  /** The backup bucket's name (CloudFormation makes it), in the storage stack. */
  backupBucketName: 'BackupBucketName',
  /** The restore function's name, in the jobs stack. */
  restoreFunctionName: 'RestoreFunctionName',
  /** The RDS point-in-time restore function's name, in the jobs stack. */
  rdsRestoreFunctionName: 'RdsRestoreFunctionName',
} as const;
