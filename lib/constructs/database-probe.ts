import { Aws, Duration, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { join } from 'node:path';
import { DATABASE_PROBE_ENV, type DatabaseProbeSettings, type ProbedDatabase } from '../../contracts/database-probe';
import { SERVICES } from '../../contracts/metric-catalog';
import { HouseFunction } from './house-function';
import { acknowledgeWildcardResources, acknowledgeWildcards } from './nag';

export interface DatabaseProbeProps {
  /** The databases whose restore test copies are probed, each with its database, user and statements; at least one. */
  readonly databases: readonly ProbedDatabase[];
  /** Subnets of the VPC the copies are in (the function's network interfaces go there). */
  readonly subnetIds: readonly string[];
  /** The function's security groups: the copies' groups must admit them on the database port. */
  readonly securityGroupIds: readonly string[];
  /** Key of the function's log group. */
  readonly logKey: kms.IKey;
}

const SUBNET_ID = /^subnet-[0-9a-f]{8,17}$/;
const SECURITY_GROUP_ID = /^sg-[0-9a-f]{8,17}$/;

/**
 * The function that runs the configured SQL probes on AWS Backup's restore test copies of RDS
 * databases: in the copies' VPC, signing in with IAM database authentication as the configured
 * user (it holds no password and may reach only the users it probes as), reading in read-only
 * transactions. It calls no AWS API, so the VPC needs no route to AWS: the restore test
 * validation, outside the VPC, describes the copy and invokes this function with its endpoint.
 */
export class DatabaseProbe extends Construct {
  readonly handler: HouseFunction;

  constructor(scope: Construct, id: string, props: DatabaseProbeProps) {
    super(scope, id);
    validate(props);
    const stack = Stack.of(this);
    const settings: DatabaseProbeSettings = { region: stack.region, databases: props.databases.map((database) => ({ ...database, statements: [...database.statements] })) };
    this.handler = new HouseFunction(this, 'Handler', {
      entry: join(__dirname, '../../lambda/database-probe/handler.ts'),
      description: `Runs the configured SQL probes on AWS Backup restore test copies (${props.databases.map((database) => database.resource).join(', ')})`.slice(0, 256),
      serviceName: SERVICES.managedBackup,
      logKey: props.logKey,
      // Ten statements of at most 20 s each, and the sign-in.
      timeout: Duration.minutes(4),
      environment: { [DATABASE_PROBE_ENV.settings]: stack.toJsonString(settings) },
    });
    (this.handler.function.node.defaultChild as lambda.CfnFunction).vpcConfig = { subnetIds: [...props.subnetIds], securityGroupIds: [...props.securityGroupIds] };
    this.grantNetworkInterfaces(props);

    const users = [...new Set(props.databases.map((database) => database.user))];
    // A copy's resource ID is new with each restore: the user name is what can be named.
    const probeUsers = users.map((user) => `arn:${Aws.PARTITION}:rds-db:${stack.region}:${Aws.ACCOUNT_ID}:dbuser:*/${user}`);
    this.handler.role.addToPolicy(new iam.PolicyStatement({ sid: 'SignInAsTheProbeUsers', actions: ['rds-db:connect'], resources: probeUsers }));
    acknowledgeWildcardResources(
      this.handler.role,
      probeUsers,
      "A restore test copy's resource ID is new with every restore; the function signs in only as the configured probe users, only to AWS Backup's test copies (it refuses any other host), and reads in read-only transactions.",
    );
  }

  /** Lets `grantee` invoke the probe (the restore test validation). */
  grantInvoke(grantee: iam.IGrantable): void {
    // The function itself, not its versions and aliases (`:*`), which it has none of.
    grantee.grantPrincipal.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'InvokeTheDatabaseProbe', actions: ['lambda:InvokeFunction'], resources: [this.handler.function.functionArn] }));
  }

  /** What Lambda needs to put the function's network interfaces in the subnets: named where EC2 allows it. */
  private grantNetworkInterfaces(props: DatabaseProbeProps): void {
    const ec2Arn = (resource: string) => `arn:${Aws.PARTITION}:ec2:${Stack.of(this).region}:${Aws.ACCOUNT_ID}:${resource}`;
    const role = this.handler.role;
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'CreateInterfacesInTheProbeSubnets',
        actions: ['ec2:CreateNetworkInterface'],
        resources: [ec2Arn('network-interface/*'), ...props.subnetIds.map((subnet) => ec2Arn(`subnet/${subnet}`)), ...props.securityGroupIds.map((group) => ec2Arn(`security-group/${group}`))],
      }),
    );
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'ManageTheInterfaces',
        actions: ['ec2:DeleteNetworkInterface', 'ec2:AssignPrivateIpAddresses', 'ec2:UnassignPrivateIpAddresses'],
        resources: [ec2Arn('network-interface/*')],
      }),
    );
    role.addToPolicy(new iam.PolicyStatement({ sid: 'DescribeTheInterfaces', actions: ['ec2:DescribeNetworkInterfaces', 'ec2:DescribeSubnets'], resources: ['*'] }));
    const why = "Lambda creates and removes the function's network interfaces with its role; an interface's ID is not known before, and EC2's Describe calls take only '*'.";
    acknowledgeWildcards(role, ['Resource::*'], why);
    acknowledgeWildcardResources(role, [ec2Arn('network-interface/*')], why);
  }
}

function validate(props: DatabaseProbeProps): void {
  if (props.databases.length === 0) throw new Error('DatabaseProbe databases: at least one database is required');
  const seen = new Set<string>();
  for (const database of props.databases) {
    if (seen.has(database.resource)) throw new Error(`DatabaseProbe databases: '${database.resource}' is listed twice`);
    seen.add(database.resource);
    if (database.statements.length === 0) throw new Error(`DatabaseProbe databases: '${database.resource}' has no statements`);
  }
  if (props.subnetIds.length === 0) throw new Error('DatabaseProbe subnetIds: at least one subnet is required');
  for (const subnet of props.subnetIds) if (!SUBNET_ID.test(subnet)) throw new Error(`DatabaseProbe subnetIds: '${subnet}' is not a subnet ID (subnet-...)`);
  if (props.securityGroupIds.length === 0) throw new Error('DatabaseProbe securityGroupIds: at least one security group is required');
  for (const group of props.securityGroupIds) if (!SECURITY_GROUP_ID.test(group)) throw new Error(`DatabaseProbe securityGroupIds: '${group}' is not a security group ID (sg-...)`);
}
