import { describe, expect, it } from 'vitest';
import { exampleConfig } from '../../config/example';
import { loadConfig, type BackupKitConfigInput } from '../../lib/config/config';
import { configErrorOf } from '../support/config-errors';

const DR_KEY = 'arn:aws:kms:eu-central-1:111122223333:key/9f8e7d6c-5b4a-4f3e-9d2c-1b0a9f8e7d6c';
const drReplication = { subnetGroupName: 'orders-dr-db-subnets', securityGroupIds: ['sg-0a1b2c3d4e5f60718'], kmsKeyArn: DR_KEY };

const withRds = (rds: unknown, extra: Partial<BackupKitConfigInput> = {}) => ({ ...exampleConfig, ...extra, rds });

describe('rds config section', () => {
  it('GIVEN the example THEN orders-db is restorable and replicated 7 days to the DR region', () => {
    const { config } = loadConfig(exampleConfig);

    expect(config.rds.instances).toEqual([
      expect.objectContaining({ identifier: 'orders-db', drReplication: expect.objectContaining({ retentionDays: 7, subnetGroupName: 'orders-dr-db-subnets' }) }),
    ]);
  });

  it('GIVEN no rds section THEN there is nothing to restore', () => {
    const { rds: _omitted, ...withoutRds } = exampleConfig;

    expect(loadConfig(withoutRds).config.rds).toEqual({ instances: [], clusters: [] });
  });

  it('GIVEN drReplication without retentionDays THEN RDS keeps the replicated backups 7 days', () => {
    const { config } = loadConfig(withRds({ instances: [{ identifier: 'orders-db', drReplication }] }));

    expect(config.rds.instances[0]?.drReplication?.retentionDays).toBe(7);
  });

  it.each([
    ['Orders-DB', /rds.instances.0.identifier: 'Orders-DB' is not a valid RDS DB instance identifier: must start with a lowercase letter/],
    ['orders--db', /rds.instances.0.identifier: .*two hyphens in a row/],
    ['orders-db-', /rds.instances.0.identifier: .*must not end with a hyphen/],
    ['9orders', /rds.instances.0.identifier: .*must start with a lowercase letter/],
    ['orders_db', /rds.instances.0.identifier: .*only lowercase letters, digits and hyphens/],
    ['a'.repeat(46), /rds.instances.0.identifier: must be at most 45 characters \(got 46\): '<identifier>-pitr-<yyyymmddhhmm>' must fit RDS's 63 characters/],
    ['orders-db-pitr-202611211406', /rds.instances.0.identifier: .*contains '-pitr-', which marks the restored copies/],
  ])('GIVEN identifier %s THEN synth fails naming the field and the rule', (identifier, message) => {
    expect(configErrorOf(withRds({ instances: [{ identifier }] }))).toMatch(message);
  });

  it('GIVEN the same instance twice THEN synth fails naming the second', () => {
    expect(configErrorOf(withRds({ instances: [{ identifier: 'orders-db' }, { identifier: 'orders-db' }] }))).toMatch(
      /rds.instances.1.identifier: 'orders-db' is listed twice \(also rds.instances.0\)/,
    );
  });

  it('GIVEN a DR key in the primary region THEN synth fails naming drReplication.kmsKeyArn', () => {
    const wrongRegion = { ...drReplication, kmsKeyArn: 'arn:aws:kms:eu-west-1:111122223333:key/9f8e7d6c-5b4a-4f3e-9d2c-1b0a9f8e7d6c' };

    expect(configErrorOf(withRds({ instances: [{ identifier: 'orders-db', drReplication: wrongRegion }] }))).toMatch(
      /rds.instances.0.drReplication.kmsKeyArn: must be a key in eu-central-1 \(got one in eu-west-1\)/,
    );
  });

  it('GIVEN a source key of another account than the config deploys to THEN synth fails naming kmsKeyArn', () => {
    const input = withRds({ instances: [{ identifier: 'orders-db', kmsKeyArn: 'arn:aws:kms:eu-west-1:999999999999:key/1a2b3c4d-5e6f-4a1b-8c2d-3e4f5a6b7c8d' }] }, { account: '111122223333' });

    expect(configErrorOf(input)).toMatch(/rds.instances.0.kmsKeyArn: must be a key of account 111122223333 \(got 999999999999\)/);
  });

  it('GIVEN a key alias instead of a key ARN THEN synth fails saying a key ARN is needed', () => {
    expect(configErrorOf(withRds({ instances: [{ identifier: 'orders-db', kmsKeyArn: 'arn:aws:kms:eu-west-1:111122223333:alias/orders' }] }))).toMatch(
      /rds.instances.0.kmsKeyArn: must be a KMS key ARN .*not an alias/,
    );
  });

  it('GIVEN drReplication without the DR network THEN synth fails naming the missing fields', () => {
    const message = configErrorOf(withRds({ instances: [{ identifier: 'orders-db', drReplication: { retentionDays: 7 } }] }));

    expect(message).toMatch(/rds.instances.0.drReplication.subnetGroupName/);
    expect(message).toMatch(/rds.instances.0.drReplication.securityGroupIds/);
  });

  it.each([
    [{ ...drReplication, retentionDays: 36 }, /rds.instances.0.drReplication.retentionDays/],
    [{ ...drReplication, retentionDays: 0 }, /rds.instances.0.drReplication.retentionDays/],
    [{ ...drReplication, securityGroupIds: [] }, /rds.instances.0.drReplication.securityGroupIds: at least one security group is required/],
    [{ ...drReplication, securityGroupIds: ['default'] }, /rds.instances.0.drReplication.securityGroupIds.0: must be a security group ID/],
    [{ ...drReplication, securityGroupIds: ['sg-0a1b2c3d4e5f60718', 'sg-0a1b2c3d4e5f60718'] }, /securityGroupIds: 'sg-0a1b2c3d4e5f60718' is listed twice/],
    [{ ...drReplication, subnetGroup: 'typo' }, /rds.instances.0.drReplication: Unrecognized key: "subnetGroup"/],
  ])('GIVEN drReplication %o THEN synth fails naming the field', (dr, message) => {
    expect(configErrorOf(withRds({ instances: [{ identifier: 'orders-db', drReplication: dr }] }))).toMatch(message);
  });

  it('GIVEN an unknown field on an instance THEN synth fails naming it', () => {
    expect(configErrorOf(withRds({ instances: [{ identifier: 'orders-db', cluster: true }] }))).toMatch(/rds.instances.0: Unrecognized key: "cluster"/);
  });

  it('GIVEN replication without a DR key THEN synth warns that an encrypted source would fail at deploy', () => {
    const { kmsKeyArn: _none, ...unkeyed } = drReplication;

    const { warnings } = loadConfig(withRds({ instances: [{ identifier: 'orders-db', drReplication: unkeyed }] }));

    expect(warnings.filter((warning) => warning.startsWith('rds.'))).toEqual([expect.stringMatching(/rds.instances.0.drReplication.kmsKeyArn: not set: if orders-db is encrypted, replication fails at deploy/)]);
  });

  describe('Aurora clusters', () => {
    it('GIVEN the example THEN billing-aurora is restorable with its key', () => {
      expect(loadConfig(exampleConfig).config.rds.clusters).toEqual([{ identifier: 'billing-aurora', kmsKeyArn: expect.stringMatching(/^arn:aws:kms:eu-west-1:/) }]);
    });

    it.each([
      [{ clusters: [{ identifier: 'a'.repeat(44) }] }, /rds.clusters.0.identifier: must be at most 43 characters: '<identifier>-pitr-<yyyymmddhhmm>-<n>'/],
      [{ instances: [{ identifier: 'billing' }], clusters: [{ identifier: 'billing' }] }, /rds.clusters.0.identifier: 'billing' is also rds.instances.0: a name is an instance or a cluster/],
      [{ clusters: [{ identifier: 'billing' }, { identifier: 'billing' }] }, /rds.clusters.1.identifier: 'billing' is listed twice \(also rds.clusters.0\)/],
      [{ clusters: [{ identifier: 'billing', kmsKeyArn: DR_KEY }] }, /rds.clusters.0.kmsKeyArn: must be a key in eu-west-1 \(got one in eu-central-1\)/],
      [{ clusters: [{ identifier: 'billing', drReplication }] }, /rds.clusters.0: .*drReplication/],
    ])('GIVEN %j THEN synth fails naming the field', (rds, message) => {
      expect(configErrorOf(withRds(rds))).toMatch(message);
    });
  });
});
