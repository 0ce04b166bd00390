import { GetObjectCommand, HeadObjectCommand, ListObjectVersionsCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import {
  DescribeDocumentCommand,
  DescribeInstanceInformationCommand,
  GetCommandInvocationCommand,
  GetDocumentCommand,
  SSMClient,
  SendCommandCommand,
} from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import fc from 'fast-check';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { backupKey, manifestKeyFor, verdictKeyFor } from '../../contracts/manifest';
import type { RestoreAnswer } from '../../lambda/restore/core';
import { handler } from '../../lambda/restore/handler';
import { REMOVE, badEvents, badTimes, wrongType } from '../support/bad-events';

/** The restore function with aws-sdk-client-mock: choosing the backup and the instance, dry runs, sending, refusals. */

const DOCUMENT = { schemaVersion: '2.2', description: 'restore' };

// The handler reads its environment when it loads, so it is set before the imports.
vi.hoisted(() => {
  process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
  process.env.AWS_REGION = 'eu-west-1';
  process.env.RESTORE_DOCUMENT_NAME = 'BackupKit-test-InstanceRestore';
  // canonical JSON of { schemaVersion: '2.2', description: 'restore' }
  process.env.RESTORE_DOCUMENT_SHA256 = require('node:crypto').createHash('sha256').update('{"description":"restore","schemaVersion":"2.2"}').digest('hex');
  process.env.RESTORE_SITE = JSON.stringify({ bucket: 'backups', kmsKeyArn: 'arn:aws:kms:eu-west-1:111122223333:key/abc-123', region: 'eu-west-1', safetyTier: 'predeploy', safetyRetentionDays: 7 });
  process.env.COMMAND_LOG_GROUP = 'restore-output';
  process.env.DELIVERY_TIMEOUT_SECONDS = '600';
  process.env.RESTORE_SERVERS = JSON.stringify({ 'orders-server': ['media', 'orders-db'] });
  process.env.RESTORE_TARGETS = JSON.stringify([
    {
      backup: {
        name: 'orders-db',
        kind: 'postgres',
        instances: { tag: { key: 'role', value: 'orders' } },
        tiers: ['daily', 'weekly'],
        database: { host: '127.0.0.1', port: 5432, name: 'orders', user: 'backup', password: { ssmParameter: '/orders/db-password' } },
        executionTimeoutSeconds: 7200,
        maxConcurrency: '1',
        maxErrors: '100%',
      },
      restore: {
        user: 'restore',
        password: { ssmParameter: '/orders/restore-password' },
        onto: { tag: { key: 'backup-kit:restore-into', value: 'orders-db' } },
        drill: true,
        probes: ['SELECT 1'],
      },
    },
    {
      backup: { name: 'media', kind: 'files', instances: { instanceIds: ['i-0123456789abcdef0'] }, tiers: ['daily'], path: '/srv/media', executionTimeoutSeconds: 3600, maxConcurrency: '1', maxErrors: '100%' },
      restore: { scratchRoot: '/var/tmp/backup-kit-restore/media', onto: { instanceIds: ['i-0dddddddddddddddd'] }, drill: true, probes: [] },
    },
    {
      backup: { name: 'repairs-sqlite', kind: 'sqlite', instances: { instanceIds: ['i-0aaaaaaaaaaaaaaaa'] }, tiers: ['daily'], path: '/srv/repairs/repairs.db', executionTimeoutSeconds: 3600, maxConcurrency: '1', maxErrors: '100%' },
      restore: { scratchRoot: '/srv/restores/repairs', drill: true, probes: [] },
    },
    {
      backup: {
        name: 'ledger-db',
        kind: 'postgres',
        instances: { instanceIds: ['i-0aaaaaaaaaaaaaaaa'] },
        tiers: ['daily'],
        database: { host: '127.0.0.1', port: 5432, name: 'ledger', user: 'backup', password: { ssmParameter: '/ledger/db-password' } },
        executionTimeoutSeconds: 7200,
        maxConcurrency: '1',
        maxErrors: '100%',
      },
      restore: { drill: true, probes: [] },
    },
  ]);
});

const s3Mock = mockClient(S3Client);
const ssmMock = mockClient(SSMClient);
const MUTATING = [SendCommandCommand, PutObjectCommand] as const;

/** Just what the code reads of a GetObject body. */
const body = (text: string) => ({ transformToString: async () => text }) as never;
const at = (iso: string) => new Date(iso);

function manifest(key: string, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    manifestVersion: 1,
    target: 'orders-db',
    kind: 'postgres',
    tier: key.split('/')[0],
    instance: 'i-0123456789abcdef0',
    bucket: 'backups',
    key,
    startedAt: '2026-11-20T02:00:00Z',
    finishedAt: '2026-11-20T02:03:00Z',
    bytes: 1234,
    sha256: 'a'.repeat(64),
    compression: 'gzip',
    format: 'pg_custom',
    retainUntil: '2026-12-20T02:00:00Z',
    tools: {},
    database: { tableCount: 3, rowCounts: { 'public.orders': 10 } },
    ...extra,
  });
}

/** When the verifier ran, and the versions it pinned: the first version of each key. */
const VERIFIED_AT = new Date('2026-11-20T05:00:00Z');
const verdictKeyOf = (key: string) => verdictKeyFor(key, VERIFIED_AT);
const FIRST = 'first+version/1';
const MANIFEST_FIRST = 'manifest=first.1';

