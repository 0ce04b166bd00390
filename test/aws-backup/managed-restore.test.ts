import {
  BackupClient,
  GetRecoveryPointRestoreMetadataCommand,
  ListRecoveryPointsByBackupVaultCommand,
  StartRestoreJobCommand,
  type RecoveryPointByBackupVault,
} from '@aws-sdk/client-backup';
import { DescribeDBClustersCommand, DescribeDBInstancesCommand, RDSClient } from '@aws-sdk/client-rds';
import { GetBucketVersioningCommand, HeadBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { mockClient, type AwsClientStub } from 'aws-sdk-client-mock';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { InvalidEventError, RequestRejectedError } from '../../contracts/errors';
import { parseManagedRestoreEvent, parseManagedRestoreSettings, type ManagedRestoreEventInput, type ManagedRestoreSettings } from '../../contracts/managed-restore';
import { restoreFromRecoveryPoint, type ManagedRestoreDependencies } from '../../lambda/managed-restore/core';
import { rejectedAnswer } from '../../lambda/shared/answer';

/**
 * Console restores from AWS Backup recovery points, against the answers of AWS Backup, RDS and S3
 * as the SDK returns them: one mock per client, so a call in the wrong region is a call that
 * finds nothing.
 */

const ACCOUNT = '111122223333';
const ORDERS = `arn:aws:rds:eu-west-1:${ACCOUNT}:db:orders-db`;
const BILLING = `arn:aws:rds:eu-west-1:${ACCOUNT}:cluster:billing-aurora`;
const MEDIA = 'arn:aws:s3:::team-media';
const ROLE = `arn:aws:iam::${ACCOUNT}:role/backup-kit-managed-restore`;
const VAULT = 'backup-kit-managed';

const settings: ManagedRestoreSettings = parseManagedRestoreSettings({
  primaryRegion: 'eu-west-1',
  drRegion: 'eu-central-1',
  vaultName: VAULT,
  restoreRoleArn: ROLE,
  resources: [
    { name: 'rds:orders-db', kind: 'rds', identifier: 'orders-db', arn: ORDERS, className: 'databases', copiedToDr: true, drNetwork: { subnetGroupName: 'dr-db-subnets', securityGroupIds: ['sg-0dr1', 'sg-0dr2'], parameterGroupName: 'dr-postgres16' } },
    { name: 'aurora:billing-aurora', kind: 'aurora', identifier: 'billing-aurora', arn: BILLING, className: 'databases', copiedToDr: true },
    { name: 's3:team-media', kind: 's3', identifier: 'team-media', arn: MEDIA, className: 'media', copiedToDr: false },
  ],
});

const clients = {
  backup: { primary: new BackupClient({ region: 'eu-west-1' }), dr: new BackupClient({ region: 'eu-central-1' }) },
  rds: { primary: new RDSClient({ region: 'eu-west-1' }), dr: new RDSClient({ region: 'eu-central-1' }) },
  s3: { primary: new S3Client({ region: 'eu-west-1' }), dr: new S3Client({ region: 'eu-central-1' }) },
};
const mocks = {
  backup: { primary: mockClient(clients.backup.primary), dr: mockClient(clients.backup.dr) },
  rds: { primary: mockClient(clients.rds.primary), dr: mockClient(clients.rds.dr) },
  s3: { primary: mockClient(clients.s3.primary), dr: mockClient(clients.s3.dr) },
};
/** The six stubs, typed by what the tests use of them. */
type AnyStub = Pick<AwsClientStub<BackupClient>, 'calls' | 'reset' | 'restore'>;
const allMocks = (): AnyStub[] => Object.values(mocks).flatMap((pair): AnyStub[] => [pair.primary as AnyStub, pair.dr as AnyStub]);
const deps: ManagedRestoreDependencies = { ...clients, retry: { sleep: async () => undefined } };
afterAll(() => allMocks().forEach((mock) => mock.restore()));

/** Every call any client received, by command name. */
function callNames(): string[] {
  return allMocks().flatMap((mock) => mock.calls().map((call) => (call.args[0] as object).constructor.name));
}
/** Reads only: Get*, List*, Describe*, Head*. */
function expectNoMutatingCalls(): void {
  expect(callNames().filter((name) => !/^(Get|List|Describe|Head)/.test(name))).toEqual([]);
}

const awsError = (name: string, status: number) => Object.assign(new Error(name), { name, $fault: 'client', $metadata: { httpStatusCode: status } });
/** An RDS recovery point is the snapshot AWS Backup made; a continuous one, AWS Backup's own. */
const snapshotArn = (id: string) => (id.startsWith('continuous:') ? `arn:aws:backup:eu-west-1:${ACCOUNT}:recovery-point:${id}` : `arn:aws:rds:eu-west-1:${ACCOUNT}:snapshot:awsbackup:job-${id}`);
const point = (id: string, created: string, extra: Partial<RecoveryPointByBackupVault> = {}): RecoveryPointByBackupVault => ({
  RecoveryPointArn: snapshotArn(id),
  ResourceArn: ORDERS,
  CreationDate: new Date(created),
  CompletionDate: new Date(new Date(created).getTime() + 20 * 60_000),
  Status: 'COMPLETED',
  BackupSizeInBytes: 53_687_091_200,
  ...extra,
});
const RDS_METADATA = { DBInstanceIdentifier: 'orders-db', DBInstanceClass: 'db.r6g.large', Engine: 'postgres', DBSubnetGroupName: 'prod-db-subnets', VpcSecurityGroupIds: '["sg-0prod"]', MultiAZ: 'true', PubliclyAccessible: 'true' };

beforeEach(() => {
  allMocks().forEach((mock) => mock.reset());
  const primary = mocks.backup.primary;
  primary.on(ListRecoveryPointsByBackupVaultCommand, { BackupVaultName: VAULT, ByResourceArn: ORDERS }).callsFake((input: { NextToken?: string }) =>
    input.NextToken === undefined
      ? {
          RecoveryPoints: [point('jan-30', '2026-01-30T03:10:00Z'), point('feb-02', '2026-02-02T03:05:00Z'), point('failed', '2026-02-03T03:00:00Z', { Status: 'PARTIAL' })],
          NextToken: 'page-2',
        }
      : {
          RecoveryPoints: [
            point('jan-31', '2026-01-31T03:02:00Z'),
            point('continuous:db-ABC-123', '2026-01-01T00:00:00Z', { CompletionDate: undefined }),
            // A point still running (a continuous backup whose ARN does not say so) is no snapshot to restore.
            point('running', '2026-02-02T12:00:00Z', { CompletionDate: undefined }),
            point('other', '2026-02-04T03:00:00Z', { ResourceArn: `arn:aws:rds:eu-west-1:${ACCOUNT}:db:other-db` }),
          ],
        },
  );
  primary.on(ListRecoveryPointsByBackupVaultCommand, { ByResourceArn: BILLING }).resolves({ RecoveryPoints: [point('billing', '2026-02-01T04:00:00Z', { ResourceArn: BILLING })] });
  primary.on(ListRecoveryPointsByBackupVaultCommand, { ByResourceArn: MEDIA }).resolves({ RecoveryPoints: [point('media', '2026-02-01T05:00:00Z', { ResourceArn: MEDIA })] });
  primary.on(GetRecoveryPointRestoreMetadataCommand).callsFake((input: { RecoveryPointArn: string }) => ({
    RestoreMetadata: input.RecoveryPointArn.endsWith('media')
      ? { DestinationBucketName: 'team-media', NewBucket: 'false', EncryptionType: 'original' }
      : input.RecoveryPointArn.endsWith('billing')
        ? { DBClusterIdentifier: 'billing-aurora', Engine: 'aurora-postgresql', DBSubnetGroupName: 'prod-db-subnets', VpcSecurityGroupIds: '["sg-0prod"]' }
        : RDS_METADATA,
  }));
  primary.on(StartRestoreJobCommand).resolves({ RestoreJobId: 'job-0001' });
  mocks.rds.primary.on(DescribeDBInstancesCommand).rejects(awsError('DBInstanceNotFoundFault', 404));
  mocks.rds.primary.on(DescribeDBClustersCommand).rejects(awsError('DBClusterNotFoundFault', 404));
  mocks.rds.dr.on(DescribeDBInstancesCommand).rejects(awsError('DBInstanceNotFoundFault', 404));
  mocks.s3.primary.on(HeadBucketCommand).rejects(awsError('NotFound', 404));
  mocks.s3.primary.on(GetBucketVersioningCommand).resolves({ Status: 'Enabled' });
});

const NOW = new Date('2026-02-05T09:00:00Z');
const restore = (event: ManagedRestoreEventInput) => restoreFromRecoveryPoint(parseManagedRestoreEvent(event), settings, deps, { requestId: 'req-1', now: NOW });

/** The refusal, as the console answers it: the field at fault and why. */
async function refusal(event: unknown): Promise<{ field?: string; reason: string }> {
  try {
    await restoreFromRecoveryPoint(parseManagedRestoreEvent(event), settings, deps, { requestId: 'req-1', now: NOW });
  } catch (error) {
    if (error instanceof InvalidEventError || error instanceof RequestRejectedError) return rejectedAnswer(error);
    throw error;
  }
  throw new Error(`expected a refusal of ${JSON.stringify(event)}`);
}

describe('restore from an AWS Backup recovery point', () => {
  it('GIVEN a dry run of "latest" THEN the newest completed snapshot of that resource in the vault is chosen over two pages, the plan is shown, and nothing is changed', async () => {
    const answer = await restore({ source: 'orders-db', recoveryPoint: 'latest', dryRun: true, requestedBy: 'jane' });
    expect(answer.outcome).toBe('dry-run');
    // Not the PARTIAL one, not another instance's, not the continuous one.
    expect(answer.recoveryPoint).toMatchObject({ arn: expect.stringMatching(/-feb-02$/), asked: 'latest', createdAt: '2026-02-02T03:05:00Z', sizeBytes: 53_687_091_200, vault: VAULT });
    expect(answer.target).toBe('orders-db-restored-202602020305');
    expect(answer.metadata).toEqual({ ...RDS_METADATA, DBInstanceIdentifier: 'orders-db-restored-202602020305', PubliclyAccessible: 'false', DeletionProtection: 'true' });
    expect(answer.summary).toMatch(/^Dry run: nothing was changed/);
    expect(mocks.backup.primary.commandCalls(ListRecoveryPointsByBackupVaultCommand).map((call) => call.args[0].input.NextToken)).toEqual([undefined, 'page-2']);
    expect(mocks.backup.dr.calls()).toHaveLength(0);
    expectNoMutatingCalls();
  });

  it('GIVEN "latest-before" a date THEN the newest snapshot created before 00:00 UTC that day is chosen', async () => {
    const answer = await restore({ source: 'rds:orders-db', recoveryPoint: 'latest-before:2026-01-31', dryRun: true });
    expect(answer.recoveryPoint).toMatchObject({ arn: expect.stringMatching(/-jan-30$/), asked: 'latest-before:2026-01-31' });
    const later = await restore({ source: 'orders-db', recoveryPoint: 'latest-before:2026-01-31T05:00:00+01:00', dryRun: true });
    expect(later.recoveryPoint.arn).toMatch(/-jan-31$/);
  });

  it('GIVEN a time before every snapshot THEN it is refused naming recoveryPoint, with what the vault holds', async () => {
    const answer = await refusal({ source: 'orders-db', recoveryPoint: 'latest-before:2025-12-01' });
    expect(answer.field).toBe('recoveryPoint');
    expect(answer.reason).toContain('no completed snapshot recovery point of rds:orders-db created before 2025-12-01T00:00:00Z');
    expect(answer.reason).toContain('it holds 3, created from 2026-01-30T03:10:00Z to 2026-02-02T03:05:00Z');
    expectNoMutatingCalls();
  });

  it.each([
    [snapshotArn('does-not-exist'), 'is not a recovery point of rds:orders-db in vault backup-kit-managed'],
    [snapshotArn('other'), 'is not a recovery point of rds:orders-db'],
    [snapshotArn('failed'), 'is PARTIAL, not a completed recovery point'],
    [snapshotArn('continuous:db-ABC-123'), 'is a continuous backup'],
  ])('GIVEN the recovery point %s THEN it is refused naming recoveryPoint', async (arn, reason) => {
    const answer = await refusal({ source: 'orders-db', recoveryPoint: arn });
    expect(answer.field).toBe('recoveryPoint');
    expect(answer.reason).toContain(reason);
    expectNoMutatingCalls();
  });

  it('GIVEN a real run THEN one restore job starts with the restore role, the resource type and a token that is the same for the same request', async () => {
    const first = await restore({ source: 'orders-db', recoveryPoint: 'latest', instanceClass: 'db.t4g.medium' });
    await restore({ source: 'orders-db', recoveryPoint: 'latest', instanceClass: 'db.t4g.medium' });
    expect(first).toMatchObject({ outcome: 'started', restoreJobId: 'job-0001', consoleLink: expect.stringContaining('#/jobs/restore/details/job-0001') });
    const calls = mocks.backup.primary.commandCalls(StartRestoreJobCommand).map((call) => call.args[0].input);
    expect(calls).toHaveLength(2);
    expect(calls[0]).toMatchObject({ RecoveryPointArn: expect.stringMatching(/-feb-02$/), IamRoleArn: ROLE, ResourceType: 'RDS', Metadata: expect.objectContaining({ DBInstanceClass: 'db.t4g.medium', DBInstanceIdentifier: 'orders-db-restored-202602020305' }) });
    expect(calls[0]?.IdempotencyToken).toMatch(/^[0-9a-f]{32}$/);
    expect(calls[1]?.IdempotencyToken).toBe(calls[0]?.IdempotencyToken);
  });

  it('GIVEN a target that exists THEN it is refused naming target, whatever its state, and nothing starts', async () => {
    mocks.rds.primary.on(DescribeDBInstancesCommand, { DBInstanceIdentifier: 'orders-db-restored-202602020305' }).resolves({ DBInstances: [{ DBInstanceIdentifier: 'orders-db-restored-202602020305', DBInstanceStatus: 'available' }] });
    const answer = await refusal({ source: 'orders-db', recoveryPoint: 'latest' });
    expect(answer.field).toBe('target');
    expect(answer.reason).toContain('already exists in eu-west-1 (status available); a restore never writes into an existing DB instance');
    expectNoMutatingCalls();
  });

  it('GIVEN a target not named after the source THEN it is refused before any call', async () => {
    const answer = await refusal({ source: 'orders-db', recoveryPoint: 'latest', target: 'orders-db' });
    expect(answer).toMatchObject({ field: 'target', reason: expect.stringContaining("must start with 'orders-db-restored-'") });
    expect(callNames()).toEqual([]);
  });

  it('GIVEN metadata with no DB subnet group THEN it is refused: a copy never lands in the default VPC', async () => {
    mocks.backup.primary.on(GetRecoveryPointRestoreMetadataCommand).resolves({ RestoreMetadata: { DBInstanceIdentifier: 'orders-db', Engine: 'postgres' } });
    const answer = await refusal({ source: 'orders-db', recoveryPoint: 'latest' });
    expect(answer.reason).toContain('names no DB subnet group');
    expectNoMutatingCalls();
  });

  describe('buckets', () => {
    it('GIVEN a dry run of a prefix THEN a new bucket receives up to five items by S3 URI, and the source\'s versioning is checked', async () => {
      const answer = await restore({ source: 'team-media', recoveryPoint: 'latest', items: ['uploads/2026/01/', 'avatars/jane.png'], dryRun: true, requestedBy: 'jane' });
      expect(answer.target).toBe('team-media-restored-202602010500');
      expect(answer.metadata).toMatchObject({
        DestinationBucketName: 'team-media-restored-202602010500',
        NewBucket: 'true',
        EncryptionType: 'original',
        ItemsToRestore: JSON.stringify(['s3://team-media/uploads/2026/01/', 's3://team-media/avatars/jane.png']),
        CreationToken: expect.stringMatching(/^[0-9a-f]{32}$/),
      });
      expect(answer.warnings).toEqual([]);
      expect(mocks.s3.primary).toHaveReceivedCommandWith(GetBucketVersioningCommand, { Bucket: 'team-media' });
      expectNoMutatingCalls();
    });

    it.each([
      [200, undefined, 'in this account'],
      [403, 'Forbidden', 'owned by another account'],
      [301, 'PermanentRedirect', 'in another region'],
    ])('GIVEN HeadBucket answers %s THEN the new bucket name is refused naming target', async (status, name, detail) => {
      if (name) mocks.s3.primary.on(HeadBucketCommand).rejects(awsError(name, status));
      else mocks.s3.primary.on(HeadBucketCommand).resolves({});
      const answer = await refusal({ source: 'team-media', recoveryPoint: 'latest', target: 'team-media-restored-x' });
      expect(answer).toMatchObject({ field: 'target', reason: expect.stringContaining(`'team-media-restored-x' already exists in eu-west-1 (${detail})`) });
      expectNoMutatingCalls();
    });

    it('GIVEN a source bucket deleted, or with versioning suspended THEN the plan says so and still restores from the vault', async () => {
      mocks.s3.primary.on(GetBucketVersioningCommand).rejects(awsError('NoSuchBucket', 404));
      expect((await restore({ source: 'team-media', recoveryPoint: 'latest', dryRun: true, requestedBy: 'jane' })).warnings).toEqual([expect.stringContaining('the source bucket team-media no longer exists')]);
      mocks.s3.primary.on(GetBucketVersioningCommand).resolves({ Status: 'Suspended' });
      expect((await restore({ source: 'team-media', recoveryPoint: 'latest', dryRun: true, requestedBy: 'jane' })).warnings).toEqual([expect.stringContaining('has versioning Suspended: AWS Backup backs up only versioned buckets')]);
    });

    it('GIVEN a bucket of a class not copied to the DR region THEN a DR restore is refused naming region', async () => {
      const answer = await refusal({ source: 'team-media', recoveryPoint: 'latest', region: 'dr' });
      expect(answer).toMatchObject({ field: 'region', reason: expect.stringContaining('do not copy to eu-central-1') });
      expect(callNames()).toEqual([]);
    });
  });

  describe('Aurora and the DR region', () => {
    it('GIVEN an Aurora cluster THEN a new cluster is restored, and the answer gives the command that adds its first instance', async () => {
      const answer = await restore({ source: 'billing-aurora', recoveryPoint: 'latest', instanceClass: 'db.r6g.large' });
      expect(answer.metadata).toMatchObject({ DBClusterIdentifier: 'billing-aurora-restored-202602010400', DeletionProtection: 'true' });
      expect(answer.next.join('\n')).toContain('--db-cluster-identifier billing-aurora-restored-202602010400 --db-instance-identifier billing-aurora-restored-202602010400-1 --db-instance-class db.r6g.large --engine aurora-postgresql');
      expect(mocks.backup.primary).toHaveReceivedCommandWith(StartRestoreJobCommand, { ResourceType: 'Aurora' });
    });

    it('GIVEN a DR restore of an instance with a DR network THEN the DR vault is read and the copy gets the DR subnet group and security groups, in the metadata\'s own format', async () => {
      mocks.backup.dr.on(ListRecoveryPointsByBackupVaultCommand).resolves({ RecoveryPoints: [point('dr-copy', '2026-02-02T03:05:00Z')] });
      mocks.backup.dr.on(GetRecoveryPointRestoreMetadataCommand).resolves({ RestoreMetadata: RDS_METADATA });
      mocks.backup.dr.on(GetRecoveryPointRestoreMetadataCommand).resolves({ RestoreMetadata: { ...RDS_METADATA, AvailabilityZone: 'eu-west-1a', DBParameterGroupName: 'orders-postgres16', OptionGroupName: 'default:postgres-16', KmsKeyId: 'arn:aws:kms:eu-west-1:111122223333:key/primary' } });
      const answer = await restore({ source: 'orders-db', recoveryPoint: 'latest', region: 'dr', dryRun: true });
      expect(answer).toMatchObject({ region: 'eu-central-1', regionRole: 'dr' });
      expect(answer.metadata).toMatchObject({ DBSubnetGroupName: 'dr-db-subnets', VpcSecurityGroupIds: JSON.stringify(['sg-0dr1', 'sg-0dr2']), DBParameterGroupName: 'dr-postgres16' });
      // The primary region's zone, option group and key exist only there.
      expect(Object.keys(answer.metadata)).not.toEqual(expect.arrayContaining(['AvailabilityZone']));
      expect(answer.metadata.OptionGroupName).toBeUndefined();
      expect(answer.metadata.KmsKeyId).toBeUndefined();
      expect(mocks.backup.primary.calls()).toHaveLength(0);
      expect(mocks.rds.dr).toHaveReceivedCommandWith(DescribeDBInstancesCommand, { DBInstanceIdentifier: 'orders-db-restored-202602020305' });
    });

    it('GIVEN a DR restore of a cluster the kit knows no DR network for THEN it is refused naming region', async () => {
      const answer = await refusal({ source: 'billing-aurora', recoveryPoint: 'latest', region: 'dr' });
      expect(answer).toMatchObject({ field: 'region', reason: expect.stringContaining('will not restore a database into the default VPC') });
    });
  });

  it.each([
    [{ source: 'orders', recoveryPoint: 'latest' }, 'source', "'orders' is not a resource the config protects"],
    [{ source: 'orders-db', recoveryPoint: 'latest', items: ['a'] }, 'items', 'only a bucket'],
    [{ source: 'team-media', recoveryPoint: 'latest', instanceClass: 'db.t4g.small' }, 'instanceClass', 'is a bucket'],
  ])('GIVEN %j THEN it is refused naming %s', async (event, field, reason) => {
    expect(await refusal(event)).toMatchObject({ field, reason: expect.stringContaining(reason) });
    expect(callNames()).toEqual([]);
  });

  it('GIVEN a name two kinds share THEN the bare name is refused, listing both', async () => {
    const shared = { ...settings, resources: [...settings.resources, { ...settings.resources[2]!, name: 's3:orders-db', identifier: 'orders-db', arn: 'arn:aws:s3:::orders-db' }] };
    await expect(restoreFromRecoveryPoint(parseManagedRestoreEvent({ source: 'orders-db', recoveryPoint: 'latest' }), shared, deps, { requestId: 'r', now: NOW })).rejects.toThrow(/names 2 protected resources \(rds:orders-db, s3:orders-db\)/);
  });
});
