import { BackupClient, GetRecoveryPointRestoreMetadataCommand, ListRecoveryPointsByBackupVaultCommand, StartRestoreJobCommand } from '@aws-sdk/client-backup';
import { DescribeDBClustersCommand, DescribeDBInstancesCommand, RDSClient } from '@aws-sdk/client-rds';
import { GetBucketVersioningCommand, HeadBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import fc from 'fast-check';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { MANAGED_RESTORE_ENV, MANAGED_RESTORE_EVENT_FIELDS, type ManagedRestoreSettings } from '../../contracts/managed-restore';
import { REQUESTED_BY_PLACEHOLDER } from '../../contracts/rds-restore-event';
import { REMOVE, badEvents, wrongType } from '../support/bad-events';
import { lambdaContext, refused } from '../rds-restore/handler-harness';

/**
 * The console event of the AWS Backup restore function, through its handler: malformed events are
 * refused naming the field before any call, and no dry run, however odd, makes a mutating call.
 */

const ACCOUNT = '111122223333';
const ORDERS = `arn:aws:rds:eu-west-1:${ACCOUNT}:db:orders-db`;
const settings: ManagedRestoreSettings = {
  primaryRegion: 'eu-west-1',
  drRegion: 'eu-central-1',
  vaultName: 'backup-kit-managed',
  restoreRoleArn: `arn:aws:iam::${ACCOUNT}:role/backup-kit-managed-restore`,
  resources: [
    { name: 'rds:orders-db', kind: 'rds', identifier: 'orders-db', arn: ORDERS, className: 'databases', copiedToDr: true, drNetwork: { subnetGroupName: 'dr-db', securityGroupIds: ['sg-1'] } },
    { name: 'aurora:billing-aurora', kind: 'aurora', identifier: 'billing-aurora', arn: `arn:aws:rds:eu-west-1:${ACCOUNT}:cluster:billing-aurora`, className: 'databases', copiedToDr: true },
    { name: 's3:team-media', kind: 's3', identifier: 'team-media', arn: 'arn:aws:s3:::team-media', className: 'media', copiedToDr: false },
  ],
};

const backupMock = mockClient(BackupClient);
const rdsMock = mockClient(RDSClient);
const s3Mock = mockClient(S3Client);
afterAll(() => [backupMock, rdsMock, s3Mock].forEach((mock) => mock.restore()));

let handler: typeof import('../../lambda/managed-restore/handler.js').handler;
beforeAll(async () => {
  vi.stubEnv(MANAGED_RESTORE_ENV.settings, JSON.stringify(settings));
  vi.stubEnv('POWERTOOLS_SERVICE_NAME', 'managed-backup');
  vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'SILENT');
  vi.stubEnv('AWS_REGION', 'eu-west-1');
  ({ handler } = await import('../../lambda/managed-restore/handler.js'));
});

const notFound = (name: string) => Object.assign(new Error(name), { name, $metadata: { httpStatusCode: 404 } });
beforeEach(() => {
  [backupMock, rdsMock, s3Mock].forEach((mock) => mock.reset());
  backupMock.on(ListRecoveryPointsByBackupVaultCommand).callsFake((input: { ByResourceArn?: string }) => ({
    RecoveryPoints: [0, 1, 2, 40, 400].map((daysAgo) => ({
      RecoveryPointArn: `arn:aws:backup:eu-west-1:${ACCOUNT}:recovery-point:rp-${daysAgo}`,
      ResourceArn: input.ByResourceArn,
      CreationDate: new Date(Date.parse('2026-12-01T03:00:00Z') - daysAgo * 86_400_000),
      CompletionDate: new Date(Date.parse('2026-12-01T03:20:00Z') - daysAgo * 86_400_000),
      Status: 'COMPLETED',
    })),
  }));
  backupMock.on(GetRecoveryPointRestoreMetadataCommand).resolves({ RestoreMetadata: { DBSubnetGroupName: 'prod-db', Engine: 'postgres' } });
  backupMock.on(StartRestoreJobCommand).resolves({ RestoreJobId: 'must-not-happen' });
  rdsMock.on(DescribeDBInstancesCommand).rejects(notFound('DBInstanceNotFoundFault'));
  rdsMock.on(DescribeDBClustersCommand).rejects(notFound('DBClusterNotFoundFault'));
  s3Mock.on(HeadBucketCommand).rejects(notFound('NotFound'));
  s3Mock.on(GetBucketVersioningCommand).resolves({ Status: 'Enabled' });
});

/** Reads only, across the three clients. */
function mutatingCalls(): string[] {
  return [backupMock, rdsMock, s3Mock].flatMap((mock) => mock.calls().map((call) => (call.args[0] as object).constructor.name)).filter((name) => !/^(Get|List|Describe|Head)/.test(name));
}

const VALID = { source: 'orders-db', recoveryPoint: 'latest', dryRun: true };