function verdict(key: string, passed: boolean): string {
  return JSON.stringify({
    verdictVersion: 2,
    bucket: 'backups',
    key,
    versionId: FIRST,
    manifestVersionId: MANIFEST_FIRST,
    sha256: 'a'.repeat(64),
    target: 'orders-db',
    tier: key.split('/')[0],
    kind: 'postgres',
    verifiedAt: '2026-11-20T05:00:00Z',
    backupAt: '2026-11-20T02:03:00Z',
    passed,
    checks: [],
    reasons: passed ? [] : ['integrity: sha256 differs'],
    figures: {},
  });
}

const OLD = backupKey('daily', 'orders-db', 'postgres', at('2026-11-19T02:00:00Z'));
const GOOD = backupKey('daily', 'orders-db', 'postgres', at('2026-11-20T02:00:00Z'));
const BAD = backupKey('daily', 'orders-db', 'postgres', at('2026-11-21T02:00:00Z'));
const WEEKLY = backupKey('weekly', 'orders-db', 'postgres', at('2026-11-15T03:00:00Z'));

function listing(keys: string[], { storageClass }: { storageClass?: 'DEEP_ARCHIVE' } = {}) {
  return {
    Contents: keys.flatMap((key) => [
      { Key: key, Size: 1234, LastModified: new Date(), ...(storageClass ? { StorageClass: storageClass } : {}) },
      { Key: manifestKeyFor(key), Size: 500 },
    ]),
  };
}

/** What the verdicts/ prefix of a tier holds for these backups. */
function verdictListing(keys: string[]) {
  return { Contents: keys.map((key) => ({ Key: verdictKeyOf(key), Size: 300 })) };
}

/** The versions of a backup and its manifest: the first ones, and `later` more written over them. */
function versionsOf(key: string, later = 0) {
  const newestFirst = (name: string, first: string) => [
    ...Array.from({ length: later }, (_, index) => ({ Key: name, VersionId: `later-${later - index}`, LastModified: new Date('2026-11-22T00:00:00Z') })),
    { Key: name, VersionId: first, LastModified: new Date('2026-11-20T02:03:00Z') },
  ];
  return { Versions: [...newestFirst(key, FIRST), ...newestFirst(manifestKeyFor(key), MANIFEST_FIRST)] };
}

beforeEach(() => {
  s3Mock.reset();
  ssmMock.reset();
  s3Mock.on(ListObjectsV2Command).resolves({});
  s3Mock.on(ListObjectsV2Command, { Prefix: 'daily/orders-db/' }).resolves(listing([OLD, GOOD, BAD]));
  s3Mock.on(ListObjectsV2Command, { Prefix: 'weekly/orders-db/' }).resolves(listing([WEEKLY]));
  s3Mock.on(ListObjectsV2Command, { Prefix: 'verdicts/daily/orders-db/' }).resolves(verdictListing([OLD, GOOD, BAD]));
  s3Mock.on(ListObjectsV2Command, { Prefix: 'verdicts/weekly/orders-db/' }).resolves(verdictListing([WEEKLY]));
  s3Mock.on(ListObjectVersionsCommand).callsFake((input: { Prefix: string }) => versionsOf(input.Prefix));
  for (const key of [OLD, GOOD, BAD, WEEKLY]) {
    s3Mock.on(ListObjectsV2Command, { Prefix: `verdicts/${key}/` }).resolves(verdictListing([key]));
    s3Mock.on(GetObjectCommand, { Key: manifestKeyFor(key) }).callsFake(() => ({ Body: body(manifest(key)) }));
    s3Mock.on(GetObjectCommand, { Key: verdictKeyOf(key) }).callsFake(() => ({ Body: body(verdict(key, key !== BAD)) }));
  }
  s3Mock.on(HeadObjectCommand).resolves({ StorageClass: 'STANDARD' });
  ssmMock.on(DescribeInstanceInformationCommand).resolves({ InstanceInformationList: [{ InstanceId: 'i-0aaaaaaaaaaaaaaaa', PingStatus: 'Online', PlatformName: 'Amazon Linux' }] });
  ssmMock.on(DescribeDocumentCommand).resolves({ Document: { DefaultVersion: '3' } });
  ssmMock.on(GetDocumentCommand).resolves({ Content: JSON.stringify(DOCUMENT) });
  ssmMock.on(SendCommandCommand).resolves({ Command: { CommandId: 'cmd-123' } });
  // The preflight on an instance a restore goes onto: ready.
  ssmMock.on(GetCommandInvocationCommand).resolves({
    Status: 'Success',
    ResponseCode: 0,
    StandardOutputContent: `PREFLIGHT_RESULT ${JSON.stringify({ target: 'x', kind: 'x', key: 'k', ready: true, checks: [{ name: 'tools', status: 'passed', detail: 'psql and pg_restore 16' }] })}\n`,
  });
});

type Answer = Awaited<ReturnType<typeof handler>>;

/** The answer of an accepted request (fails the test if it was refused). */
function accepted(answer: Answer): RestoreAnswer & { ok: true } {
  if (!answer.ok) throw new Error(`refused: ${answer.message}`);
  if (!('target' in answer)) throw new Error('a rebuild answer, not a restore');
  return answer;
}

/** The refusal (fails the test if the request was accepted). */
function refusal(answer: Answer): Extract<Answer, { ok: false }> {
  if (answer.ok) throw new Error(`accepted: ${answer.outcome}`);
  return answer;
}

