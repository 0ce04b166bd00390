import {
  CreateDBInstanceCommand,
  DescribeDBClustersCommand,
  DescribeDBInstancesCommand,
  RDSClient,
  RestoreDBClusterToPointInTimeCommand,
  type DBCluster,
} from '@aws-sdk/client-rds';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { RequestRejectedError } from '../../contracts/errors';
import { parseRestoreEvent, type RestoreEventInput } from '../../contracts/rds-restore-event';
import type { RestoreSettings } from '../../contracts/rds';
import { restoreToPointInTime, type RestoreDependencies } from '../../lambda/rds-restore/core';
import { ACCOUNT, DR, PRIMARY, awsError, expectNoMutatingCalls, settings as instanceSettings } from './fixtures';

/** Point-in-time restore of an allowlisted Aurora cluster: a new cluster, then its instances with the source's classes. */

const CLUSTER_KEY = `arn:aws:kms:${PRIMARY}:${ACCOUNT}:key/5c6d7e8f-9a0b-4c1d-8e2f-3a4b5c6d7e8f`;
const settings: RestoreSettings = { ...instanceSettings, sources: [...instanceSettings.sources, { identifier: 'billing-aurora', kind: 'cluster', kmsKeyArn: CLUSTER_KEY }] };
const primary = new RDSClient({ region: PRIMARY });
const dr = new RDSClient({ region: DR });
const primaryMock = mockClient(primary);
const drMock = mockClient(dr);
const deps: RestoreDependencies = { rds: { primary, dr }, retry: { sleep: async () => undefined } };
const invocation = { requestId: 'c0ffee00-1111-2222-3333-444455556666', now: new Date('2026-11-21T14:20:07Z') };
const restore = (event: RestoreEventInput) => restoreToPointInTime(parseRestoreEvent(event), settings, deps, invocation);

function sourceCluster(overrides: Partial<DBCluster> = {}): DBCluster {
  return {
    DBClusterIdentifier: 'billing-aurora',
    Engine: 'aurora-postgresql',
    EngineVersion: '16.4',
    Status: 'available',
    EarliestRestorableTime: new Date('2026-11-14T03:00:00Z'),
    LatestRestorableTime: new Date('2026-11-21T14:15:00Z'),
    DBSubnetGroup: 'billing-db-subnets',
    VpcSecurityGroups: [{ VpcSecurityGroupId: 'sg-0aaaaaaaaaaaaaaa1', Status: 'active' }],
    DBClusterParameterGroup: 'billing-aurora-pg16',
    Port: 5432,
    StorageEncrypted: true,
    KmsKeyId: CLUSTER_KEY,
    IAMDatabaseAuthenticationEnabled: false,
    EnabledCloudwatchLogsExports: ['postgresql'],
    // A reader listed first: the writer must still come first in the copy.
    DBClusterMembers: [
      { DBInstanceIdentifier: 'billing-aurora-reader', IsClusterWriter: false, PromotionTier: 1 },
      { DBInstanceIdentifier: 'billing-aurora-writer', IsClusterWriter: true, PromotionTier: 0 },
    ],
    TagList: [{ Key: 'team', Value: 'billing' }, { Key: 'aws:cloudformation:stack-name', Value: 'app' }],
    ...overrides,
  };
}

function givenCluster(cluster: DBCluster = sourceCluster(), others: DBCluster[] = []): void {
  primaryMock.on(DescribeDBClustersCommand, { DBClusterIdentifier: 'billing-aurora' }).resolves({ DBClusters: [cluster] });
  primaryMock.on(DescribeDBClustersCommand, { MaxRecords: 100 }).resolves({ DBClusters: [cluster, ...others] });
  primaryMock.on(DescribeDBInstancesCommand).rejects(awsError('DBInstanceNotFoundFault', 'not found', 404));
  primaryMock.on(DescribeDBInstancesCommand, { DBInstanceIdentifier: 'billing-aurora-writer' }).resolves({ DBInstances: [{ DBInstanceIdentifier: 'billing-aurora-writer', DBInstanceClass: 'db.r6g.xlarge', DBParameterGroups: [{ DBParameterGroupName: 'billing-instance-pg16' }] }] });
  primaryMock.on(DescribeDBInstancesCommand, { DBInstanceIdentifier: 'billing-aurora-reader' }).resolves({ DBInstances: [{ DBInstanceIdentifier: 'billing-aurora-reader', DBInstanceClass: 'db.r6g.large', DBParameterGroups: [{ DBParameterGroupName: 'billing-instance-pg16' }] }] });
  primaryMock.on(RestoreDBClusterToPointInTimeCommand).callsFake((input: { DBClusterIdentifier: string }) => ({ DBCluster: { DBClusterIdentifier: input.DBClusterIdentifier, Status: 'creating' } }));
  primaryMock.on(CreateDBInstanceCommand).resolves({ DBInstance: { DBInstanceStatus: 'creating' } });
}

