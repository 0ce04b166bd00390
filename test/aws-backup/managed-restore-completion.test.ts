import { BackupClient, DescribeRestoreJobCommand, PutRestoreValidationResultCommand, type DescribeRestoreJobCommandOutput } from '@aws-sdk/client-backup';
import { DescribeDBClustersCommand, DescribeDBInstancesCommand, RDSClient } from '@aws-sdk/client-rds';
import { ListObjectsV2Command, S3Client, type _Object } from '@aws-sdk/client-s3';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { InvalidEventError } from '../../contracts/errors';
import { parseManagedRestoreSettings } from '../../contracts/managed-restore';
import type { ProbeRequest, ProbeResult } from '../../contracts/database-probe';
import { parseRestoreJobEvent, reportCompletedRestore } from '../../lambda/managed-restore-completion/core';
import { invokeProbe } from '../../lambda/managed-restore-completion/validation';

/** The report of a completed restore from AWS Backup: only the restore function's, with its minutes. */

const ACCOUNT = '111122223333';
const ROLE = `arn:aws:iam::${ACCOUNT}:role/backup-kit-managed-restore`;
const TOPIC = `arn:aws:sns:eu-west-1:${ACCOUNT}:backup-kit-alerts`;
const ORDERS = `arn:aws:rds:eu-west-1:${ACCOUNT}:db:orders-db`;
const TESTING_ROLE = `arn:aws:iam::${ACCOUNT}:role/backup-kit-restore-testing`;
const settings = parseManagedRestoreSettings({
  primaryRegion: 'eu-west-1',
  drRegion: 'eu-central-1',
  vaultName: 'backup-kit-managed',
  restoreRoleArn: ROLE,
  restoreTestingRoleArn: TESTING_ROLE,
  resources: [
    { name: 'rds:orders-db', kind: 'rds', identifier: 'orders-db', arn: ORDERS, className: 'databases', copiedToDr: true },
    { name: 's3:team-media', kind: 's3', identifier: 'team-media', arn: 'arn:aws:s3:::team-media', className: 'media', copiedToDr: false },
    { name: 'rds:shop-db', kind: 'rds', identifier: 'shop-db', arn: `arn:aws:rds:eu-west-1:${ACCOUNT}:db:shop-db`, className: 'databases', copiedToDr: true, probed: true },
    { name: 'aurora:billing-aurora', kind: 'aurora', identifier: 'billing-aurora', arn: `arn:aws:rds:eu-west-1:${ACCOUNT}:cluster:billing-aurora`, className: 'databases', copiedToDr: true },
  ],
});

const backup = new BackupClient({ region: 'eu-west-1' });
const backupMock = mockClient(backup);
const snsMock = mockClient(SNSClient);
const copyS3 = new S3Client({ region: 'eu-west-1' });
const liveS3 = new S3Client({ region: 'eu-west-1' });
const copyMock = mockClient(copyS3);
const liveMock = mockClient(liveS3);
const rds = new RDSClient({ region: 'eu-west-1' });
const rdsMock = mockClient(rds);
const mocks = [backupMock, snsMock, copyMock, liveMock, rdsMock] as const;
afterAll(() => mocks.forEach((mock) => mock.restore()));
beforeEach(() => {
  mocks.forEach((mock) => mock.reset());
  snsMock.on(PublishCommand).resolves({ MessageId: 'm-1' });
  backupMock.on(PutRestoreValidationResultCommand).resolves({});
});

const event = (restoreJobId = 'job-0001', state = 'COMPLETED') => ({ version: '0', id: 'e-1', 'detail-type': 'Restore Job State Change', source: 'aws.backup', account: ACCOUNT, region: 'eu-west-1', time: '2026-02-05T10:00:00Z', resources: [], detail: { restoreJobId, state, extra: 'AWS adds fields' } });
const job = (extra: Partial<DescribeRestoreJobCommandOutput> = {}): Partial<DescribeRestoreJobCommandOutput> => ({
  RestoreJobId: 'job-0001',
  Status: 'COMPLETED',
  IamRoleArn: ROLE,
  SourceResourceArn: ORDERS,
  CreatedResourceArn: `arn:aws:rds:eu-west-1:${ACCOUNT}:db:orders-db-restored-202602020305`,
  RecoveryPointArn: `arn:aws:backup:eu-west-1:${ACCOUNT}:recovery-point:feb-02`,
  RecoveryPointCreationDate: new Date('2026-02-02T03:05:00Z'),
  CreationDate: new Date('2026-02-05T09:01:00Z'),
  CompletionDate: new Date('2026-02-05T09:38:30Z'),
  BackupSizeInBytes: 50 * 1024 ** 3,
  ResourceType: 'RDS',
  ...extra,
});