/** Calls that change something: restores sent (not the read-only preflight checks) and objects written. */
function mutatingCalls(): number {
  const restores = ssmMock.commandCalls(SendCommandCommand).filter((call) => call.args[0].input.Parameters?.mode?.[0] !== 'check').length;
  return MUTATING.reduce((sum, command) => sum + s3Mock.commandCalls(command as typeof PutObjectCommand).length, restores);
}

describe('restore function', () => {
  it('dry run: shows the newest verified backup, its manifest and verdict, the instance and what would change; sends nothing', async () => {
    // WHEN a dry run of a scratch restore
    const answer = accepted(await handler({ target: 'orders-db', mode: 'scratch', dryRun: true }));
    // THEN the newest backup whose verdict passed is chosen (the failed newer one is skipped)
    expect(answer).toMatchObject({
      outcome: 'dry-run',
      target: 'orders-db',
      mode: 'scratch',
      backup: { key: GOOD, how: 'newest verified', tier: 'daily', manifest: { bytes: 1234, database: { tableCount: 3 } }, verification: { passed: true } },
      instance: { instanceId: 'i-0aaaaaaaaaaaaaaaa', pingStatus: 'Online' },
    });
    expect(answer.whatWouldChange.join('\n')).toMatch(/creates a new database orders_restore_.* and loads the backup into it[\s\S]*live database orders on 127\.0\.0\.1:5432 is not touched/);
    expect(answer.next).toMatch(new RegExp(`"key": "${GOOD.replace(/[.]/g, '\\.')}"`));
    expect(mutatingCalls()).toBe(0);
  });

  it('dry run of replace lists the safety backup, the restore into a new database and the rename', async () => {
    const answer = accepted(await handler({ target: 'orders-db', mode: 'replace', dryRun: true }));
    expect(answer.whatWouldChange.join('\n')).toMatch(/safety backup .* tier 'predeploy' \(kept 7 days\)[\s\S]*orders_rs_[\s\S]*renames orders to orders_pre_restore_/);
    expect(answer.next).toMatch(/"confirm": "orders-db"/);
    expect(mutatingCalls()).toBe(0);
  });

  it('sends the pinned document to exactly one instance with the restore settings, and links the run', async () => {
    // WHEN a scratch restore of a given key
    const answer = accepted(await handler({ target: 'orders-db', key: OLD, scratchName: 'orders_check', requestedBy: 'jane' }));
    // THEN one command to one instance, pinned to the deployed version, with the key and the restore role
    expect(answer).toMatchObject({ outcome: 'started', commandId: 'cmd-123', documentVersion: '3', backup: { key: OLD, how: 'given key' } });
    expect(answer.outcome === 'started' && answer.consoleLink).toBe('https://eu-west-1.console.aws.amazon.com/systems-manager/run-command/cmd-123/i-0aaaaaaaaaaaaaaaa?region=eu-west-1');
    expect(ssmMock).toReceiveCommandTimes(SendCommandCommand, 1);
    expect(ssmMock).toReceiveCommandWith(SendCommandCommand, {
      DocumentName: 'BackupKit-test-InstanceRestore',
      DocumentVersion: '3',
      InstanceIds: ['i-0aaaaaaaaaaaaaaaa'],
      Comment: 'backup-kit scratch restore of orders-db by jane',
      Parameters: expect.objectContaining({
        target: ['orders-db'],
        mode: ['scratch'],
        key: [OLD],
        drill: ['0'],
        scratchName: ['orders_check'],
        restoreDbUser: ['restore'],
        restorePasswordSsmParameter: ['/orders/restore-password'],
        safetyTier: ['predeploy'],
        safetyObjectLockMode: ['GOVERNANCE'],
        tiers: ['daily weekly'],
      }),
    });
  });

  it('replace with confirmation sends the confirmation along', async () => {
    accepted(await handler({ target: 'orders-db', mode: 'replace', confirm: 'orders-db', before: '2026-11-20T12:00:00+01:00' }));
    expect(ssmMock).toReceiveCommandWith(SendCommandCommand, { Parameters: expect.objectContaining({ mode: ['replace'], confirm: ['orders-db'], key: [GOOD] }) });
  });

  it('picks the newest backup before a time across tiers', async () => {
    const answer = accepted(await handler({ target: 'orders-db', before: '2026-11-18T00:00:00Z', dryRun: true }));
    expect(answer.backup).toMatchObject({ key: WEEKLY, how: 'newest before the given time', tier: 'weekly' });
  });

  it('requires instanceId when the tag matches several instances, naming them', async () => {
    ssmMock.on(DescribeInstanceInformationCommand).resolves({
      InstanceInformationList: [
        { InstanceId: 'i-0aaaaaaaaaaaaaaaa', PingStatus: 'Online' },
        { InstanceId: 'i-0bbbbbbbbbbbbbbbb', PingStatus: 'Online' },
      ],
    });
    expect(refusal(await handler({ target: 'orders-db' })).message).toMatch(/instanceId: 'orders-db' matches 2 instances \(i-0aaaaaaaaaaaaaaaa, i-0bbbbbbbbbbbbbbbb\)/);
    const answer = accepted(await handler({ target: 'orders-db', instanceId: 'i-0bbbbbbbbbbbbbbbb' }));
    expect(answer.instance.instanceId).toBe('i-0bbbbbbbbbbbbbbbb');
    expect(ssmMock).toReceiveCommandWith(SendCommandCommand, { InstanceIds: ['i-0bbbbbbbbbbbbbbbb'] });
  });

  it('refuses an instance that is not the target\'s, and an offline one, sending nothing', async () => {
    expect(refusal(await handler({ target: 'media', instanceId: 'i-0cccccccccccccccc' })).message).toMatch(/instanceId: i-0cccccccccccccccc is not an instance of 'media'/);
    ssmMock.on(DescribeInstanceInformationCommand).resolves({ InstanceInformationList: [{ InstanceId: 'i-0aaaaaaaaaaaaaaaa', PingStatus: 'ConnectionLost' }] });
    expect(refusal(await handler({ target: 'orders-db' })).message).toMatch(/is ConnectionLost in SSM/);
    expect(mutatingCalls()).toBe(0);
  });

  it('refuses a key of another target, a key without a manifest, and an archived backup', async () => {
    expect(refusal(await handler({ target: 'orders-db', key: backupKey('daily', 'media', 'files', at('2026-11-20T02:00:00Z')) })).message).toMatch(/key: .* is not a postgres backup of target 'orders-db'/);
    // a backup whose manifest was never written: no verdict, no manifest version
    s3Mock.on(ListObjectsV2Command, { Prefix: `verdicts/${OLD}/` }).resolves({});
    s3Mock.on(ListObjectVersionsCommand, { Prefix: OLD }).resolves({ Versions: [{ Key: OLD, VersionId: FIRST }] });
    expect(refusal(await handler({ target: 'orders-db', key: OLD })).message).toMatch(/has no manifest; a backup without one is incomplete/);
    // a verdict that pins a manifest version S3 no longer has
    s3Mock.on(GetObjectCommand, { Key: manifestKeyFor(GOOD) }).rejects(Object.assign(new Error('no version'), { name: 'NoSuchVersion' }));
    expect(refusal(await handler({ target: 'orders-db', key: GOOD })).message).toMatch(/has no manifest \(version manifest=first\.1\)/);
    s3Mock.on(GetObjectCommand, { Key: manifestKeyFor(GOOD) }).callsFake(() => ({ Body: body(manifest(GOOD)) }));
    s3Mock.on(HeadObjectCommand).resolves({ StorageClass: 'DEEP_ARCHIVE' });
    expect(refusal(await handler({ target: 'orders-db', key: GOOD })).message).toMatch(/is in DEEP_ARCHIVE; restore the object first/);
    expect(mutatingCalls()).toBe(0);
  });

  it('says so when no backup is verified', async () => {
    s3Mock.on(ListObjectsV2Command).resolves(listing([OLD]));
    s3Mock.on(ListObjectsV2Command, { Prefix: 'verdicts/daily/orders-db/' }).resolves({});
    expect(refusal(await handler({ target: 'orders-db', dryRun: true })).message).toMatch(/no verified backup of 'orders-db' among its 1 complete backup\(s\); give "key"/);
  });

  it('turns AccessDenied into a message naming the action, and nothing sent', async () => {
    ssmMock.on(SendCommandCommand).rejects(Object.assign(new Error('not authorized'), { name: 'AccessDeniedException' }));
    expect(refusal(await handler({ target: 'orders-db' })).message).toMatch(/AWS refused ssm:SendCommand of BackupKit-test-InstanceRestore to i-0aaaaaaaaaaaaaaaa.*Nothing was sent/);
  });

  it('retries throttled calls', async () => {
    ssmMock.on(SendCommandCommand).rejectsOnce(Object.assign(new Error('slow down'), { name: 'ThrottlingException' })).resolves({ Command: { CommandId: 'cmd-9' } });
    const answer = accepted(await handler({ target: 'orders-db' }));
    expect(answer).toMatchObject({ commandId: 'cmd-9' });
  }, 30_000);

  it('refuses an unknown target naming the configured ones', async () => {
    const answer = refusal(await handler({ target: 'billing-db', dryRun: true }));
    expect(answer.error).toBe('RequestRejected');
    expect(answer.message).toMatch(/target: 'billing-db' is not a configured target \(targets: orders-db, media, repairs-sqlite, ledger-db\)/);
  });

  it('rejects 1000+ malformed events, each naming the field, with zero mutating calls', async () => {
    const valid = { target: 'orders-db', mode: 'replace', dryRun: false, confirm: 'orders-db' };
    const arbitrary = badEvents(valid, {
      target: fc.oneof(wrongType('string'), fc.constantFrom('', 'Orders', 'orders db', 'x'.repeat(41), '-orders'), fc.constant(REMOVE)),
      mode: fc.oneof(wrongType('string'), fc.constantFrom('restore', 'SCRATCH', 'drill', '')),
      key: fc.oneof(wrongType('string'), fc.constantFrom('daily/orders-db/latest', 'orders.pgdump.gz', '../etc/passwd', '')),
      before: fc.oneof(badTimes.filter((value) => value !== undefined)),
      instanceId: fc.oneof(wrongType('string'), fc.constantFrom('i-123', 'instance-1', 'I-0123456789ABCDEF0', '')),
      onto: fc.oneof(wrongType('string'), fc.constantFrom('i-123', 'i-0123456789abcdef0 ', 'tag:backup-kit:restore-into', '')),
      scratchName: fc.oneof(wrongType('string'), fc.constantFrom('bad name', 'x;drop', '', 'a'.repeat(64))),
      scratchPath: fc.oneof(
        wrongType('string'),
        fc.constantFrom('relative/path', '/tmp/$(reboot)', "/it's", '', '/var/tmp/backup-kit-restore/media/../../../etc/cron.d/x', '/var/tmp/backup-kit-restore/media//x', '/var/tmp/backup-kit-restore/media/./x', '/var/tmp/backup-kit-restore/media/..'),
      ),
      dryRun: wrongType('boolean'),
      confirm: fc.oneof(wrongType('string'), fc.constantFrom('', 'yes', 'ORDERS-DB', 'media'), fc.constant(REMOVE)),
      requestedBy: fc.oneof(wrongType('string'), fc.constantFrom('', 'a'.repeat(61), 'x\ny', 'rm -rf /;')),
    });
    let checked = 0;
    await fc.assert(
      fc.asyncProperty(arbitrary, async ({ event, field }) => {
        const answer = refusal(await handler(event));
        checked += 1;
        expect(answer.error).toBe('InvalidEvent');
        expect(answer.message.includes(`${field}:`) || answer.message.includes(`"${field}"`)).toBe(true);
        expect(mutatingCalls()).toBe(0);
      }),
      { numRuns: 1200 },
    );
    expect(checked).toBeGreaterThanOrEqual(1000);
    expect(ssmMock.calls()).toHaveLength(0);
    expect(s3Mock.calls()).toHaveLength(0);
  });
});

