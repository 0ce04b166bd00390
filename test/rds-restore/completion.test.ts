import { AddTagsToResourceCommand, DescribeDBInstancesCommand, RDSClient } from '@aws-sdk/client-rds';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { minutesTaken, parseRdsInstanceEvent, reportRestoreCompletion, type CompletionDependencies } from '../../lambda/rds-restore-completion/core';
import { InvalidEventError } from '../../contracts/errors';
import { DR, PRIMARY, RESTORE_TAGS, TARGET, TOPIC, available, awsError, rdsEvent, settings } from './fixtures';

const primary = new RDSClient({ region: PRIMARY });
const dr = new RDSClient({ region: DR });
const sns = new SNSClient({ region: PRIMARY });
const primaryMock = mockClient(primary);
const drMock = mockClient(dr);
const snsMock = mockClient(sns);
const recordMinutes = vi.fn<(source: string, minutes: number) => void>();
const deps: CompletionDependencies = { rds: { primary, dr }, sns, topicArn: TOPIC, recordMinutes, retry: { sleep: async () => undefined } };

const report = (event: unknown) => reportRestoreCompletion(parseRdsInstanceEvent(event), settings, deps);

beforeEach(() => {
  primaryMock.reset();
  drMock.reset();
  snsMock.reset();
  recordMinutes.mockReset();
  snsMock.on(PublishCommand).resolves({ MessageId: 'm-1' });
  primaryMock.on(AddTagsToResourceCommand).resolves({});
  drMock.on(AddTagsToResourceCommand).resolves({});
});