beforeEach(() => {
  primaryMock.reset();
  drMock.reset();
});

const ownTags = (restoreTime = '2026-11-20T09:30:00Z') => [
  { Key: 'team', Value: 'billing' },
  { Key: 'restored-from', Value: 'billing-aurora' },
  { Key: 'restore-time', Value: restoreTime },
  { Key: 'restore-point', Value: restoreTime },
  { Key: 'requested-by', Value: 'jane' },
  { Key: 'restore-requested-at', Value: '2026-11-21T14:20:07Z' },
  { Key: 'restore-request-id', Value: invocation.requestId },
];

describe('Aurora cluster point-in-time restore', () => {
  it('GIVEN a time in the window THEN a new cluster gets the source\'s network, parameter group and tags, then one instance per source instance, writer first, with their classes', async () => {
    givenCluster();
    const result = await restore({ source: 'billing-aurora', restoreTime: '2026-11-20T09:30:00Z', requestedBy: 'jane' });

    expect(result).toMatchObject({ outcome: 'started', target: 'billing-aurora-pitr-202611200930', status: 'creating', consoleLink: expect.stringContaining('is-cluster=true') });
    expect(primaryMock.commandCalls(RestoreDBClusterToPointInTimeCommand).map((call) => call.args[0].input)).toEqual([
      {
        DBClusterIdentifier: 'billing-aurora-pitr-202611200930',
        SourceDBClusterIdentifier: 'billing-aurora',
        RestoreType: 'full-copy',
        RestoreToTime: new Date('2026-11-20T09:30:00Z'),
        DBSubnetGroupName: 'billing-db-subnets',
        VpcSecurityGroupIds: ['sg-0aaaaaaaaaaaaaaa1'],
        DBClusterParameterGroupName: 'billing-aurora-pg16',
        Port: 5432,
        EnableIAMDatabaseAuthentication: false,
        EnableCloudwatchLogsExports: ['postgresql'],
        ServerlessV2ScalingConfiguration: undefined,
        DeletionProtection: true,
        CopyTagsToSnapshot: true,
        Tags: ownTags(),
      },
    ]);
    expect(primaryMock.commandCalls(CreateDBInstanceCommand).map((call) => call.args[0].input)).toEqual([
      { DBInstanceIdentifier: 'billing-aurora-pitr-202611200930-1', DBClusterIdentifier: 'billing-aurora-pitr-202611200930', Engine: 'aurora-postgresql', DBInstanceClass: 'db.r6g.xlarge', DBParameterGroupName: 'billing-instance-pg16', PromotionTier: 0, PubliclyAccessible: false, Tags: ownTags() },
      { DBInstanceIdentifier: 'billing-aurora-pitr-202611200930-2', DBClusterIdentifier: 'billing-aurora-pitr-202611200930', Engine: 'aurora-postgresql', DBInstanceClass: 'db.r6g.large', DBParameterGroupName: 'billing-instance-pg16', PromotionTier: 1, PubliclyAccessible: false, Tags: ownTags() },
    ]);
    expect(result.next[0]).toContain('then its instances billing-aurora-pitr-202611200930-1, billing-aurora-pitr-202611200930-2');
  });

  it('GIVEN a dry run THEN the plan shows the cluster and its instances, and nothing is changed', async () => {
    givenCluster();
    const result = await restore({ source: 'billing-aurora', restoreTime: 'latest', instanceClass: 'db.t4g.medium', dryRun: true });
    expect(result.outcome).toBe('dry-run');
    expect(result.plan).toMatchObject({ UseLatestRestorableTime: true, DBClusterIdentifier: 'billing-aurora-pitr-202611211415', Instances: [{ DBInstanceClass: 'db.t4g.medium' }, { DBInstanceClass: 'db.t4g.medium' }] });
    expectNoMutatingCalls(primaryMock, drMock);
  });

  it('GIVEN a time outside the window THEN it is refused naming the window, and nothing starts', async () => {
    givenCluster();
    await expect(restore({ source: 'billing-aurora', restoreTime: '2026-11-01T00:00:00Z' })).rejects.toThrow(/outside the restorable window of billing-aurora in eu-west-1: 2026-11-14T03:00:00Z to 2026-11-21T14:15:00Z/);
    expectNoMutatingCalls(primaryMock, drMock);
  });

  it('GIVEN the same request again while the copy is created, with an instance left uncreated THEN no second cluster starts and the missing instance is created', async () => {
    const copy = { DBClusterIdentifier: 'billing-aurora-pitr-202611200930', Status: 'creating', TagList: ownTags() };
    givenCluster(sourceCluster(), [copy]);
    primaryMock.on(DescribeDBInstancesCommand, { DBInstanceIdentifier: 'billing-aurora-pitr-202611200930-1' }).resolves({ DBInstances: [{ DBInstanceIdentifier: 'billing-aurora-pitr-202611200930-1', DBClusterIdentifier: 'billing-aurora-pitr-202611200930' }] });
    const result = await restore({ source: 'billing-aurora', restoreTime: '2026-11-20T09:30:00Z', requestedBy: 'jane' });
    expect(result.outcome).toBe('already-in-progress');
    expect(result.summary).toContain('created now: billing-aurora-pitr-202611200930-2');
    expect(primaryMock).toHaveReceivedCommandTimes(RestoreDBClusterToPointInTimeCommand, 0);
    expect(primaryMock.commandCalls(CreateDBInstanceCommand).map((call) => call.args[0].input.DBInstanceIdentifier)).toEqual(['billing-aurora-pitr-202611200930-2']);
  });

  it.each([
    [{ DBClusterIdentifier: 'billing-aurora-pitr-202611200930', Status: 'available', TagList: [{ Key: 'team', Value: 'other' }] }, 'already exists in eu-west-1 (status available) and is not this restore'],
  ])('GIVEN a target cluster that is not this request THEN it is refused, and nothing starts', async (other, reason) => {
    givenCluster(sourceCluster(), [other]);
    await expect(restore({ source: 'billing-aurora', restoreTime: '2026-11-20T09:30:00Z' })).rejects.toThrow(reason);
    expectNoMutatingCalls(primaryMock, drMock);
  });

  it('GIVEN an instance name of the copy already taken THEN the restore is refused before the cluster is created', async () => {
    givenCluster();
    primaryMock.on(DescribeDBInstancesCommand, { DBInstanceIdentifier: 'billing-aurora-pitr-202611200930-2' }).resolves({ DBInstances: [{ DBInstanceIdentifier: 'billing-aurora-pitr-202611200930-2', DBClusterIdentifier: 'someone-else' }] });
    await expect(restore({ source: 'billing-aurora', restoreTime: '2026-11-20T09:30:00Z' })).rejects.toThrow(/instance 'billing-aurora-pitr-202611200930-2' already exists/);
    expectNoMutatingCalls(primaryMock, drMock);
  });

  it.each([
    [{ region: 'dr' as const }, /Aurora keeps no automated backups in another region/],
    [{ multiAz: true }, /multiAz: 'billing-aurora' is an Aurora cluster/],
  ])('GIVEN %j THEN it is refused naming the field, before any call', async (extra, reason) => {
    givenCluster();
    await expect(restore({ source: 'billing-aurora', restoreTime: 'latest', ...extra })).rejects.toThrow(reason);
    expect(primaryMock.calls()).toHaveLength(0);
  });

  it.each([
    [sourceCluster({ Engine: 'postgres' }), /is a postgres cluster: this function restores Aurora clusters only/],
    [sourceCluster({ KmsKeyId: `arn:aws:kms:${PRIMARY}:${ACCOUNT}:key/other` }), /the config names .* \(rds.clusters kmsKeyArn\)/],
    [sourceCluster({ VpcSecurityGroups: [] }), /refusing to restore into the default VPC/],
    [sourceCluster({ DBClusterMembers: [] }), /has no instances/],
  ])('GIVEN a source that cannot be restored as asked THEN it is refused with the reason, and nothing starts', async (cluster, reason) => {
    givenCluster(cluster);
    const attempt = restore({ source: 'billing-aurora', restoreTime: 'latest' });
    await expect(attempt).rejects.toThrow(RequestRejectedError);
    await expect(restore({ source: 'billing-aurora', restoreTime: 'latest' })).rejects.toThrow(reason);
    expectNoMutatingCalls(primaryMock, drMock);
  });
});
