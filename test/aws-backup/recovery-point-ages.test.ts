import { BackupClient, GetBackupSelectionCommand, ListRecoveryPointsByResourceCommand, ListRestoreJobsByProtectedResourceCommand, type RecoveryPointByResource, type RestoreJobsListMember } from '@aws-sdk/client-backup';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { InvalidEventError, parseEventWith } from '../../contracts/errors';
import { managedBackupEventSchema, managedResourceName, parseManagedBackupSettings, type ManagedBackupSettings } from '../../contracts/managed-backup';
import { METRICS } from '../../contracts/metric-catalog';
import { reportRecoveryPointAges } from '../../lambda/managed-backup/ages';
import { capturingMetrics, quietLogger } from '../verify/helpers';

/** The hourly recovery point age report, against AWS Backup's answers as the SDK returns them. */

const backupMock = mockClient(BackupClient);
afterAll(() => backupMock.restore());
beforeEach(() => backupMock.reset());

const NOW = new Date('2026-12-10T12:00:00Z');
const hoursBefore = (hours: number) => new Date(NOW.getTime() - hours * 3_600_000);
const ORDERS = 'arn:aws:rds:eu-west-1:111122223333:db:orders-db';
const MEDIA = 'arn:aws:s3:::team-media';
const settings: ManagedBackupSettings = parseManagedBackupSettings({
  region: 'eu-west-1',
  vaultName: 'backup-kit-managed',
  resources: [
    { name: 'rds:orders-db', arn: ORDERS, className: 'databases', maxAgeHours: 36, backupPlanId: 'plan-db', selectionId: 'sel-db' },
    { name: 's3:team-media', arn: MEDIA, className: 'media', maxAgeHours: 36, backupPlanId: 'plan-media', selectionId: 'sel-media' },
  ],
});

const point = (hoursAgo: number, extra: Partial<RecoveryPointByResource> = {}): RecoveryPointByResource => ({
  RecoveryPointArn: `arn:aws:backup:eu-west-1:111122223333:recovery-point:${hoursAgo}`,
  CreationDate: hoursBefore(hoursAgo),
  Status: 'COMPLETED',
  BackupVaultName: 'backup-kit-managed',
  ...extra,
});

async function report(overrides: Partial<ManagedBackupSettings> = {}) {
  const { metrics, emitted } = capturingMetrics('managed-backup');
  const ages = await reportRecoveryPointAges({ backup: new BackupClient({ region: 'eu-west-1' }), settings: { ...settings, ...overrides }, metrics, logger: quietLogger(), now: () => NOW, retry: { sleep: async () => undefined } });
  return { ages, emitted };
}