async function report(raw: unknown = event(), probe?: (request: ProbeRequest) => Promise<ProbeResult>) {
  const recorded: [string, number][] = [];
  const drills: [string, boolean, number | undefined][] = [];
  const outcome = await reportCompletedRestore(parseRestoreJobEvent(raw), settings, {
    backupIn: () => backup,
    validationIn: () => ({ backup, s3: { copy: copyS3, live: liveS3 }, rds, retry: { sleep: async () => undefined }, ...(probe ? { probe } : {}) }),
    sns: new SNSClient({ region: 'eu-west-1' }),
    topicArn: TOPIC,
    recordMinutes: (resource, minutes) => recorded.push([resource, minutes]),
    recordDrill: (resource, succeeded, seconds) => drills.push([resource, succeeded, seconds]),
    retry: { sleep: async () => undefined },
  });
  return { outcome, recorded, drills, published: snsMock.commandCalls(PublishCommand).map((call) => call.args[0].input), stamped: backupMock.commandCalls(PutRestoreValidationResultCommand).map((call) => call.args[0].input) };
}

describe('the report of a completed restore from AWS Backup', () => {
  it('GIVEN a restore the function started completes THEN the alert topic hears what went into what, from which recovery point, and the minutes, which are recorded per resource', async () => {
    backupMock.on(DescribeRestoreJobCommand, { RestoreJobId: 'job-0001' }).resolves(job());
    const { outcome, recorded, published } = await report();
    expect(outcome).toEqual({ outcome: 'reported', resource: 'rds:orders-db', created: expect.stringContaining('orders-db-restored-202602020305'), minutes: 37.5 });
    expect(recorded).toEqual([['rds:orders-db', 37.5]]);
    expect(published).toHaveLength(1);
    expect(published[0]).toMatchObject({ TopicArn: TOPIC, Subject: 'backup-kit: restored rds:orders-db into orders-db-restored-202602020305 in 37.5 min' });
    const message = String(published[0]?.Message);
    expect(message).toContain('recovery point: arn:aws:backup:eu-west-1:111122223333:recovery-point:feb-02, made 2026-02-02T03:05:00Z');
    expect(message).toContain('took: 37.5 minutes from the job\'s start to 2026-02-05T09:38:30Z');
    expect(message).toContain('size: 50.0 GiB');
    expect(message).toContain('#/jobs/restore/details/job-0001');
  });

  it('GIVEN a restore in the DR region (its event forwarded by the DR vault stack) THEN its job is read in that region and the message links there', async () => {
    const regions: string[] = [];
    backupMock.on(DescribeRestoreJobCommand).resolves(job({ CreatedResourceArn: `arn:aws:rds:eu-central-1:${ACCOUNT}:db:orders-db-restored-202602020305` }));
    const outcome = await reportCompletedRestore(parseRestoreJobEvent({ ...event(), region: 'eu-central-1' }), settings, {
      backupIn: (region) => {
        regions.push(region);
        return backup;
      },
      validationIn: () => ({ backup, s3: { copy: copyS3, live: liveS3 }, rds }),
      sns: new SNSClient({ region: 'eu-west-1' }),
      topicArn: TOPIC,
      recordMinutes: () => undefined,
      recordDrill: () => undefined,
    });
    expect(regions).toEqual(['eu-central-1']);
    expect(outcome).toMatchObject({ outcome: 'reported', resource: 'rds:orders-db' });
    const message = String(snsMock.commandCalls(PublishCommand)[0]?.args[0].input.Message);
    expect(message).toContain('completed in eu-central-1');
    expect(message).toContain('region=eu-central-1');
  });

  it('GIVEN a restore job started with another role (restore testing, by hand) THEN nothing is sent: the event alone is never trusted', async () => {
    backupMock.on(DescribeRestoreJobCommand).resolves(job({ IamRoleArn: `arn:aws:iam::${ACCOUNT}:role/restore-testing` }));
    const { outcome, published, recorded } = await report();
    expect(outcome).toMatchObject({ outcome: 'ignored', reason: expect.stringContaining('not started by the restore function') });
    expect(published).toEqual([]);
    expect(recorded).toEqual([]);
  });

  it('GIVEN an event that says COMPLETED for a job AWS Backup reports still running THEN nothing is sent', async () => {
    backupMock.on(DescribeRestoreJobCommand).resolves(job({ Status: 'RUNNING', CompletionDate: undefined }));
    expect((await report()).outcome).toMatchObject({ outcome: 'ignored', reason: expect.stringContaining('is RUNNING') });
    expect(snsMock.calls()).toHaveLength(0);
  });

  it('GIVEN an Aurora restore THEN the message gives the command that adds its first instance; a bucket\'s, how to check its objects', async () => {
    backupMock.on(DescribeRestoreJobCommand).resolves(job({ ResourceType: 'Aurora', CreatedResourceArn: `arn:aws:rds:eu-west-1:${ACCOUNT}:cluster:billing-aurora-restored-1` }));
    expect(String((await report()).published[0]?.Message)).toContain('--db-cluster-identifier billing-aurora-restored-1 --db-instance-identifier billing-aurora-restored-1-1');
    snsMock.resetHistory();
    backupMock.on(DescribeRestoreJobCommand).resolves(job({ ResourceType: 'S3', SourceResourceArn: 'arn:aws:s3:::team-media', CreatedResourceArn: 'arn:aws:s3:::team-media-restored-1' }));
    const { published, recorded } = await report();
    expect(String(published[0]?.Message)).toContain('aws s3 ls s3://team-media-restored-1/ --recursive --summarize');
    expect(recorded).toEqual([['s3:team-media', 37.5]]);
  });

  it.each([{}, { ...event(), 'detail-type': 'Backup Job State Change' }, { ...event(), detail: {} }, { ...event(), detail: { restoreJobId: '' } }])('GIVEN the malformed event %j THEN it is refused before any call', async (raw) => {
    expect(() => parseRestoreJobEvent(raw)).toThrow(InvalidEventError);
  });

  describe('a restore test of the kit\'s restore testing plans', () => {
    const RP_TIME = new Date('2026-02-01T05:00:00Z');
    const testJob = (extra: Partial<DescribeRestoreJobCommandOutput>) => job({ IamRoleArn: TESTING_ROLE, RecoveryPointCreationDate: RP_TIME, CreatedBy: { RestoreTestingPlanArn: `arn:aws:backup:eu-west-1:${ACCOUNT}:restore-testing-plan:backup_kit_media-abc` }, ...extra });
    const bucketJob = (copy = 'awsbackup-restore-test-5f2c9a') => testJob({ ResourceType: 'S3', SourceResourceArn: 'arn:aws:s3:::team-media', CreatedResourceArn: `arn:aws:s3:::${copy}` });
    const object = (Key: string, Size: number, modified: string): _Object => ({ Key, Size, LastModified: new Date(modified) });
    const OLD = '2026-01-15T10:00:00Z';

    it('GIVEN a copy holding every object of the live bucket older than the recovery point THEN it is SUCCESSFUL, stamped on the job and recorded as a drill; nothing is mailed', async () => {
      backupMock.on(DescribeRestoreJobCommand).resolves(bucketJob());
      copyMock.on(ListObjectsV2Command).resolvesOnce({ Contents: [object('a.jpg', 10, OLD)], IsTruncated: true, NextContinuationToken: 'p2' }).resolvesOnce({ Contents: [object('b.jpg', 20, OLD)] });
      // c.jpg was written after the recovery point: not expected in the copy.
      liveMock.on(ListObjectsV2Command).resolves({ Contents: [object('a.jpg', 10, OLD), object('b.jpg', 20, OLD), object('c.jpg', 5, '2026-02-03T00:00:00Z')] });
      const { outcome, stamped, drills, published } = await report();
      expect(outcome).toMatchObject({ outcome: 'validated', resource: 's3:team-media', status: 'SUCCESSFUL', stamp: 'stamped' });
      expect(stamped).toEqual([{ RestoreJobId: 'job-0001', ValidationStatus: 'SUCCESSFUL', ValidationStatusMessage: 's3:team-media: 2 objects restored from the recovery point of 2026-02-01T05:00:00Z; 2 older objects of the live bucket compared by key and size' }]);
      expect(drills).toEqual([['s3:team-media', true, 2250]]);
      expect(published).toEqual([]);
      expect(copyMock).toHaveReceivedCommandWith(ListObjectsV2Command, { Bucket: 'awsbackup-restore-test-5f2c9a', ContinuationToken: 'p2' });
      expect(liveMock).toHaveReceivedCommandWith(ListObjectsV2Command, { Bucket: 'team-media' });
    });

    it('GIVEN a copy missing an older object, or with one of another size THEN it FAILED: stamped, recorded and mailed with the keys', async () => {
      backupMock.on(DescribeRestoreJobCommand).resolves(bucketJob());
      copyMock.on(ListObjectsV2Command).resolves({ Contents: [object('a.jpg', 9, OLD)] });
      liveMock.on(ListObjectsV2Command).resolves({ Contents: [object('a.jpg', 10, OLD), object('b.jpg', 20, OLD)] });
      const { outcome, stamped, drills, published } = await report();
      expect(outcome).toMatchObject({ status: 'FAILED' });
      expect(stamped[0]?.ValidationStatus).toBe('FAILED');
      expect(stamped[0]?.ValidationStatusMessage).toContain('1 objects older than the recovery point are missing from the copy, e.g. b.jpg; 1 objects differ in size from the live bucket, e.g. a.jpg (9 bytes, live 10)');
      expect(drills).toEqual([['s3:team-media', false, 2250]]);
      expect(published).toHaveLength(1);
      expect(published[0]?.Subject).toBe('backup-kit: restore test FAILED: s3:team-media');
      expect(String(published[0]?.Message)).toContain('- 1 objects older than the recovery point are missing from the copy, e.g. b.jpg');
    });

    it('GIVEN the live bucket is gone THEN only the copy\'s count is checked: an empty copy fails', async () => {
      backupMock.on(DescribeRestoreJobCommand).resolves(bucketJob());
      liveMock.on(ListObjectsV2Command).rejects(Object.assign(new Error('no bucket'), { name: 'NoSuchBucket', $metadata: { httpStatusCode: 404 } }));
      copyMock.on(ListObjectsV2Command).resolves({ Contents: [] });
      expect((await report()).outcome).toMatchObject({ status: 'FAILED', summary: expect.stringContaining('the live bucket no longer exists, so only the count was checked') });
    });

    it('GIVEN the window closed before the verdict (another refusal) THEN the run fails rather than pass it off as stamped', async () => {
      backupMock.on(DescribeRestoreJobCommand).resolves(testJob({ CreatedResourceArn: `arn:aws:rds:eu-west-1:${ACCOUNT}:db:awsbackup-restore-test-8c1d` }));
      rdsMock.on(DescribeDBInstancesCommand).resolves({ DBInstances: [{ DBInstanceStatus: 'available', StorageEncrypted: true }] });
      backupMock.on(PutRestoreValidationResultCommand).rejects(Object.assign(new Error('Validation window has closed for this restore job'), { name: 'InvalidRequestException', $metadata: { httpStatusCode: 400 } }));
      await expect(report()).rejects.toThrow(/Validation window has closed/);
    });

    it('GIVEN a job without the recovery point\'s time THEN no live object is required in the copy, only its count', async () => {
      backupMock.on(DescribeRestoreJobCommand).resolves({ ...bucketJob(), RecoveryPointCreationDate: undefined });
      copyMock.on(ListObjectsV2Command).resolves({ Contents: [object('a.jpg', 10, OLD)] });
      liveMock.on(ListObjectsV2Command).resolves({ Contents: [object('a.jpg', 10, OLD), object('b.jpg', 20, OLD)] });
      expect((await report()).outcome).toMatchObject({ status: 'SUCCESSFUL', summary: expect.stringContaining('0 older objects of the live bucket compared') });
    });

    it('GIVEN a job whose copy is not one of AWS Backup\'s test copies THEN nothing is listed and it FAILED', async () => {
      backupMock.on(DescribeRestoreJobCommand).resolves(bucketJob('team-media'));
      const { outcome } = await report();
      expect(outcome).toMatchObject({ status: 'FAILED', summary: expect.stringContaining("created 'team-media', not a awsbackup-restore-test-* copy") });
      expect(copyMock.calls()).toHaveLength(0);
      expect(liveMock.calls()).toHaveLength(0);
    });

    it.each([
      [{ DBInstanceStatus: 'available', StorageEncrypted: true, PubliclyAccessible: false }, 'SUCCESSFUL', []],
      [{ DBInstanceStatus: 'available', StorageEncrypted: false, PubliclyAccessible: true }, 'FAILED', ['the copy is not encrypted', 'the copy is publicly accessible']],
      [{ DBInstanceStatus: 'incompatible-parameters', StorageEncrypted: true }, 'FAILED', ['the copy is incompatible-parameters, not available']],
    ])('GIVEN a database copy %j THEN it is %s', async (instance, status, problems) => {
      backupMock.on(DescribeRestoreJobCommand).resolves(testJob({ CreatedResourceArn: `arn:aws:rds:eu-west-1:${ACCOUNT}:db:awsbackup-restore-test-8c1d` }));
      rdsMock.on(DescribeDBInstancesCommand, { DBInstanceIdentifier: 'awsbackup-restore-test-8c1d' }).resolves({ DBInstances: [{ DBInstanceIdentifier: 'awsbackup-restore-test-8c1d', Engine: 'postgres', EngineVersion: '16.4', DBInstanceClass: 'db.r6g.large', ...instance }] });
      const { outcome, stamped } = await report();
      expect(outcome).toMatchObject({ status, resource: 'rds:orders-db' });
      for (const problem of problems) expect(stamped[0]?.ValidationStatusMessage).toContain(problem);
    });

    it('GIVEN an Aurora copy that is available and encrypted THEN it is SUCCESSFUL', async () => {
      backupMock.on(DescribeRestoreJobCommand).resolves(testJob({ ResourceType: 'Aurora', SourceResourceArn: `arn:aws:rds:eu-west-1:${ACCOUNT}:cluster:billing-aurora`, CreatedResourceArn: `arn:aws:rds:eu-west-1:${ACCOUNT}:cluster:awsbackup-restore-test-77aa` }));
      rdsMock.on(DescribeDBClustersCommand).resolves({ DBClusters: [{ DBClusterIdentifier: 'awsbackup-restore-test-77aa', Status: 'available', StorageEncrypted: true, Engine: 'aurora-postgresql' }] });
      expect((await report()).outcome).toMatchObject({ status: 'SUCCESSFUL', resource: 'aurora:billing-aurora' });
    });

    it('GIVEN the verdict already stamped (the event came twice) THEN it stays as it is', async () => {
      backupMock.on(DescribeRestoreJobCommand).resolves(testJob({ CreatedResourceArn: `arn:aws:rds:eu-west-1:${ACCOUNT}:db:awsbackup-restore-test-8c1d` }));
      rdsMock.on(DescribeDBInstancesCommand).resolves({ DBInstances: [{ DBInstanceStatus: 'available', StorageEncrypted: true }] });
      backupMock.on(PutRestoreValidationResultCommand).rejects(Object.assign(new Error('Validation status has already been set'), { name: 'InvalidRequestException', $metadata: { httpStatusCode: 400 } }));
      const { outcome, drills, published } = await report();
      expect(outcome).toMatchObject({ status: 'SUCCESSFUL', stamp: 'already-stamped' });
      // The first delivery recorded the drill and mailed what there was to mail.
      expect(drills).toEqual([]);
      expect(published).toEqual([]);
    });

    describe('a database whose copies answer SQL probes', () => {
      const COPY = 'awsbackup-restore-test-41be';
      const ENDPOINT = `${COPY}.c9akciq32.eu-west-1.rds.amazonaws.com`;
      const probedJob = () => testJob({ SourceResourceArn: `arn:aws:rds:eu-west-1:${ACCOUNT}:db:shop-db`, CreatedResourceArn: `arn:aws:rds:eu-west-1:${ACCOUNT}:db:${COPY}` });
      const copy = (extra: object = {}) => ({ DBInstances: [{ DBInstanceIdentifier: COPY, DBInstanceStatus: 'available', StorageEncrypted: true, Engine: 'postgres', IAMDatabaseAuthenticationEnabled: true, Endpoint: { Address: ENDPOINT, Port: 5432 }, ...extra }] });
      const answering = (result: Omit<ProbeResult, 'resource'>) => {
        const requests: ProbeRequest[] = [];
        const probe = async (request: ProbeRequest) => {
          requests.push(request);
          return { resource: request.resource, ...result };
        };
        return { probe, requests };
      };
      const held = (statement: string, detail = 'returned true') => ({ statement, held: true, detail });

      it('GIVEN the probes hold on the copy THEN it is SUCCESSFUL, saying how many held, and the probe was asked for the copy by its endpoint', async () => {
        backupMock.on(DescribeRestoreJobCommand).resolves(probedJob());
        rdsMock.on(DescribeDBInstancesCommand, { DBInstanceIdentifier: COPY }).resolves(copy());
        const { probe, requests } = answering({ connected: true, checks: [held('SELECT true'), held('SELECT count(*) FROM orders', 'returned 50')] });
        const { outcome, drills } = await report(event(), probe);
        expect(requests).toEqual([{ resource: 'rds:shop-db', protocol: 'postgres', host: ENDPOINT, port: 5432 }]);
        expect(outcome).toMatchObject({ status: 'SUCCESSFUL', summary: expect.stringContaining('; 2 of 2 probes held') });
        expect(drills).toEqual([['rds:shop-db', true, 2250]]);
      });

      it('GIVEN a probe that does not hold THEN it FAILED, the statement and its answer stamped and mailed', async () => {
        backupMock.on(DescribeRestoreJobCommand).resolves(probedJob());
        rdsMock.on(DescribeDBInstancesCommand).resolves(copy({ Engine: 'mariadb' }));
        const { probe, requests } = answering({ connected: true, checks: [held('SELECT 1'), { statement: "SELECT max(placed_at) > now() - interval '2 days'\n FROM orders", held: false, detail: 'returned 0' }] });
        const { outcome, stamped, published, drills } = await report(event(), probe);
        expect(requests[0]?.protocol).toBe('mysql');
        expect(outcome).toMatchObject({ status: 'FAILED' });
        expect(stamped[0]?.ValidationStatusMessage).toContain("probe 'SELECT max(placed_at) > now() - interval '2 days' FROM orders' returned 0");
        expect(String(published[0]?.Message)).toContain('returned 0');
        expect(drills[0]?.[1]).toBe(false);
      });

      it.each([
        ['IAM authentication off on the copy', copy({ IAMDatabaseAuthenticationEnabled: false }), /IAM database authentication is off on the copy/],
        ['an engine the probes do not speak', copy({ Engine: 'sqlserver-se' }), /engine sqlserver-se is not one the probes speak/],
        ['no endpoint', copy({ Endpoint: undefined }), /no endpoint to probe/],
        ['a copy not available', copy({ DBInstanceStatus: 'storage-full' }), /the copy is storage-full, not available/],
      ])('GIVEN %s THEN it FAILED and the probe was not asked', async (_, instances, problem) => {
        backupMock.on(DescribeRestoreJobCommand).resolves(probedJob());
        rdsMock.on(DescribeDBInstancesCommand).resolves(instances);
        const { probe, requests } = answering({ connected: true, checks: [] });
        const { outcome, stamped } = await report(event(), probe);
        expect(outcome).toMatchObject({ status: 'FAILED' });
        expect(stamped[0]?.ValidationStatusMessage).toMatch(problem);
        expect(requests).toEqual([]);
      });

      it('GIVEN the probe could not sign in, failed, or cannot be reached THEN it FAILED saying so, never passed for want of an answer', async () => {
        backupMock.on(DescribeRestoreJobCommand).resolves(probedJob());
        rdsMock.on(DescribeDBInstancesCommand).resolves(copy());
        const refused = answering({ connected: false, error: `could not sign in to ${ENDPOINT}:5432 as backup_probe (database shop): timeout`, checks: [] });
        expect((await report(event(), refused.probe)).stamped[0]?.ValidationStatusMessage).toMatch(/the probe could not sign in .* timeout \(are the copies' security groups open to the probe function's on port 5432/);
        backupMock.on(PutRestoreValidationResultCommand).resolves({});
        const failing = async () => Promise.reject(new Error('the probe function failed (Unhandled): Task timed out after 60.00 seconds'));
        expect((await report(event(), failing)).stamped.at(-1)?.ValidationStatusMessage).toMatch(/the database probe failed: the probe function failed \(Unhandled\): Task timed out/);
        expect((await report(event())).stamped.at(-1)?.ValidationStatusMessage).toMatch(/the database probe function cannot be reached from here/);
      });

      it('GIVEN a database without probes THEN its copy is not probed', async () => {
        backupMock.on(DescribeRestoreJobCommand).resolves(testJob({ CreatedResourceArn: `arn:aws:rds:eu-west-1:${ACCOUNT}:db:${COPY}` }));
        rdsMock.on(DescribeDBInstancesCommand).resolves(copy());
        const { probe, requests } = answering({ connected: true, checks: [] });
        expect((await report(event(), probe)).outcome).toMatchObject({ status: 'SUCCESSFUL', resource: 'rds:orders-db' });
        expect(requests).toEqual([]);
      });
    });

    describe('the call to the probe function', () => {
      const lambdaMock = mockClient(LambdaClient);
      afterAll(() => lambdaMock.restore());
      beforeEach(() => lambdaMock.reset());
      const lambda = new LambdaClient({ region: 'eu-west-1' });
      const request: ProbeRequest = { resource: 'rds:shop-db', protocol: 'postgres', host: 'awsbackup-restore-test-1.c9akciq32.eu-west-1.rds.amazonaws.com', port: 5432 };
      const payload = (value: unknown) => new TextEncoder().encode(typeof value === 'string' ? value : JSON.stringify(value)) as never;

      it('sends the request alone and reads the answer', async () => {
        lambdaMock.on(InvokeCommand).resolves({ StatusCode: 200, Payload: payload({ resource: 'rds:shop-db', connected: true, checks: [{ statement: 'SELECT 1', held: true, detail: 'returned 1' }] }) });
        await expect(invokeProbe(lambda, 'backup-kit-probe', request)).resolves.toMatchObject({ connected: true, checks: [{ held: true }] });
        const input = lambdaMock.commandCalls(InvokeCommand)[0]?.args[0].input;
        expect(input?.FunctionName).toBe('backup-kit-probe');
        expect(JSON.parse(new TextDecoder().decode(input?.Payload as Uint8Array))).toEqual(request);
      });

      it('throws with the function error, or when the answer is not a probe result', async () => {
        lambdaMock.on(InvokeCommand).resolves({ StatusCode: 200, FunctionError: 'Unhandled', Payload: payload({ errorType: 'RequestRejectedError', errorMessage: "host: 'x' must be the endpoint of one of AWS Backup's restore test copies" }) });
        await expect(invokeProbe(lambda, 'backup-kit-probe', request)).rejects.toThrow(/the probe function failed \(Unhandled\): host: 'x' must be the endpoint/);
        lambdaMock.on(InvokeCommand).resolves({ StatusCode: 200, Payload: payload({ ok: true }) });
        await expect(invokeProbe(lambda, 'backup-kit-probe', request)).rejects.toThrow(/answered in an unknown form/);
        lambdaMock.on(InvokeCommand).resolves({ StatusCode: 200, Payload: payload('not json') });
        await expect(invokeProbe(lambda, 'backup-kit-probe', request)).rejects.toThrow(/answered no JSON/);
      });
    });

    it('GIVEN a restore test of a resource the kit does not validate (a DynamoDB table) THEN nothing is stamped or recorded', async () => {
      backupMock.on(DescribeRestoreJobCommand).resolves(testJob({ SourceResourceArn: `arn:aws:dynamodb:eu-west-1:${ACCOUNT}:table/sessions` }));
      const { outcome, stamped, drills } = await report();
      expect(outcome).toMatchObject({ outcome: 'ignored' });
      expect(stamped).toEqual([]);
      expect(drills).toEqual([]);
    });
  });
});
