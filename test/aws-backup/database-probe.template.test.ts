import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import type { BackupKitConfigInput } from '../../lib/config/config';
import { buildTestApp } from '../foundation/app-fixture';
import { TemplateResolver, decide, type PolicyDocument } from '../support/iam';

/** The database probe of the restore tests: where it runs, what it may sign in as, who may call it. */

const ACCOUNT = '111122223333';
const ORDERS = `arn:aws:rds:eu-west-1:${ACCOUNT}:db:orders-db`;
const SUBNETS = ['subnet-0a1b2c3d4e5f60718', 'subnet-0b1c2d3e4f5a60718'];
const GROUP = 'sg-0a9b8c7d6e5f40312';
const STATEMENT = "SELECT max(created_at) > now() - interval '2 days' FROM orders";

const withProbes = (probes: Record<string, { database: string; statements: string[] }> | undefined): Partial<BackupKitConfigInput> => ({
  primaryRegion: 'eu-west-1',
  drRegion: 'eu-central-1',
  account: ACCOUNT,
  awsBackup: {
    classes: {
      databases: {
        resources: { rdsInstances: [ORDERS] },
        restoreTesting: { network: { subnetGroupName: 'orders-db-subnets', securityGroupIds: ['sg-0f1e2d3c4b5a69788'] }, ...(probes ? { probes } : {}) },
      },
    },
    ...(probes ? { probeNetwork: { subnetIds: SUBNETS, securityGroupIds: [GROUP] } } : {}),
  },
});

