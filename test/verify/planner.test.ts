import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { Readable } from 'node:stream';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { backupKey, verdictKeyFor } from '../../contracts/manifest';
import { planVerification, plannerEventSchema, reportAges, verifyMessageSchema } from '../../lambda/verify/planner';
import { capturingMetrics, quietLogger } from './helpers';

const s3Mock = mockClient(S3Client);
const sqsMock = mockClient(SQSClient);
const snsMock = mockClient(SNSClient);
const NOW = new Date('2026-03-10T05:00:00Z');
const BUCKET = 'backups';

function deps() {
  const { metrics, emitted } = capturingMetrics();
  return { s3: new S3Client({ region: 'eu-west-1' }), sqs: new SQSClient({ region: 'eu-west-1' }), metrics, emitted, logger: quietLogger(), bucket: BUCKET, queueUrl: 'https://sqs/verify', now: () => NOW };
}

/** A bucket laid out as the backup scripts lay it out: tiers, targets, backups with manifests. */
function bucketHolds(layout: Record<string, Record<string, string[]>>, verdicts: Record<string, unknown> = {}): void {
  // Any other prefix is empty, as S3 answers.
  s3Mock.on(ListObjectsV2Command).resolves({});
  s3Mock.on(ListObjectsV2Command, { Prefix: '', Delimiter: '/' }).resolves({ CommonPrefixes: Object.keys(layout).map((tier) => ({ Prefix: `${tier}/` })) });
  for (const [tier, targets] of Object.entries(layout)) {
    s3Mock.on(ListObjectsV2Command, { Prefix: `${tier}/`, Delimiter: '/' }).resolves({ CommonPrefixes: Object.keys(targets).map((target) => ({ Prefix: `${tier}/${target}/` })) });
    for (const [target, keys] of Object.entries(targets)) {
      s3Mock.on(ListObjectsV2Command, { Prefix: `${tier}/${target}/` }).resolves({ Contents: keys.map((key) => ({ Key: key, Size: 1000 })) });
    }
  }
  // Verdicts live under verdicts/<key>/<time>.json, listed per tier and target.
  const byPrefix = new Map<string, string[]>();
  for (const [key, verdict] of Object.entries(verdicts)) {
    const verdictKey = verdictKeyFor(key, NOW);
    const prefix = `verdicts/${key.split('/').slice(0, 2).join('/')}/`;
    byPrefix.set(prefix, [...(byPrefix.get(prefix) ?? []), verdictKey]);
    s3Mock.on(GetObjectCommand, { Key: verdictKey }).resolves({ Body: bodyOf(JSON.stringify(verdict)) as never });
  }
  for (const [prefix, keys] of byPrefix) s3Mock.on(ListObjectsV2Command, { Prefix: prefix }).resolves({ Contents: keys.map((key) => ({ Key: key, Size: 300 })) });
}

/** An SDK response body: a stream that can also turn itself into a string. */
const bodyOf = (text: string) => Object.assign(Readable.from([Buffer.from(text)]), { transformToString: async () => text });
const at = (iso: string) => new Date(iso);
const k = (tier: string, target: string, iso: string, kind: 'postgres' | 'files' = 'postgres') => backupKey(tier, target, kind, at(iso));
const withManifest = (key: string) => [key, `${key}.manifest.json`];
const sentBodies = () => sqsMock.commandCalls(SendMessageBatchCommand).flatMap((call) => call.args[0].input.Entries ?? []).map((entry) => verifyMessageSchema.parse(JSON.parse(entry.MessageBody ?? '')));

beforeEach(() => {
  s3Mock.reset();
  sqsMock.reset();
  snsMock.reset();
  sqsMock.on(SendMessageBatchCommand).resolves({ Successful: [], Failed: [] });
  snsMock.on(PublishCommand).resolves({ MessageId: 'm' });
});
afterAll(() => {
  s3Mock.restore();
  sqsMock.restore();
  snsMock.restore();
});