const corruptions = {
  source: fc.oneof(fc.constant(REMOVE), wrongType('string'), fc.constantFrom('', '   ', 'Orders DB', 'orders_db', 'rds:', 'dynamodb:orders', '../orders', 'a'.repeat(81), 'orders-db;drop')),
  recoveryPoint: fc.oneof(
    fc.constant(REMOVE),
    wrongType('string'),
    fc.constantFrom('LATEST', 'newest', 'latest-before:', 'latest-before:2026-02-30', 'latest-before:2026-01-31T10:00', 'latest-before:yesterday', 'latest-before:latest', 'arn:aws:backup:eu-west-1:1:recovery-point:x', 'arn:aws:s3:::team-media', 'x'.repeat(601)),
    fc.string({ maxLength: 30 }).filter((value) => value.trim() !== 'latest' && !value.trim().startsWith('arn:aws:backup:') && !/^latest-before:\d{4}-\d\d-\d\d/.test(value.trim())),
  ),
  target: fc.oneof(wrongType('string'), fc.constantFrom('', '-orders-db-restored-x', 'orders-db-restored-', 'orders-db', 'other-db-restored-1', 'orders-db-restored-x_y', 'a'.repeat(64))),
  items: fc.oneof(wrongType('object'), fc.constant([]), fc.array(fc.constant('a/'), { minLength: 6, maxLength: 8 }), fc.constantFrom(['s3://team-media/a'], ['/a'], [''], ['a\nb'], [1], ['x'.repeat(1025)])),
  instanceClass: fc.oneof(wrongType('string'), fc.constantFrom('r6g.large', 'db.', 'db.r6g', 'DB.R6G.LARGE', '')),
  region: fc.oneof(wrongType('string'), fc.constantFrom('PRIMARY', 'eu-west-1', 'secondary', '')),
  dryRun: fc.oneof(wrongType('boolean'), fc.constantFrom('true', 'false', 0, 1)),
  requestedBy: fc.oneof(wrongType('string'), fc.constantFrom(REQUESTED_BY_PLACEHOLDER, '', '  ', 'a'.repeat(101), 'jane\ndoe', 'jane <j@x>')),
};

const typos = fc.constantFrom('dryrun', 'DryRun', 'dry_run', 'recovery_point', 'recoverypoint', 'Source', 'item', 'prefix', 'bucket', 'confirm').map((field) => ({ event: { ...VALID, dryRun: false, [field]: true }, field }));

describe('the AWS Backup restore function\'s console event', () => {
  it('GIVEN 1200 random malformed events THEN each is refused naming the field, before any call', async () => {
    let checked = 0;
    await fc.assert(
      fc.asyncProperty(fc.oneof({ arbitrary: badEvents(VALID, corruptions), weight: 9 }, { arbitrary: typos, weight: 1 }), async ({ event, field }) => {
        const refusal = refused(await handler(event, lambdaContext()));
        expect(refusal.error).toBe('InvalidEvent');
        // The field itself, or an element of it (items.0).
        expect(refusal.issues?.some((issue) => issue.startsWith(`${field}: `) || issue.startsWith(`${field}.`))).toBe(true);
        checked += 1;
      }),
      { numRuns: 1200 },
    );
    expect(checked).toBe(1200);
    expect([backupMock.calls(), rdsMock.calls(), s3Mock.calls()].map((calls) => calls.length)).toEqual([0, 0, 0]);
  });

  it('GIVEN 1000 random well-formed dry runs, of known and unknown sources, any recovery point, region and target THEN none makes a mutating call', async () => {
    const dryRun = fc.record(
      {
        source: fc.constantFrom('orders-db', 'rds:orders-db', 'billing-aurora', 'team-media', 's3:team-media', 'aurora:orders-db', 'unknown-db'),
        recoveryPoint: fc.oneof(
          fc.constant('latest'),
          fc.date({ min: new Date('2024-01-01T00:00:00Z'), max: new Date('2027-01-01T00:00:00Z'), noInvalidDate: true }).map((date) => `latest-before:${date.toISOString()}`),
          fc.constantFrom(0, 1, 40, 999).map((days) => `arn:aws:backup:eu-west-1:${ACCOUNT}:recovery-point:rp-${days}`),
        ),
        target: fc.constantFrom('orders-db-restored-a1', 'team-media-restored-b2', 'billing-aurora-restored-c3'),
        items: fc.array(fc.stringMatching(/^[a-z0-9/._-]{1,30}$/).filter((item) => !item.startsWith('/')), { minLength: 1, maxLength: 5 }),
        instanceClass: fc.constant('db.t4g.medium'),
        region: fc.constantFrom('primary', 'dr'),
        requestedBy: fc.constant('jane'),
      },
      { requiredKeys: ['source', 'recoveryPoint'] },
    );
    // Half of them fitted to their source's kind, so that many get as far as the plan.
    const fitted = fc.tuple(dryRun, fc.boolean()).map(([event, fit]) => {
      if (!fit) return event;
      const { target: _target, items, instanceClass, ...rest } = event;
      return event.source.includes('media') ? { ...rest, ...(items ? { items } : {}) } : { ...rest, ...(instanceClass ? { instanceClass } : {}) };
    });
    let answered = 0;
    await fc.assert(
      fc.asyncProperty(fitted, async (event) => {
        const answer = await handler({ ...event, dryRun: true }, lambdaContext());
        if (answer.ok) expect(answer.outcome).toBe('dry-run');
        answered += 1;
      }),
      { numRuns: 1000 },
    );
    expect(answered).toBe(1000);
    expect(mutatingCalls()).toEqual([]);
    // Some of them got as far as the plan: the property is not vacuous.
    expect(backupMock.commandCalls(GetRecoveryPointRestoreMetadataCommand).length).toBeGreaterThan(150);
  });

  it('GIVEN every field THEN the event names each in its refusals of unknown fields', async () => {
    const refusal = refused(await handler({ ...VALID, dryrun: true }, lambdaContext()));
    expect(refusal.message).toContain(`dryrun: unknown field (this event accepts ${MANAGED_RESTORE_EVENT_FIELDS.join(', ')})`);
  });
});