describe('the database probe of the restore tests', () => {
  const { stacks } = buildTestApp(withProbes({ 'orders-db': { database: 'orders', statements: [STATEMENT] } }));
  const resolver = new TemplateResolver([stacks.storage, stacks.jobs]);
  const functions = resolver.resourcesOf(stacks.jobs, 'AWS::Lambda::Function');
  const [probeId, probe] = functions.find(([, fn]) => JSON.stringify(fn.Environment ?? {}).includes('DATABASE_PROBE_SETTINGS')) ?? [];
  const [, completion] = functions.find(([, fn]) => JSON.stringify(fn.Environment ?? {}).includes('MANAGED_RESTORE_ALERT_TOPIC')) ?? [];
  const variables = (fn: unknown) => (resolver.resolve(((fn as { Environment?: unknown } | undefined)?.Environment ?? null) as never, stacks.jobs) as { Variables: Record<string, string> }).Variables;
  const policiesOf = (role: unknown) => {
    const roleId = String((role as { 'Fn::GetAtt': [string] })['Fn::GetAtt'][0]);
    return resolver
      .resourcesOf(stacks.jobs, 'AWS::IAM::Policy')
      .filter(([, policy]) => JSON.stringify(policy.Roles).includes(roleId))
      .map(([, policy]) => resolver.policy(policy.PolicyDocument ?? null, stacks.jobs) as PolicyDocument);
  };

  it('GIVEN probes of orders-db THEN the function runs in the configured subnets and group, with the statements, the database and the user in its settings', () => {
    expect(probe?.VpcConfig).toEqual({ SubnetIds: SUBNETS, SecurityGroupIds: [GROUP] });
    expect(JSON.parse(String(variables(probe).DATABASE_PROBE_SETTINGS))).toEqual({ region: 'eu-west-1', databases: [{ resource: 'rds:orders-db', database: 'orders', user: 'backup_probe', statements: [STATEMENT] }] });
    expect(probe?.Timeout).toBe(240);
    const restoreSettings = JSON.parse(String(variables(completion).MANAGED_RESTORE_SETTINGS)) as { resources: { name: string; probed?: boolean }[] };
    expect(restoreSettings.resources).toEqual([expect.objectContaining({ name: 'rds:orders-db', probed: true })]);
  });

  it('GIVEN the probe\'s role THEN it signs in to RDS only as backup_probe, puts interfaces only in its subnets, and calls nothing else', async () => {
    const policies = policiesOf(probe?.Role);
    const as = (action: string, resource: string) => decide({ principal: `arn:aws:iam::${ACCOUNT}:role/database-probe`, identityPolicies: policies, action, resource });
    expect(await as('rds-db:connect', `arn:aws:rds-db:eu-west-1:${ACCOUNT}:dbuser:db-ABCDEFGHIJKL01234/backup_probe`)).toBe('Allowed');
    expect(await as('rds-db:connect', `arn:aws:rds-db:eu-west-1:${ACCOUNT}:dbuser:db-ABCDEFGHIJKL01234/postgres`)).toBe('ImplicitlyDenied');
    expect(await as('rds-db:connect', `arn:aws:rds-db:eu-central-1:${ACCOUNT}:dbuser:db-ABCDEFGHIJKL01234/backup_probe`)).toBe('ImplicitlyDenied');
    expect(await as('ec2:CreateNetworkInterface', `arn:aws:ec2:eu-west-1:${ACCOUNT}:subnet/${SUBNETS[0]}`)).toBe('Allowed');
    expect(await as('ec2:CreateNetworkInterface', `arn:aws:ec2:eu-west-1:${ACCOUNT}:security-group/${GROUP}`)).toBe('Allowed');
    expect(await as('ec2:CreateNetworkInterface', `arn:aws:ec2:eu-west-1:${ACCOUNT}:subnet/subnet-0ffffffffffffffff`)).toBe('ImplicitlyDenied');
    expect(await as('ec2:CreateNetworkInterface', `arn:aws:ec2:eu-west-1:${ACCOUNT}:security-group/sg-0ffffffffffffffff`)).toBe('ImplicitlyDenied');
    expect(await as('rds:DescribeDBInstances', `arn:aws:rds:eu-west-1:${ACCOUNT}:db:orders-db`)).toBe('ImplicitlyDenied');
    expect(await as('secretsmanager:GetSecretValue', `arn:aws:secretsmanager:eu-west-1:${ACCOUNT}:secret:orders-AbCdEf`)).toBe('ImplicitlyDenied');
  });

  it('GIVEN the restore test validation THEN it, and only it, may invoke the probe, which it knows by name', async () => {
    const probeArn = String(resolver.resolve({ 'Fn::GetAtt': [String(probeId), 'Arn'] }, stacks.jobs));
    expect(variables(completion).MANAGED_RESTORE_PROBE_FUNCTION).toBe(String(resolver.resolve({ Ref: String(probeId) }, stacks.jobs)));
    const invokers = await Promise.all(
      functions.map(async ([, fn]) => ((await decide({ principal: `arn:aws:iam::${ACCOUNT}:role/x`, identityPolicies: policiesOf(fn.Role), action: 'lambda:InvokeFunction', resource: probeArn })) === 'Allowed' ? [fn] : [])),
    );
    expect(invokers.flat()).toEqual([completion]);
    expect(await decide({ principal: `arn:aws:iam::${ACCOUNT}:role/x`, identityPolicies: policiesOf(completion?.Role), action: 'lambda:InvokeFunction', resource: `${probeArn}:1` })).toBe('ImplicitlyDenied');
  });

  it('GIVEN no probes THEN there is no probe function and the validation knows of none', () => {
    const plain = buildTestApp(withProbes(undefined));
    const template = Template.fromStack(plain.stacks.jobs).toJSON() as { Resources: Record<string, { Type: string; Properties?: { Environment?: unknown } }> };
    const environments = Object.values(template.Resources).filter((resource) => resource.Type === 'AWS::Lambda::Function').map((resource) => JSON.stringify(resource.Properties?.Environment ?? {}));
    expect(environments.some((environment) => environment.includes('DATABASE_PROBE_SETTINGS'))).toBe(false);
    expect(environments.some((environment) => environment.includes('MANAGED_RESTORE_PROBE_FUNCTION'))).toBe(false);
  });
});
