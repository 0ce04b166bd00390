import { BackupClient, DescribeRestoreJobCommand, type DescribeRestoreJobCommandOutput } from '@aws-sdk/client-backup';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { InvalidEventError } from '../../contracts/errors';
import { parseManagedRestoreSettings } from '../../contracts/managed-restore';
import { parseRestoreJobEvent, reportCompletedRestore } from '../../lambda/managed-restore-completion/core';

/** The report of a completed restore from AWS Backup: only the restore function's, with its minutes. */

const ACCOUNT = '111122223333';
const ROLE = `arn:aws:iam::${ACCOUNT}:role/backup-kit-managed-restore`;
const TOPIC = `arn:aws:sns:eu-west-1:${ACCOUNT}:backup-kit-alerts`;
const ORDERS = `arn:aws:rds:eu-west-1:${ACCOUNT}:db:orders-db`;
const settings = parseManagedRestoreSettings({
  primaryRegion: 'eu-west-1',
  drRegion: 'eu-central-1',
  vaultName: 'backup-kit-managed',
  restoreRoleArn: ROLE,
  resources: [
    { name: 'rds:orders-db', kind: 'rds', identifier: 'orders-db', arn: ORDERS, className: 'databases', copiedToDr: true },
    { name: 's3:team-media', kind: 's3', identifier: 'team-media', arn: 'arn:aws:s3:::team-media', className: 'media', copiedToDr: false },
  ],
});

const backup = new BackupClient({ region: 'eu-west-1' });
const backupMock = mockClient(backup);
const snsMock = mockClient(SNSClient);
afterAll(() => {
  backupMock.restore();
  snsMock.restore();
});
beforeEach(() => {
  backupMock.reset();
  snsMock.reset();
  snsMock.on(PublishCommand).resolves({ MessageId: 'm-1' });
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

async function report(raw: unknown = event()) {
  const recorded: [string, number][] = [];
  const outcome = await reportCompletedRestore(parseRestoreJobEvent(raw), settings, {
    backupIn: () => backup,
    sns: new SNSClient({ region: 'eu-west-1' }),
    topicArn: TOPIC,
    recordMinutes: (resource, minutes) => recorded.push([resource, minutes]),
    retry: { sleep: async () => undefined },
  });
  return { outcome, recorded, published: snsMock.commandCalls(PublishCommand).map((call) => call.args[0].input) };
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
});