describe('recovery point ages', () => {
  it('GIVEN recovery points over two pages, in two vaults and in several states THEN the age is that of the newest completed one in the primary vault', async () => {
    backupMock
      .on(ListRecoveryPointsByResourceCommand, { ResourceArn: ORDERS })
      .resolvesOnce({ RecoveryPoints: [point(50), point(2, { Status: 'PARTIAL' }), point(1, { BackupVaultName: 'someone-elses' })], NextToken: 'page-2' })
      .resolvesOnce({ RecoveryPoints: [point(20), point(3, { Status: 'EXPIRED' }), point(0.5, { CreationDate: undefined })] });
    backupMock.on(ListRecoveryPointsByResourceCommand, { ResourceArn: MEDIA }).resolves({ RecoveryPoints: [point(40, { Status: 'AVAILABLE' })] });
    const { ages, emitted } = await report();
    expect(ages.map((age) => [age.resource, age.ageHours, age.late, age.since.what])).toEqual([
      ['rds:orders-db', 20, false, 'recovery point'],
      ['s3:team-media', 40, true, 'recovery point'],
    ]);
    // One series per resource, in the catalog's dimension set (capturingMetrics checks it).
    expect(emitted).toEqual([
      { name: METRICS.hoursSinceLastRecoveryPoint.name, value: 20, dimensions: { service: 'managed-backup', Resource: 'rds:orders-db' } },
      { name: METRICS.hoursSinceLastRecoveryPoint.name, value: 40, dimensions: { service: 'managed-backup', Resource: 's3:team-media' } },
    ]);
    // Only AWS Backup's own recovery points are asked for, and the second page with its token.
    const calls = backupMock.commandCalls(ListRecoveryPointsByResourceCommand).map((call) => call.args[0].input);
    expect(calls.filter((input) => input.ResourceArn === ORDERS).map((input) => input.NextToken)).toEqual([undefined, 'page-2']);
    expect(calls.every((input) => input.ManagedByAWSBackupOnly === true)).toBe(true);
  });

  it('GIVEN a resource never backed up THEN its age counts from the creation of the selection that enrolled it', async () => {
    backupMock.on(ListRecoveryPointsByResourceCommand).resolves({ RecoveryPoints: [] });
    backupMock.on(GetBackupSelectionCommand, { BackupPlanId: 'plan-db', SelectionId: 'sel-db' }).resolves({ CreationDate: hoursBefore(37) });
    backupMock.on(GetBackupSelectionCommand, { BackupPlanId: 'plan-media', SelectionId: 'sel-media' }).resolves({ CreationDate: hoursBefore(3) });
    const { ages } = await report();
    expect(ages.map((age) => [age.resource, age.ageHours, age.late, age.since])).toEqual([
      ['rds:orders-db', 37, true, { what: 'enrolled', at: hoursBefore(37).toISOString() }],
      ['s3:team-media', 3, false, { what: 'enrolled', at: hoursBefore(3).toISOString() }],
    ]);
  });

  it('GIVEN two resources of one class never backed up THEN their selection is read once, and both count from it', async () => {
    const sameClass = settings.resources.map((resource) => ({ ...resource, className: 'databases', backupPlanId: 'plan-db', selectionId: 'sel-db' }));
    backupMock.on(ListRecoveryPointsByResourceCommand).resolves({ RecoveryPoints: [] });
    backupMock.on(GetBackupSelectionCommand).resolves({ CreationDate: hoursBefore(10) });
    const { ages } = await report({ resources: sameClass });
    expect(ages.map((age) => age.ageHours)).toEqual([10, 10]);
    expect(backupMock.commandCalls(GetBackupSelectionCommand)).toHaveLength(1);
  });

  it('GIVEN only failed or partial recovery points THEN they count as none: the age runs from the enrolment', async () => {
    backupMock.on(ListRecoveryPointsByResourceCommand).resolves({ RecoveryPoints: [point(1, { Status: 'PARTIAL' }), point(2, { Status: 'DELETING' }), point(3, { Status: 'CREATING' })] });
    backupMock.on(GetBackupSelectionCommand).resolves({ CreationDate: hoursBefore(100) });
    const { ages } = await report();
    expect(ages.map((age) => age.ageHours)).toEqual([100, 100]);
  });

  it('GIVEN a recovery point dated after the clock (skew) THEN the age is zero, never negative', async () => {
    backupMock.on(ListRecoveryPointsByResourceCommand).resolves({ RecoveryPoints: [point(-2)] });
    const { emitted } = await report();
    expect(emitted.map((metric) => metric.value)).toEqual([0, 0]);
  });

  it("GIVEN one resource whose recovery points cannot be read THEN the others' ages are still published, and the run fails naming it (its alarm sees no data)", async () => {
    backupMock.on(ListRecoveryPointsByResourceCommand, { ResourceArn: ORDERS }).rejects(Object.assign(new Error('Service unavailable'), { name: 'ServiceUnavailableException', $fault: 'server' }));
    backupMock.on(ListRecoveryPointsByResourceCommand, { ResourceArn: MEDIA }).resolves({ RecoveryPoints: [point(5)] });
    const { metrics, emitted } = capturingMetrics('managed-backup');
    await expect(
      reportRecoveryPointAges({ backup: new BackupClient({ region: 'eu-west-1' }), settings, metrics, logger: quietLogger(), now: () => NOW, retry: { sleep: async () => undefined } }),
    ).rejects.toThrow(/could not read the recovery points or restore tests of 1 resource\(s\): rds:orders-db: /);
    expect(emitted.map((metric) => metric.dimensions.Resource)).toEqual(['s3:team-media']);
  });

  it('GIVEN IAM refuses the listing THEN the failure names the action', async () => {
    backupMock.on(ListRecoveryPointsByResourceCommand).rejects(Object.assign(new Error('not authorized'), { name: 'AccessDeniedException' }));
    const run = report({ resources: settings.resources.slice(0, 1) });
    await expect(run).rejects.toThrow(/rds:orders-db: AWS refused backup:ListRecoveryPointsByResource: not authorized/);
  });
});

