import { Aws } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';

/** ARN of an RDS resource of this account. */
export function rdsArn(region: string, resource: string): string {
  return `arn:${Aws.PARTITION}:rds:${region}:${Aws.ACCOUNT_ID}:${resource}`;
}

/** How cdk-nag spells `rdsArn(region, resource)` in an AwsSolutions-IAM5 finding. */
export function nagRdsArn(region: string, resource: string): string {
  return `Resource::arn:<AWS::Partition>:rds:${region}:<AWS::AccountId>:${resource}`;
}

export function kmsKeyWildcard(region: string): string {
  return `arn:${Aws.PARTITION}:kms:${region}:${Aws.ACCOUNT_ID}:key/*`;
}

/** Lets RDS use `keys` on the role's behalf in `region` (the grants RDS needs for encrypted instances), and nothing else. */
export function grantKmsThroughRds(role: iam.Role, region: string, keys: readonly string[]): void {
  const viaRds = { 'kms:ViaService': `rds.${region}.amazonaws.com` };
  role.addToPolicy(
    new iam.PolicyStatement({
      actions: ['kms:DescribeKey'],
      resources: [...keys],
      conditions: { StringEquals: viaRds },
    }),
  );
  role.addToPolicy(
    new iam.PolicyStatement({
      actions: ['kms:CreateGrant'],
      resources: [...keys],
      conditions: { StringEquals: viaRds, Bool: { 'kms:GrantIsForAWSResource': 'true' } },
    }),
  );
}
