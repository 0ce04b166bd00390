/** AWS console links an engineer can click from an answer or an alert. */
export const consoleLinks = {
  runCommand: (region: string, commandId: string) =>
    `https://${region}.console.aws.amazon.com/systems-manager/run-command/${commandId}?region=${region}`,
  s3Object: (region: string, bucket: string, key: string) =>
    `https://${region}.console.aws.amazon.com/s3/object/${bucket}?region=${region}&prefix=${encodeURIComponent(key)}`,
  rdsInstance: (region: string, identifier: string) =>
    `https://${region}.console.aws.amazon.com/rds/home?region=${region}#database:id=${identifier};is-cluster=false`,
  /** An AWS Backup restore job's details. */
  backupRestoreJob: (region: string, jobId: string) =>
    `https://${region}.console.aws.amazon.com/backup/home?region=${region}#/jobs/restore/details/${jobId}`,
  /** An AWS Backup vault and its recovery points. */
  backupVault: (region: string, vaultName: string) =>
    `https://${region}.console.aws.amazon.com/backup/home?region=${region}#/backupvaults/details/${vaultName}`,
  rdsCluster: (region: string, identifier: string) =>
    `https://${region}.console.aws.amazon.com/rds/home?region=${region}#database:id=${identifier};is-cluster=true`,
  lambdaFunction: (region: string, name: string) =>
    `https://${region}.console.aws.amazon.com/lambda/home?region=${region}#/functions/${name}`,
  /** The function's Test tab, where an engineer pastes an event and runs it. */
  lambdaTest: (region: string, name: string) =>
    `https://${region}.console.aws.amazon.com/lambda/home?region=${region}#/functions/${name}?tab=testing`,
  runCommandInvocation: (region: string, commandId: string, instanceId: string) =>
    `https://${region}.console.aws.amazon.com/systems-manager/run-command/${commandId}/${instanceId}?region=${region}`,
  /**
   * A log group's streams whose names start with `streamPrefix`. The CloudWatch console writes
   * `%` as `$` in its fragment and encodes names twice (`/` is `$252F`, the query `?` is `$3F`).
   */
  logStreams: (region: string, group: string, streamPrefix: string) =>
    `https://${region}.console.aws.amazon.com/cloudwatch/home?region=${region}#logsV2:log-groups/log-group/${consoleEncode(group)}$3FlogStreamNameFilter$3D${consoleEncode(streamPrefix)}`,
} as const;

function consoleEncode(name: string): string {
  return encodeURIComponent(encodeURIComponent(name)).replace(/%/g, '$');
}
