/** AWS console links an engineer can click from an answer or an alert. */
export const consoleLinks = {
  runCommand: (region: string, commandId: string) =>
    `https://${region}.console.aws.amazon.com/systems-manager/run-command/${commandId}?region=${region}`,
  s3Object: (region: string, bucket: string, key: string) =>
    `https://${region}.console.aws.amazon.com/s3/object/${bucket}?region=${region}&prefix=${encodeURIComponent(key)}`,
  rdsInstance: (region: string, identifier: string) =>
    `https://${region}.console.aws.amazon.com/rds/home?region=${region}#database:id=${identifier};is-cluster=false`,
  lambdaFunction: (region: string, name: string) =>
    `https://${region}.console.aws.amazon.com/lambda/home?region=${region}#/functions/${name}`,
} as const;