describe('planVerification', () => {
  it('GIVEN the verdicts/ and drills/ prefixes beside the tiers WHEN the daily run plans THEN they are not taken for tiers', async () => {
    const app = k('daily', 'app', '2026-03-10T02:00:00Z');
    bucketHolds({ daily: { app: withManifest(app) }, verdicts: { daily: [] }, drills: { app: [] } });
    const result = await planVerification(deps(), {});
    expect(result.enqueued).toEqual([app]);
    expect(result.withoutBackups).toEqual([]);
  });

  it('GIVEN two tiers of backups WHEN the daily run plans THEN one message per target and tier names its newest backup', async () => {
    const newestApp = k('daily', 'app', '2026-03-10T02:00:00Z');
    const newestFiles = k('weekly', 'media', '2026-03-08T03:00:00Z', 'files');
    bucketHolds({
      daily: { app: [...withManifest(k('daily', 'app', '2026-03-09T02:00:00Z')), ...withManifest(newestApp)] },
      weekly: { media: [...withManifest(k('weekly', 'media', '2026-03-01T03:00:00Z', 'files')), newestFiles] },
    });

    const result = await planVerification(deps(), {});

    expect(result.enqueued).toEqual([newestApp, newestFiles]);
    expect(sentBodies()).toEqual([
      { key: newestApp, reason: 'scheduled', requestedAt: NOW.toISOString() },
      { key: newestFiles, reason: 'scheduled', requestedAt: NOW.toISOString() },
    ]);
    expect(sqsMock).toHaveReceivedCommandWith(SendMessageBatchCommand, { QueueUrl: 'https://sqs/verify' });
  });

  it('GIVEN 23 targets WHEN planned THEN messages go in batches of at most 10', async () => {
    const targets = Object.fromEntries(Array.from({ length: 23 }, (_, i) => [`db${i}`, withManifest(k('daily', `db${i}`, '2026-03-10T02:00:00Z'))]));
    bucketHolds({ daily: targets });
    const result = await planVerification(deps(), {});
    expect(result.enqueued).toHaveLength(23);
    expect(sqsMock.commandCalls(SendMessageBatchCommand).map((call) => call.args[0].input.Entries?.length)).toEqual([10, 10, 3]);
  });

  it('GIVEN a target prefix holding no backup object WHEN planned THEN it is reported as without backups and nothing is sent for it', async () => {
    bucketHolds({ daily: { ghost: ['daily/ghost/2026/03/01/notes.txt'], app: withManifest(k('daily', 'app', '2026-03-10T02:00:00Z')) } });
    const result = await planVerification(deps(), {});
    expect(result.withoutBackups).toEqual([{ tier: 'daily', target: 'ghost' }]);
    expect(result.enqueued).toHaveLength(1);
  });

  it('GIVEN { target } WHEN planned THEN only that target is sent, in every tier, as on-demand', async () => {
    bucketHolds({
      daily: { app: withManifest(k('daily', 'app', '2026-03-10T02:00:00Z')), other: withManifest(k('daily', 'other', '2026-03-10T02:00:00Z')) },
      monthly: { app: withManifest(k('monthly', 'app', '2026-03-01T04:00:00Z')) },
    });
    const result = await planVerification(deps(), { target: 'app' });
    expect(result.enqueued).toEqual([k('daily', 'app', '2026-03-10T02:00:00Z'), k('monthly', 'app', '2026-03-01T04:00:00Z')]);
    expect(sentBodies().every((body) => body.reason === 'on-demand')).toBe(true);
  });

  it('GIVEN { target } with no backups WHEN planned THEN it is rejected naming the target and nothing is sent', async () => {
    bucketHolds({ daily: { app: withManifest(k('daily', 'app', '2026-03-10T02:00:00Z')) } });
    await expect(planVerification(deps(), { target: 'ghost' })).rejects.toThrow(/no backups found for target 'ghost'/);
    expect(sqsMock).not.toHaveReceivedCommand(SendMessageBatchCommand);
  });

  it('GIVEN { key } of an existing backup WHEN planned THEN exactly that key is sent', async () => {
    const key = k('daily', 'app', '2026-03-01T02:00:00Z');
    s3Mock.on(HeadObjectCommand, { Key: key }).resolves({ ContentLength: 10 });
    const result = await planVerification(deps(), { key });
    expect(result.enqueued).toEqual([key]);
    expect(s3Mock).not.toHaveReceivedCommand(ListObjectsV2Command);
  });

  it('GIVEN { key } that does not exist WHEN planned THEN it is rejected naming the object', async () => {
    const key = k('daily', 'app', '2026-03-01T02:00:00Z');
    s3Mock.on(HeadObjectCommand).rejects(Object.assign(new Error('Not Found'), { name: 'NotFound', $metadata: { httpStatusCode: 404 } }));
    await expect(planVerification(deps(), { key })).rejects.toThrow(`no object s3://${BUCKET}/${key}`);
    expect(sqsMock).not.toHaveReceivedCommand(SendMessageBatchCommand);
  });

  it('GIVEN { key } that is not a backup key WHEN planned THEN it is rejected naming the layout', async () => {
    await expect(planVerification(deps(), { key: 'daily/app/dump.sql' })).rejects.toThrow(/is not a backup key \(<tier>\/<target>/);
  });

  it('GIVEN SQS refusing one entry once WHEN planned THEN that entry is retried and sent', async () => {
    bucketHolds({ daily: { a: withManifest(k('daily', 'a', '2026-03-10T02:00:00Z')), b: withManifest(k('daily', 'b', '2026-03-10T02:00:00Z')) } });
    sqsMock
      .on(SendMessageBatchCommand)
      .resolvesOnce({ Successful: [{ Id: '0', MessageId: 'm0', MD5OfMessageBody: '' }], Failed: [{ Id: '1', Code: 'ThrottlingException', SenderFault: false, Message: 'slow down' }] })
      .resolves({ Successful: [], Failed: [] });
    const result = await planVerification(deps(), {});
    expect(result.enqueued).toHaveLength(2);
    expect(result.notEnqueued).toEqual([]);
    expect(sqsMock.commandCalls(SendMessageBatchCommand)[1]?.args[0].input.Entries?.map((entry) => entry.Id)).toEqual(['1']);
  });

  it('GIVEN SQS refusing an entry twice WHEN planned THEN the result names the key and why', async () => {
    const key = k('daily', 'a', '2026-03-10T02:00:00Z');
    bucketHolds({ daily: { a: withManifest(key) } });
    sqsMock.on(SendMessageBatchCommand).resolves({ Successful: [], Failed: [{ Id: '0', Code: 'KMS.AccessDenied', SenderFault: true, Message: 'kms denied' }] });
    const result = await planVerification(deps(), {});
    expect(result.notEnqueued).toEqual([{ key, reason: 'kms denied' }]);
  });

  it('GIVEN S3 throttling the listing WHEN planned THEN the error reaches the caller (the schedule retries)', async () => {
    s3Mock.on(ListObjectsV2Command).rejects(Object.assign(new Error('Rate exceeded'), { name: 'SlowDown' }));
    await expect(planVerification(deps(), {})).rejects.toThrow(/Rate exceeded/);
  });

  it('GIVEN S3 denying the listing WHEN planned THEN the AccessDenied error reaches the caller', async () => {
    s3Mock.on(ListObjectsV2Command).rejects(Object.assign(new Error('Access Denied'), { name: 'AccessDenied' }));
    await expect(planVerification(deps(), {})).rejects.toThrow(/Access Denied/);
  });
});

describe('planVerification with the configured targets', () => {
  const configuredDeps = (configured: { tier: string; target: string }[]) => ({
    ...deps(),
    configured,
    sns: new SNSClient({ region: 'eu-west-1' }),
    alertTopicArn: 'arn:aws:sns:eu-west-1:111111111111:alerts',
  });

  it('GIVEN a configured target with no backup at all WHEN the daily run plans THEN it is alerted by name and counted as a failed verification', async () => {
    bucketHolds({ daily: { app: withManifest(k('daily', 'app', '2026-03-10T02:00:00Z')) } });
    const d = configuredDeps([{ tier: 'daily', target: 'app' }, { tier: 'daily', target: 'billing' }]);

    const result = await planVerification(d, {});

    expect(result.withoutBackups).toEqual([{ tier: 'daily', target: 'billing' }]);
    expect(result.enqueued).toEqual([k('daily', 'app', '2026-03-10T02:00:00Z')]);
    expect(snsMock).toHaveReceivedCommandTimes(PublishCommand, 1);
    expect(snsMock).toHaveReceivedCommandWith(PublishCommand, {
      Subject: 'Backup missing: billing daily has no backup',
      Message: expect.stringMatching(/Target: billing[\s\S]*What to do: the config lists this target/),
    });
    expect(d.emitted).toContainEqual({ name: 'VerificationFailed', value: 1, dimensions: { service: 'verify', Target: 'billing', Tier: 'daily' } });
  });

  it('GIVEN backups of a target the config no longer lists WHEN planned THEN they are still verified and reported as unconfigured', async () => {
    bucketHolds({ daily: { retired: withManifest(k('daily', 'retired', '2026-03-10T02:00:00Z')) } });
    const result = await planVerification(configuredDeps([]), {});
    expect(result.enqueued).toEqual([k('daily', 'retired', '2026-03-10T02:00:00Z')]);
    expect(result.unconfigured).toEqual([{ tier: 'daily', target: 'retired' }]);
    expect(snsMock).not.toHaveReceivedCommand(PublishCommand);
  });

  it('GIVEN { target } of a configured target without backups WHEN planned on demand THEN it is reported missing rather than refused', async () => {
    bucketHolds({ daily: {} });
    const result = await planVerification(configuredDeps([{ tier: 'daily', target: 'billing' }]), { target: 'billing' });
    expect(result.withoutBackups).toEqual([{ tier: 'daily', target: 'billing' }]);
    expect(snsMock).toHaveReceivedCommandTimes(PublishCommand, 1);
  });
});

describe('planner event', () => {
  it.each([[{}], [{ target: 'app' }], [{ key: 'daily/app/2026/01/01/app_20260101T020000Z.pgdump.gz' }], [{ action: 'report-ages' }], [{ target: 'app', tier: 'daily' }]])('GIVEN %j WHEN parsed THEN it is accepted', (event) => {
    expect(plannerEventSchema.safeParse(event).success).toBe(true);
  });

  it.each([
    [{ key: 'x', target: 'app' }, /either key, or target/],
    [{ targt: 'app' }, /targt/],
    [{ target: '../etc' }, /"path":\["target"\].*must be a target name/],
    [{ action: 'delete' }, /action/],
  ])('GIVEN %j WHEN parsed THEN it is rejected naming the field', (event, message) => {
    const parsed = plannerEventSchema.safeParse(event);
    expect(parsed.success).toBe(false);
    expect(JSON.stringify(parsed.error?.issues)).toMatch(message);
  });
});

describe('reportAges', () => {
  const verdict = (key: string, passed: boolean, backupAt: string) => ({
    verdictVersion: 2, bucket: BUCKET, key, target: 'x', tier: 'daily', kind: 'postgres', verifiedAt: NOW.toISOString(), backupAt, passed, checks: [], reasons: [], figures: {},
  });

  it('GIVEN verdicts per target WHEN ages are reported THEN each target and tier gets hours since its newest passed verdict in the log, and each tier its largest as the metric', async () => {
    const appNew = k('daily', 'app', '2026-03-10T02:00:00Z');
    const appOld = k('daily', 'app', '2026-03-09T02:00:00Z');
    const media = k('daily', 'media', '2026-03-07T02:00:00Z', 'files');
    bucketHolds(
      { daily: { app: [...withManifest(appOld), ...withManifest(appNew)], media: [...withManifest(media)] } },
      { [appNew]: verdict(appNew, false, '2026-03-10T02:05:00Z'), [appOld]: verdict(appOld, true, '2026-03-09T02:05:00Z'), [media]: verdict(media, true, '2026-03-07T02:00:00Z') },
    );
    const d = deps();
    const logged: Record<string, unknown>[] = [];
    d.logger.info = ((message: string, extra: Record<string, unknown>) => logged.push({ message, ...extra })) as typeof d.logger.info;

    const ages = await reportAges(d);

    expect(ages).toEqual([
      { tier: 'daily', target: 'app', hoursSinceLastVerifiedBackup: 26.92, ageHours: 26.92 },
      { tier: 'daily', target: 'media', hoursSinceLastVerifiedBackup: 75, ageHours: 75 },
    ]);
    // One series per tier: a metric per target sent hourly would cost more than the alarm on it.
    expect(d.emitted).toEqual([{ name: 'HoursSinceLastVerifiedBackup', value: 75, dimensions: { service: 'verify', Tier: 'daily' } }]);
    // The dashboard's age table reads these lines.
    expect(logged.filter((line) => line.message === 'backup age')).toEqual([
      { message: 'backup age', tier: 'daily', target: 'app', hours: 26.9 },
      { message: 'backup age', tier: 'daily', target: 'media', hours: 75 },
    ]);
  });

  it('GIVEN a target whose backups never passed WHEN ages are reported THEN its age counts from its oldest backup', async () => {
    const only = k('daily', 'fresh', '2026-03-08T05:00:00Z');
    bucketHolds({ daily: { fresh: [only] } });
    const d = deps();
    const ages = await reportAges(d);
    expect(ages).toEqual([{ tier: 'daily', target: 'fresh', hoursSinceLastVerifiedBackup: undefined, ageHours: 48 }]);
    expect(d.emitted).toContainEqual({ name: 'HoursSinceLastVerifiedBackup', value: 48, dimensions: { service: 'verify', Tier: 'daily' } });
  });

  it('GIVEN a target that crossed its tier\'s limit in the last hour WHEN ages are reported THEN one mail names it, and lists the targets still late without repeating them', async () => {
    const justLate = k('daily', 'orders', '2026-03-09T02:30:00Z');
    const longLate = k('daily', 'media', '2026-03-07T02:00:00Z', 'files');
    const fine = k('daily', 'app', '2026-03-10T02:00:00Z');
    bucketHolds(
      { daily: { orders: withManifest(justLate), media: withManifest(longLate), app: withManifest(fine) } },
      { [justLate]: verdict(justLate, true, '2026-03-09T02:30:00Z'), [longLate]: verdict(longLate, true, '2026-03-07T02:00:00Z'), [fine]: verdict(fine, true, '2026-03-10T02:00:00Z') },
    );
    snsMock.on(PublishCommand).resolves({ MessageId: 'm' });
    const d = { ...deps(), sns: new SNSClient({ region: 'eu-west-1' }), alertTopicArn: 'arn:aws:sns:eu-west-1:111122223333:alerts', tierMaxAgeHours: { daily: 26 } };

    const ages = await reportAges(d);

    expect(ages.filter((age) => age.late).map((age) => age.target).sort()).toEqual(['media', 'orders']);
    const mails = snsMock.commandCalls(PublishCommand).map((call) => call.args[0].input);
    expect(mails).toHaveLength(1);
    expect(mails[0]?.Subject).toBe('Backup overdue: orders daily');
    expect(mails[0]?.Message).toContain('  orders (daily): 26 h since its last verified backup, limit 26 h');
    expect(mails[0]?.Message).toMatch(/Still overdue since an earlier report:\n  media \(daily\): 75 h/);
    expect(mails[0]?.Message).toContain('{ "tier": "manual", "target": "<target>" }');

    // An hour later nobody new is late: no mail; the tier's alarm keeps firing on its own.
    snsMock.resetHistory();
    await reportAges({ ...d, now: () => new Date(NOW.getTime() + 3_600_000) });
    expect(snsMock).not.toHaveReceivedCommand(PublishCommand);
  });
});