describe('restore completion', () => {
  it('GIVEN a restored instance that is available THEN SNS gets endpoint, port, restore time and minutes, the metric is recorded, and the instance is marked reported', async () => {
    primaryMock.on(DescribeDBInstancesCommand, { DBInstanceIdentifier: TARGET }).resolves({ DBInstances: [available()] });

    const outcome = await report(rdsEvent());

    expect(outcome).toEqual({ outcome: 'reported-available', target: TARGET, minutes: 37.5 });
    expect(snsMock).toHaveReceivedCommandTimes(PublishCommand, 1);
    const published = snsMock.commandCalls(PublishCommand)[0]?.args[0].input;
    expect(published?.TopicArn).toBe(TOPIC);
    expect(published?.Subject).toBe(`RDS restore ready: ${TARGET} (37.5 min)`);
    expect(published?.Message).toContain(`Endpoint:     ${TARGET}.abcdefghijkl.eu-west-1.rds.amazonaws.com`);
    expect(published?.Message).toContain('Port:         5432');
    expect(published?.Message).toContain('Restored to:  2026-11-21T14:06:00Z');
    expect(published?.Message).toContain('Took:         37.5 minutes from request to available');
    expect(published?.Message).toContain('Requested:    2026-11-21T14:20:07Z by jane (Lambda request req-42)');
    expect(published?.Message).toContain(`https://${PRIMARY}.console.aws.amazon.com/rds/home?region=${PRIMARY}#database:id=${TARGET};is-cluster=false`);
    expect(recordMinutes).toHaveBeenCalledExactlyOnceWith('orders-db', 37.5);
    expect(primaryMock).toHaveReceivedCommandWith(AddTagsToResourceCommand, {
      ResourceName: `arn:aws:rds:${PRIMARY}:111122223333:db:${TARGET}`,
      Tags: [{ Key: 'restore-completed-at', Value: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/) }],
    });
  });

  it('GIVEN a "latest" restore THEN the message says which point that was', async () => {
    primaryMock
      .on(DescribeDBInstancesCommand)
      .resolves({ DBInstances: [available({}, { ...RESTORE_TAGS, 'restore-time': 'latest', 'restore-point': '2026-11-21T14:15:00Z' })] });

    await report(rdsEvent());

    expect(snsMock.commandCalls(PublishCommand)[0]?.args[0].input.Message).toContain('Restored to:  2026-11-21T14:15:00Z (latest restorable time when requested)');
  });

  it('GIVEN the available instance belongs to a restored Aurora cluster THEN the message names the cluster to connect to', async () => {
    primaryMock.on(DescribeDBInstancesCommand).resolves({ DBInstances: [available({ DBClusterIdentifier: 'orders-db-pitr-202611211415' })] });

    await report(rdsEvent(TARGET, { eventId: 'RDS-EVENT-0005' }));

    expect(snsMock.commandCalls(PublishCommand)[0]?.args[0].input.Message).toContain('Cluster:      orders-db-pitr-202611211415 (connect to its writer endpoint: https://eu-west-1.console.aws.amazon.com/rds/home?region=eu-west-1#database:id=orders-db-pitr-202611211415;is-cluster=true)');
  });

  it('GIVEN the instance is still creating THEN nothing is sent and it is not marked', async () => {
    primaryMock.on(DescribeDBInstancesCommand).resolves({ DBInstances: [available({ DBInstanceStatus: 'creating', Endpoint: undefined })] });

    const outcome = await report(rdsEvent(TARGET, { eventId: 'RDS-EVENT-0005' }));

    expect(outcome).toEqual({ outcome: 'waiting', status: 'creating' });
    expect(snsMock).toHaveReceivedCommandTimes(PublishCommand, 0);
    expect(primaryMock).toHaveReceivedCommandTimes(AddTagsToResourceCommand, 0);
    expect(recordMinutes).not.toHaveBeenCalled();
  });

  it('GIVEN a -pitr- instance without the restored-from tag THEN it is not ours and is left alone', async () => {
    primaryMock.on(DescribeDBInstancesCommand).resolves({ DBInstances: [available({}, { team: 'orders' })] });

    const outcome = await report(rdsEvent());

    expect(outcome).toMatchObject({ outcome: 'ignored', reason: expect.stringMatching(/did not create it/) });
    expect(snsMock).toHaveReceivedCommandTimes(PublishCommand, 0);
    expect(primaryMock).toHaveReceivedCommandTimes(AddTagsToResourceCommand, 0);
  });

  it('GIVEN an instance already reported THEN a later event (RDS sends several) reports nothing', async () => {
    primaryMock.on(DescribeDBInstancesCommand).resolves({ DBInstances: [available({}, { ...RESTORE_TAGS, 'restore-completed-at': '2026-11-21T14:58:03Z' })] });

    const outcome = await report(rdsEvent(TARGET, { eventId: 'RDS-EVENT-0002' }));

    expect(outcome.outcome).toBe('ignored');
    expect(snsMock).toHaveReceivedCommandTimes(PublishCommand, 0);
    expect(recordMinutes).not.toHaveBeenCalled();
  });

  it('GIVEN the restore failed THEN SNS gets the failure with RDS\'s message, no metric, and it is marked', async () => {
    primaryMock.on(DescribeDBInstancesCommand).resolves({ DBInstances: [available({ DBInstanceStatus: 'incompatible-parameters', Endpoint: undefined })] });

    const outcome = await report(rdsEvent(TARGET, { eventId: 'RDS-EVENT-0081', message: 'The parameter group is incompatible' }));

    expect(outcome).toEqual({ outcome: 'reported-failed', target: TARGET, status: 'incompatible-parameters' });
    const published = snsMock.commandCalls(PublishCommand)[0]?.args[0].input;
    expect(published?.Subject).toBe(`RDS restore FAILED: ${TARGET} (incompatible-parameters)`);
    expect(published?.Message).toContain('RDS says:     The parameter group is incompatible [RDS-EVENT-0081]');
    expect(recordMinutes).not.toHaveBeenCalled();
    expect(primaryMock).toHaveReceivedCommandTimes(AddTagsToResourceCommand, 1);
  });

  it('GIVEN a DR-region restore (event forwarded from the DR region) THEN the DR region is asked and marked', async () => {
    drMock.on(DescribeDBInstancesCommand).resolves({ DBInstances: [available({ DBInstanceArn: `arn:aws:rds:${DR}:111122223333:db:${TARGET}` })] });

    const outcome = await report(rdsEvent(TARGET, { region: DR }));

    expect(outcome.outcome).toBe('reported-available');
    expect(primaryMock).toHaveReceivedCommandTimes(DescribeDBInstancesCommand, 0);
    expect(drMock).toHaveReceivedCommandWith(AddTagsToResourceCommand, { ResourceName: `arn:aws:rds:${DR}:111122223333:db:${TARGET}` });
    expect(snsMock.commandCalls(PublishCommand)[0]?.args[0].input.Message).toContain(`Instance:     ${TARGET} (${DR})`);
  });

  it('GIVEN an event from a third region or for an instance not named after a source THEN nothing is asked', async () => {
    expect(await report(rdsEvent(TARGET, { region: 'us-east-1' }))).toMatchObject({ outcome: 'ignored' });
    expect(await report(rdsEvent('payments-db-pitr-202611211406'))).toMatchObject({ outcome: 'ignored' });
    expect(primaryMock.calls()).toHaveLength(0);
    expect(snsMock).toHaveReceivedCommandTimes(PublishCommand, 0);
  });

  it('GIVEN the instance was deleted meanwhile THEN the event is ignored', async () => {
    primaryMock.on(DescribeDBInstancesCommand).rejects(awsError('DBInstanceNotFoundFault', 'not found', 404));

    expect(await report(rdsEvent())).toMatchObject({ outcome: 'ignored', reason: `${TARGET} no longer exists` });
  });

  it('GIVEN SNS throttles once THEN the message is retried and sent once', async () => {
    primaryMock.on(DescribeDBInstancesCommand).resolves({ DBInstances: [available()] });
    snsMock.on(PublishCommand).rejectsOnce(awsError('Throttling', 'Rate exceeded')).resolves({ MessageId: 'm-2' });

    await report(rdsEvent());

    expect(snsMock).toHaveReceivedCommandTimes(PublishCommand, 2);
    expect(primaryMock).toHaveReceivedCommandTimes(AddTagsToResourceCommand, 1);
  });

  it('GIVEN SNS refuses THEN the invocation fails (Lambda retries) and the instance is not marked', async () => {
    primaryMock.on(DescribeDBInstancesCommand).resolves({ DBInstances: [available()] });
    snsMock.on(PublishCommand).rejects(awsError('AuthorizationError', 'not authorized to perform: SNS:Publish', 403));

    await expect(report(rdsEvent())).rejects.toThrow(/AWS refused sns:Publish/);
    expect(primaryMock).toHaveReceivedCommandTimes(AddTagsToResourceCommand, 0);
  });

  it('GIVEN something that is not an RDS instance event THEN it is rejected naming the field', () => {
    expect(() => parseRdsInstanceEvent({ ...rdsEvent(), 'detail-type': 'RDS DB Cluster Event' })).toThrow(InvalidEventError);
    expect(() => parseRdsInstanceEvent({ ...rdsEvent(), detail: {} })).toThrow(/detail.SourceIdentifier/);
  });
});

describe('minutes taken', () => {
  it('GIVEN the create time after the request THEN minutes run from request to create time, to a tenth', () => {
    expect(minutesTaken('2026-11-21T14:20:07Z', new Date('2026-11-21T14:57:37Z'), new Date('2026-11-21T15:10:00Z'))).toBe(37.5);
  });

  it('GIVEN no create time, or one before the request THEN the event time is used', () => {
    expect(minutesTaken('2026-11-21T14:20:00Z', undefined, new Date('2026-11-21T14:50:00Z'))).toBe(30);
    expect(minutesTaken('2026-11-21T14:20:00Z', new Date('2026-11-01T00:00:00Z'), new Date('2026-11-21T14:41:00Z'))).toBe(21);
  });

  it('GIVEN no request time tag THEN minutes are unknown', () => {
    expect(minutesTaken(undefined, new Date(), new Date())).toBeUndefined();
    expect(minutesTaken('not a time', new Date(), new Date())).toBeUndefined();
  });
});