describe('restore function: onto another instance', () => {
  /** A stored backup of the files target 'media' (not verified: given by key). */
  function mediaKey(): string {
    const key = backupKey('daily', 'media', 'files', at('2026-11-20T02:00:00Z'));
    s3Mock.on(GetObjectCommand, { Key: manifestKeyFor(key) }).callsFake(() => ({
      Body: body(manifest(key, { target: 'media', kind: 'files', format: 'tar', database: undefined, files: { fileCount: 3, totalBytes: 99 } })),
    }));
    return key;
  }

  it('dry run onto an allowed instance shows it as not the target\'s own and what the check there found, and restores nothing', async () => {
    // GIVEN the replacement carries the tag the target's restore settings allow
    ssmMock.on(DescribeInstanceInformationCommand).resolves({ InstanceInformationList: [{ InstanceId: 'i-0eeeeeeeeeeeeeeee', PingStatus: 'Online', PlatformName: 'Ubuntu' }] });
    // WHEN a dry run names it
    const answer = accepted(await handler({ target: 'orders-db', onto: 'i-0eeeeeeeeeeeeeeee', dryRun: true }));
    // THEN SSM was asked for exactly that instance among those carrying the tag
    expect(ssmMock).toReceiveCommandWith(DescribeInstanceInformationCommand, {
      Filters: [
        { Key: 'tag:backup-kit:restore-into', Values: ['orders-db'] },
        { Key: 'InstanceIds', Values: ['i-0eeeeeeeeeeeeeeee'] },
      ],
    });
    expect(answer.instance).toMatchObject({ instanceId: 'i-0eeeeeeeeeeeeeeee', onto: true, pingStatus: 'Online' });
    expect(answer.whatWouldChange.join('\n')).toMatch(/on i-0eeeeeeeeeeeeeeee \(not one of the target's own instances[\s\S]*own instances: they are not touched/);
    // AND a replace there says what happens where the database does not exist yet
    const replace = accepted(await handler({ target: 'orders-db', onto: 'i-0eeeeeeeeeeeeeeee', mode: 'replace', dryRun: true }));
    expect(replace.whatWouldChange.join('\n')).toMatch(/where database orders does not exist on i-0eeeeeeeeeeeeeeee \(a rebuilt server\), there is nothing to keep: no safety backup/);
    // AND the instance was checked (restore.sh in check mode, which changes nothing), and only it
    expect(replace.preflight).toMatchObject({ target: 'orders-db', status: 'ready', checks: [{ name: 'tools', status: 'passed' }] });
    expect(ssmMock.commandCalls(SendCommandCommand).map((call) => [call.args[0].input.InstanceIds, call.args[0].input.Parameters?.mode])).toEqual([
      [['i-0eeeeeeeeeeeeeeee'], ['check']],
      [['i-0eeeeeeeeeeeeeeee'], ['check']],
    ]);
    expect(replace.next).toMatch(/^Nothing was changed \(only the read-only check ran on the instance\)\. To run this restore/);
    expect(mutatingCalls()).toBe(0);
  });

  it('sends the restore onto an allowed instance only, scratch or confirmed replace', async () => {
    ssmMock.on(DescribeInstanceInformationCommand).resolves({ InstanceInformationList: [{ InstanceId: 'i-0dddddddddddddddd', PingStatus: 'Online' }] });
    accepted(await handler({ target: 'media', onto: 'i-0dddddddddddddddd', key: mediaKey(), requestedBy: 'jane' }));
    expect(ssmMock).toReceiveCommandWith(SendCommandCommand, {
      InstanceIds: ['i-0dddddddddddddddd'],
      Comment: 'backup-kit scratch restore of media onto i-0dddddddddddddddd by jane',
      Parameters: expect.objectContaining({ target: ['media'], mode: ['scratch'], path: ['/srv/media'] }),
    });
    ssmMock.resetHistory();
    expect(refusal(await handler({ target: 'media', onto: 'i-0dddddddddddddddd', mode: 'replace', key: mediaKey() })).field).toBe('confirm');
    expect(mutatingCalls()).toBe(0);
    accepted(await handler({ target: 'media', onto: 'i-0dddddddddddddddd', mode: 'replace', confirm: 'media', key: mediaKey() }));
    expect(ssmMock).toReceiveCommandWith(SendCommandCommand, { InstanceIds: ['i-0dddddddddddddddd'], Parameters: expect.objectContaining({ mode: ['replace'], confirm: ['media'] }) });
  });

  it('refuses an instance the config does not allow, naming the field and the setting, before any call', async () => {
    // an ID outside the allowlist
    const outside = refusal(await handler({ target: 'media', onto: 'i-0cccccccccccccccc', dryRun: true }));
    expect(outside).toMatchObject({ field: 'onto' });
    expect(outside.message).toMatch(/onto: i-0cccccccccccccccc is not an instance 'media' may be restored onto \(restore\.targets\.media\.onto: instance IDs i-0dddddddddddddddd\)/);
    // a target without onto settings
    const none = refusal(await handler({ target: 'ledger-db', onto: 'i-0dddddddddddddddd', dryRun: true }));
    expect(none.message).toMatch(/onto: 'ledger-db' may be restored only onto its own instances \(instance IDs i-0aaaaaaaaaaaaaaaa\); to allow i-0dddddddddddddddd, list it in restore\.targets\.ledger-db\.onto/);
    // onto and instanceId together
    expect(refusal(await handler({ target: 'media', onto: 'i-0dddddddddddddddd', instanceId: 'i-0123456789abcdef0' })).field).toBe('onto');
    expect(ssmMock.calls()).toHaveLength(0);
    expect(s3Mock.calls()).toHaveLength(0);
  });

  it('a restore onto an instance that lacks what the restore needs is refused, naming what to fix; only the check ran', async () => {
    ssmMock.on(DescribeInstanceInformationCommand).resolves({ InstanceInformationList: [{ InstanceId: 'i-0dddddddddddddddd', PingStatus: 'Online', PlatformType: 'Linux' }] });
    ssmMock.on(GetCommandInvocationCommand).resolves({
      Status: 'Success',
      ResponseCode: 0,
      StandardOutputContent: `PREFLIGHT_RESULT ${JSON.stringify({ target: 'media', kind: 'files', key: 'k', ready: false, checks: [{ name: 'directory', status: 'failed', detail: '/srv does not exist: deploy the application (its directories) first' }] })}\n`,
    });
    const answer = refusal(await handler({ target: 'media', onto: 'i-0dddddddddddddddd', key: mediaKey(), mode: 'replace', confirm: 'media' }));
    expect(answer).toMatchObject({ field: 'onto', reason: expect.stringMatching(/^i-0dddddddddddddddd is not ready for 'media': directory: \/srv does not exist: deploy the application \(its directories\) first\. Only the read-only check ran; nothing was restored/) });
    expect(mutatingCalls()).toBe(0);
  });

  it('refuses an instance that runs another OS than Linux, naming it, sending nothing', async () => {
    ssmMock.on(DescribeInstanceInformationCommand).resolves({
      InstanceInformationList: [{ InstanceId: 'i-0dddddddddddddddd', PingStatus: 'Online', PlatformType: 'Windows', PlatformName: 'Microsoft Windows Server 2022 Datacenter', PlatformVersion: '10.0.20348' }],
    });
    expect(refusal(await handler({ target: 'media', onto: 'i-0dddddddddddddddd', key: mediaKey(), dryRun: true })).message).toBe(
      'onto: i-0dddddddddddddddd runs Microsoft Windows Server 2022 Datacenter 10.0.20348; the restore runs on Linux instances only. Nothing was changed.',
    );
    ssmMock.on(DescribeInstanceInformationCommand).resolves({ InstanceInformationList: [{ InstanceId: 'i-0dddddddddddddddd', PingStatus: 'Online', PlatformType: 'Linux', PlatformName: 'Ubuntu', PlatformVersion: '24.04' }] });
    expect(accepted(await handler({ target: 'media', onto: 'i-0dddddddddddddddd', key: mediaKey(), dryRun: true })).instance).toMatchObject({ platformType: 'Linux', platform: 'Ubuntu 24.04' });
    expect(mutatingCalls()).toBe(0);
  });

  it('refuses an instance that does not carry the allowed tag, or is offline, sending nothing', async () => {
    ssmMock.on(DescribeInstanceInformationCommand).resolves({ InstanceInformationList: [] });
    expect(refusal(await handler({ target: 'orders-db', onto: 'i-0eeeeeeeeeeeeeeee' })).message).toMatch(
      /onto: i-0eeeeeeeeeeeeeeee is not a managed instance carrying tag backup-kit:restore-into=orders-db: .*restore instance policy of 'orders-db'/,
    );
    ssmMock.on(DescribeInstanceInformationCommand).resolves({ InstanceInformationList: [{ InstanceId: 'i-0eeeeeeeeeeeeeeee', PingStatus: 'ConnectionLost' }] });
    expect(refusal(await handler({ target: 'orders-db', onto: 'i-0eeeeeeeeeeeeeeee' })).message).toMatch(/^onto: i-0eeeeeeeeeeeeeeee is ConnectionLost in SSM/);
    expect(mutatingCalls()).toBe(0);
  });
});

describe('restore function: where a scratch copy may go', () => {
  /** A stored backup of a file target: its manifest, for the function to read. */
  function fileBackup(target: string, kind: 'files' | 'sqlite'): string {
    const key = backupKey('daily', target, kind, at('2026-11-20T02:00:00Z'));
    s3Mock.on(GetObjectCommand, { Key: manifestKeyFor(key) }).callsFake(() => ({
      Body: body(manifest(key, { target, kind, format: kind === 'files' ? 'tar' : 'sqlite', database: undefined, files: kind === 'files' ? { fileCount: 3, totalBytes: 99 } : undefined })),
    }));
    return key;
  }

  it('refuses a scratch path outside the target\'s scratch root (a root-owned file anywhere), sending nothing', async () => {
    // WHEN a console event asks to write the backup of a SQLite target into /etc
    const answer = refusal(await handler({ target: 'repairs-sqlite', scratchPath: '/etc/sudoers.d/restore' }));
    // THEN it is refused, naming the field and the root, and nothing is read or sent
    expect(answer.error).toBe('RequestRejected');
    expect(answer.message).toMatch(/^scratchPath: '\/etc\/sudoers\.d\/restore' is not inside the scratch root \/srv\/restores\/repairs of 'repairs-sqlite'/);
    expect(ssmMock.calls()).toHaveLength(0);
    expect(s3Mock.calls()).toHaveLength(0);
  });

  it.each([
    ['/var/tmp/backup-kit-restore/media/../../../etc/cron.d/backup', "must not contain '.' or '..' segments"],
    ['/var/tmp/backup-kit-restore/media//etc', "must not contain '//'"],
    ['/var/tmp/backup-kit-restore/media/./x', "must not contain '.' or '..' segments"],
  ])('refuses %s, whose segments would walk around the check', async (scratchPath, reason) => {
    const answer = refusal(await handler({ target: 'media', scratchPath }));
    expect(answer.error).toBe('InvalidEvent');
    expect(answer.message).toContain(`scratchPath: ${reason}`);
    expect(ssmMock.calls()).toHaveLength(0);
  });

  it.each([
    ['the scratch root itself', '/var/tmp/backup-kit-restore/media', /is not inside the scratch root/],
    ["another target's scratch root", '/srv/restores/repairs/media-copy', /is not inside the scratch root \/var\/tmp\/backup-kit-restore\/media/],
    ['a web root', '/var/www/html/media', /is not inside the scratch root/],
  ])('refuses %s', async (_what, scratchPath, message) => {
    expect(refusal(await handler({ target: 'media', scratchPath })).message).toMatch(message);
    expect(ssmMock.calls()).toHaveLength(0);
  });

  it('sends the scratch root along, so that restore.sh checks the path again on the instance', async () => {
    ssmMock.on(DescribeInstanceInformationCommand).resolves({ InstanceInformationList: [{ InstanceId: 'i-0123456789abcdef0', PingStatus: 'Online' }] });
    const answer = accepted(await handler({ target: 'media', scratchPath: '/var/tmp/backup-kit-restore/media/check', key: fileBackup('media', 'files') }));
    expect(answer.whatWouldChange.join('\n')).toMatch(/writes the restored directory to \/var\/tmp\/backup-kit-restore\/media\/check .*readable by root only/);
    expect(ssmMock).toReceiveCommandWith(SendCommandCommand, {
      Parameters: expect.objectContaining({ scratchPath: ['/var/tmp/backup-kit-restore/media/check'], scratchRoot: ['/var/tmp/backup-kit-restore/media'] }),
    });
  });

  it('puts the default scratch copy of a file target inside its scratch root, not beside the live data', async () => {
    const answer = accepted(await handler({ target: 'repairs-sqlite', key: fileBackup('repairs-sqlite', 'sqlite'), dryRun: true }));
    expect(answer.whatWouldChange.join('\n')).toMatch(/writes the restored file to \/srv\/restores\/repairs\/repairs\.db\.restore-<UTC stamp of the run> on i-0aaaaaaaaaaaaaaaa/);
  });

  it.each([
    ['postgres', /a system database of postgres/],
    ['Template1', /a system database of postgres/],
    ['orders', /the live database of 'orders-db'/],
    ['LEDGER', /the database of target 'ledger-db'/],
  ])('refuses the scratch database name %s, sending nothing', async (scratchName, reason) => {
    const answer = refusal(await handler({ target: 'orders-db', scratchName }));
    expect(answer.message).toMatch(/^scratchName: /);
    expect(answer.message).toMatch(reason);
    expect(ssmMock.calls()).toHaveLength(0);
  });

  it("tells restore.sh the other targets' databases, which it refuses as scratch names too", async () => {
    accepted(await handler({ target: 'orders-db', scratchName: 'orders_check' }));
    expect(ssmMock).toReceiveCommandWith(SendCommandCommand, { Parameters: expect.objectContaining({ protectedDatabases: ['ledger'] }) });
  });
});

describe('restore function: exactly the verified versions', () => {
  it('sends the versions and SHA-256 the verdict pinned, so the instance reads exactly what was verified', async () => {
    accepted(await handler({ target: 'orders-db' }));
    expect(ssmMock).toReceiveCommandWith(SendCommandCommand, {
      Parameters: expect.objectContaining({ key: [GOOD], keyVersionId: [FIRST], manifestVersionId: [MANIFEST_FIRST], expectedSha256: ['a'.repeat(64)] }),
    });
  });

  it('a backup written over after it was verified still restores the verified version, and the plan says it was written over', async () => {
    // GIVEN later versions of GOOD and of its manifest, written by a compromised instance
    s3Mock.on(ListObjectVersionsCommand, { Prefix: GOOD }).resolves(versionsOf(GOOD, 2));
    // WHEN the newest verified backup is restored
    const answer = accepted(await handler({ target: 'orders-db', dryRun: true }));
    // THEN the verified versions are pinned, and the answer names what was written over them
    expect(answer.backup).toMatchObject({ key: GOOD, pinned: { versionId: FIRST, manifestVersionId: MANIFEST_FIRST, from: 'verdict', overwritten: expect.stringMatching(/the backup key holds 3 versions and the manifest key holds 3 versions/) } });
    expect(answer.whatWouldChange[0]).toMatch(/downloads version first\+version\/1 of the backup and version manifest=first\.1 of its manifest \(never a later one/);
    expect(s3Mock).toReceiveCommandWith(GetObjectCommand, { Key: manifestKeyFor(GOOD), VersionId: MANIFEST_FIRST });
  });

  it('an unverified key given by hand restores the first version of each, not what was written over it', async () => {
    s3Mock.on(ListObjectsV2Command, { Prefix: `verdicts/${OLD}/` }).resolves({});
    s3Mock.on(ListObjectVersionsCommand, { Prefix: OLD }).resolves(versionsOf(OLD, 1));
    const answer = accepted(await handler({ target: 'orders-db', key: OLD }));
    expect(answer.backup).toMatchObject({ verification: 'not verified', pinned: { versionId: FIRST, manifestVersionId: MANIFEST_FIRST, from: 'first version' } });
    expect(ssmMock).toReceiveCommandWith(SendCommandCommand, { Parameters: expect.objectContaining({ keyVersionId: [FIRST], manifestVersionId: [MANIFEST_FIRST] }) });
  });

  it('refuses a verified backup whose pinned manifest no longer states the verified SHA-256', async () => {
    s3Mock.on(GetObjectCommand, { Key: manifestKeyFor(GOOD) }).callsFake(() => ({ Body: body(manifest(GOOD, { sha256: 'b'.repeat(64) })) }));
    expect(refusal(await handler({ target: 'orders-db', key: GOOD })).message).toMatch(/does not state the SHA-256 that was verified/);
    expect(mutatingCalls()).toBe(0);
  });

  it('a rebuild event goes to the rebuild: refusals name its fields, and a restore field in it is refused', async () => {
    ssmMock.on(DescribeInstanceInformationCommand).resolves({ InstanceInformationList: [{ InstanceId: 'i-0dddddddddddddddd', PingStatus: 'Online', PlatformType: 'Linux' }] });
    expect(refusal(await handler({ rebuild: 'web', onto: 'i-0dddddddddddddddd', dryRun: true }))).toMatchObject({ field: 'rebuild', reason: expect.stringMatching(/not a configured server \(restore.servers: orders-server\)/) });
    expect(refusal(await handler({ rebuild: 'orders-server', target: 'media', onto: 'i-0dddddddddddddddd', dryRun: true }))).toMatchObject({ error: 'InvalidEvent' });
    // orders-db's newest backup failed verification: the refusal names the key that would choose the verified one
    expect(refusal(await handler({ rebuild: 'orders-server', onto: 'i-0dddddddddddddddd', dryRun: true }))).toMatchObject({ field: 'keys.orders-db', reason: expect.stringMatching(/failed verification/) });
    // media has no backup at all here: the refusal names the field that would choose one
    expect(refusal(await handler({ rebuild: 'orders-server', onto: 'i-0dddddddddddddddd', keys: { 'orders-db': GOOD }, dryRun: true }))).toMatchObject({
      field: 'keys.media',
      reason: expect.stringMatching(/no verified backup of 'media'/),
    });
    expect(mutatingCalls()).toBe(0);
  });

  it('from a replica (the DR region): a verdict about the primary bucket counts only when it names this bucket as the replica it found', async () => {
    const about = (key: string, replica: string | undefined) => JSON.stringify({ ...JSON.parse(verdict(key, key !== BAD)), bucket: 'primary-backups', ...(replica ? { replicaBucket: replica } : {}) });
    for (const key of [OLD, GOOD, BAD, WEEKLY]) s3Mock.on(GetObjectCommand, { Key: verdictKeyOf(key) }).callsFake(() => ({ Body: body(about(key, undefined)) }));
    expect(refusal(await handler({ target: 'orders-db', dryRun: true })).message).toMatch(/no verified backup of 'orders-db'/);
    for (const key of [OLD, GOOD, BAD, WEEKLY]) s3Mock.on(GetObjectCommand, { Key: verdictKeyOf(key) }).callsFake(() => ({ Body: body(about(key, 'backups')) }));
    expect(accepted(await handler({ target: 'orders-db', dryRun: true })).backup).toMatchObject({ key: GOOD, how: 'newest verified', pinned: { versionId: FIRST, from: 'verdict' } });
  });

  it('a scheduled rebuild drill that cannot start fails the invocation (its dead-letter alarm says so), sending nothing', async () => {
    await expect(handler({ rebuild: 'web', onto: 'i-0dddddddddddddddd', drill: true, requestedBy: 'monthly rebuild drill' })).rejects.toThrow(
      /rebuild drill of 'web' not started: rebuild: 'web' is not a configured server/,
    );
    expect(mutatingCalls()).toBe(0);
  });
});