describe('the names of protected resources', () => {
  it('say the kind and the name, so an instance and a bucket of the same name stay apart', () => {
    expect(managedResourceName('rdsInstances', ORDERS)).toBe('rds:orders-db');
    expect(managedResourceName('auroraClusters', 'arn:aws:rds:eu-west-1:111122223333:cluster:shop-aurora')).toBe('aurora:shop-aurora');
    expect(managedResourceName('s3Buckets', 'orders-db')).toBe('s3:orders-db');
    expect(managedResourceName('dynamoDbTables', 'arn:aws:dynamodb:eu-west-1:111122223333:table/sessions')).toBe('dynamodb:sessions');
    expect(managedResourceName('efsFileSystems', 'arn:aws:elasticfilesystem:eu-west-1:111122223333:file-system/fs-0123456789abcdef0')).toBe('efs:fs-0123456789abcdef0');
  });

  it('refuses any event but { "action": "report-ages" }, naming the field', () => {
    expect(parseEventWith(managedBackupEventSchema, { action: 'report-ages' })).toEqual({ action: 'report-ages' });
    for (const event of [null, 'report-ages', {}, { action: 'delete' }, { action: 'report-ages', resources: ['*'] }, { action: ['report-ages'] }]) {
      expect(() => parseEventWith(managedBackupEventSchema, event), JSON.stringify(event)).toThrow(InvalidEventError);
    }
    expect(() => parseEventWith(managedBackupEventSchema, { action: 'delete' })).toThrow(/action/);
  });

  it('settings that do not parse fail naming the variable and the field', () => {
    expect(() => parseManagedBackupSettings({ region: 'eu-west-1', vaultName: 'v', resources: [{ name: '', arn: 'x' }] })).toThrow(/MANAGED_BACKUP_SETTINGS is invalid: resources\.0\.name/);
  });

  describe('the days since the last restore test that passed validation', () => {
    const tested = { ...settings, resources: settings.resources.map((resource) => ({ ...resource, restoreTestMaxDays: 33 })) };
    const testJob = (daysAgo: number, extra: Partial<RestoreJobsListMember> = {}): RestoreJobsListMember => ({
      RestoreJobId: `job-${daysAgo}`,
      Status: 'COMPLETED',
      CompletionDate: new Date(NOW.getTime() - daysAgo * 86_400_000),
      CreatedBy: { RestoreTestingPlanArn: 'arn:aws:backup:eu-west-1:111122223333:restore-testing-plan:backup_kit_databases-abc' },
      ValidationStatus: 'SUCCESSFUL',
      ...extra,
    });

    async function reportWithTests() {
      const { metrics, emitted } = capturingMetrics('managed-backup');
      const drills = capturingMetrics('drill');
      const ages = await reportRecoveryPointAges({ backup: new BackupClient({ region: 'eu-west-1' }), settings: tested, metrics, logger: quietLogger(), now: () => NOW, retry: { sleep: async () => undefined }, restoreTests: { metrics: drills.metrics } });
      return { ages, emitted, drilled: drills.emitted };
    }

    it('GIVEN restore jobs over two pages THEN the newest restore test whose copy passed validation counts: not a restore run by hand, not a FAILED validation; published as a drill of the resource', async () => {
      backupMock.on(ListRecoveryPointsByResourceCommand).resolves({ RecoveryPoints: [point(2)] });
      backupMock
        .on(ListRestoreJobsByProtectedResourceCommand, { ResourceArn: ORDERS })
        .resolvesOnce({ RestoreJobs: [testJob(40), testJob(1, { ValidationStatus: 'FAILED' })], NextToken: 'p2' })
        .resolvesOnce({ RestoreJobs: [testJob(12), testJob(0.5, { CreatedBy: {} })] });
      backupMock.on(ListRestoreJobsByProtectedResourceCommand, { ResourceArn: MEDIA }).resolves({ RestoreJobs: [testJob(34)] });
      const { drilled } = await reportWithTests();
      expect(drilled).toEqual([
        { name: METRICS.daysSinceLastSuccessfulDrill.name, value: 12, dimensions: { service: 'drill', Target: 'rds:orders-db' } },
        { name: METRICS.daysSinceLastSuccessfulDrill.name, value: 34, dimensions: { service: 'drill', Target: 's3:team-media' } },
      ]);
      expect(backupMock.commandCalls(ListRestoreJobsByProtectedResourceCommand).every((call) => call.args[0].input.ByStatus === 'COMPLETED')).toBe(true);
    });

    it('GIVEN no restore test yet THEN the days count from enrolment; without the option nothing about restore tests is read', async () => {
      backupMock.on(ListRecoveryPointsByResourceCommand).resolves({ RecoveryPoints: [point(2)] });
      backupMock.on(ListRestoreJobsByProtectedResourceCommand).resolves({ RestoreJobs: [] });
      backupMock.on(GetBackupSelectionCommand).resolves({ CreationDate: hoursBefore(48) });
      expect((await reportWithTests()).drilled.map((metric) => metric.value)).toEqual([2, 2]);
      backupMock.resetHistory();
      await report({ resources: tested.resources });
      expect(backupMock.commandCalls(ListRestoreJobsByProtectedResourceCommand)).toHaveLength(0);
    });
  });
});
