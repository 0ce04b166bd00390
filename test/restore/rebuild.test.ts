import { GetObjectCommand, HeadObjectCommand, ListObjectVersionsCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import {
  DescribeDocumentCommand,
  DescribeInstanceInformationCommand,
  GetCommandInvocationCommand,
  GetDocumentCommand,
  ListCommandsCommand,
  SSMClient,
  SendCommandCommand,
} from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { backupKey, manifestKeyFor, verdictKeyFor } from '../../contracts/manifest';
import { parseRebuildEvent, rebuildRecordSchema, type RebuildEventInput, type RebuildRecord } from '../../contracts/rebuild';
import { drillRecordKey, type RestoreTarget } from '../../contracts/restore-command';
import { InvalidEventError, RequestRejectedError } from '../../contracts/errors';
import { startRebuild } from '../../lambda/restore/rebuild';
import { recordRestoreResult, type RestoreResultDeps } from '../../lambda/restore-result/core';
import type { Logger, Metrics } from '../../lambda/shared/powertools';
import type { RestoreJobDeps } from '../../lambda/shared/restore-job';

/** Rebuilding a lost server: the plan, the refusals, and the steps the result function sends one after another. */

const s3Mock = mockClient(S3Client);
const ssmMock = mockClient(SSMClient);
const snsMock = mockClient(SNSClient);

const silent = { info: vi.fn(), warn: vi.fn(), error: vi.fn(), debug: vi.fn() } as unknown as Logger;
const noMetrics = { addDimensions: () => undefined, addMetric: () => undefined, publishStoredMetrics: () => undefined } as unknown as Metrics;
const body = (text: string) => ({ transformToString: async () => text }) as never;
const NEW_SERVER = 'i-0dddddddddddddddd';
const DOCUMENT = { schemaVersion: '2.2', description: 'restore' };
const DOCUMENT_SHA256 = require('node:crypto').createHash('sha256').update(JSON.stringify({ description: 'restore', schemaVersion: '2.2' })).digest('hex') as string;

const TARGETS: RestoreTarget[] = [
  {
    backup: { name: 'repairs-media', kind: 'files', instances: { instanceIds: ['i-0aaaaaaaaaaaaaaaa'] }, tiers: ['daily'], path: '/srv/repairs/media', executionTimeoutSeconds: 3600, maxConcurrency: '1', maxErrors: '100%' },
    restore: { scratchRoot: '/var/tmp/backup-kit-restore/repairs-media', onto: { instanceIds: [NEW_SERVER] }, drill: true, probes: [] },
  },
  {
    backup: {
      name: 'repairs-db',
      kind: 'postgres',
      instances: { instanceIds: ['i-0aaaaaaaaaaaaaaaa'] },
      tiers: ['daily'],
      database: { host: '127.0.0.1', port: 5432, name: 'repairs', user: 'backup', password: { ssmParameter: '/repairs/db-password' } },
      executionTimeoutSeconds: 7200,
      maxConcurrency: '1',
      maxErrors: '100%',
    },
    restore: { onto: { tag: { key: 'backup-kit:restore-into', value: 'repairs' } }, drill: true, probes: [] },
  },
  {
    backup: { name: 'ledger', kind: 'sqlite', instances: { instanceIds: ['i-0aaaaaaaaaaaaaaaa'] }, tiers: ['daily'], path: '/srv/ledger.db', executionTimeoutSeconds: 3600, maxConcurrency: '1', maxErrors: '100%' },
    restore: { scratchRoot: '/var/tmp/backup-kit-restore/ledger', drill: true, probes: [] },
  },
];

const at = (iso: string) => new Date(iso);
const KEYS = {
  'repairs-db': { good: backupKey('daily', 'repairs-db', 'postgres', at('2026-11-20T02:00:00Z')), failed: backupKey('daily', 'repairs-db', 'postgres', at('2026-11-19T02:00:00Z')) },
  'repairs-media': { good: backupKey('daily', 'repairs-media', 'files', at('2026-11-20T03:00:00Z')), failed: backupKey('daily', 'repairs-media', 'files', at('2026-11-19T03:00:00Z')) },
} as const;
const VERIFIED_AT = new Date('2026-11-21T05:00:00Z');

function manifest(key: string, target: string, kind: string): string {
  return JSON.stringify({
    manifestVersion: 1,
    target,
    kind,
    tier: 'daily',
    instance: 'i-0aaaaaaaaaaaaaaaa',
    bucket: 'backups',
    key,
    startedAt: '2026-11-20T02:00:00Z',
    finishedAt: '2026-11-20T02:03:00Z',
    bytes: kind === 'files' ? 5000 : 1234,
    sha256: 'a'.repeat(64),
    compression: 'gzip',
    format: kind === 'files' ? 'tar' : 'pg_custom',
    retainUntil: '2026-12-20T02:00:00Z',
    tools: {},
  });
}

function verdict(key: string, target: string, kind: string, passed: boolean): string {
  return JSON.stringify({
    verdictVersion: 2,
    bucket: 'backups',
    key,
    versionId: 'v1',
    manifestVersionId: 'm1',
    sha256: 'a'.repeat(64),
    target,
    tier: 'daily',
    kind,
    verifiedAt: VERIFIED_AT.toISOString(),
    backupAt: '2026-11-20T02:03:00Z',
    passed,
    checks: [],
    reasons: passed ? [] : ['integrity: sha256 differs'],
    figures: {},
  });
}

/** The rebuild records written, by key: the newest body of each. */
let records: Map<string, string>;
let commandCount: number;
/** The preflight answer per target (default: ready). */
let preflightOf: Record<string, { ready: boolean; checks: { name: string; status: string; detail: string }[] }>;
const READY = { ready: true, checks: [{ name: 'connect', status: 'passed', detail: 'connected' }] };

/** A backup of repairs-db newer than the good one, whose verification failed (with `newerFailed`). */
const NEWER_FAILED = backupKey('daily', 'repairs-db', 'postgres', at('2026-11-21T02:00:00Z'));

function backups(options: { readonly dbVerified?: boolean; readonly newerFailed?: boolean } = {}): void {
  for (const [target, keys] of Object.entries(KEYS)) {
    const kind = target === 'repairs-db' ? 'postgres' : 'files';
    const listed = [keys.good, keys.failed, ...(options.newerFailed && target === 'repairs-db' ? [NEWER_FAILED] : [])];
    s3Mock.on(ListObjectsV2Command, { Prefix: `daily/${target}/` }).resolves({ Contents: listed.flatMap((key) => [{ Key: key, Size: 1 }, { Key: manifestKeyFor(key), Size: 1 }]) });
    s3Mock.on(ListObjectsV2Command, { Prefix: `verdicts/daily/${target}/` }).resolves({ Contents: listed.map((key) => ({ Key: verdictKeyFor(key, VERIFIED_AT), Size: 1 })) });
    for (const key of listed) {
      const passed = key === keys.good && (target !== 'repairs-db' || options.dbVerified !== false);
      s3Mock.on(ListObjectsV2Command, { Prefix: `verdicts/${key}/` }).resolves({ Contents: [{ Key: verdictKeyFor(key, VERIFIED_AT), Size: 1 }] });
      s3Mock.on(GetObjectCommand, { Key: verdictKeyFor(key, VERIFIED_AT) }).callsFake(() => ({ Body: body(verdict(key, target, kind, passed)) }));
      s3Mock.on(GetObjectCommand, { Key: manifestKeyFor(key) }).callsFake(() => ({ Body: body(manifest(key, target, kind)) }));
    }
  }
}

beforeEach(() => {
  s3Mock.reset();
  ssmMock.reset();
  snsMock.reset();
  records = new Map();
  commandCount = 0;
  preflightOf = {};
  clock = new Date('2026-11-21T10:00:00Z');
  s3Mock.on(ListObjectsV2Command).resolves({});
  s3Mock.on(ListObjectVersionsCommand).callsFake((input: { Prefix: string }) => ({
    Versions: [
      { Key: input.Prefix, VersionId: 'v1', LastModified: new Date('2026-11-20T02:03:00Z') },
      { Key: manifestKeyFor(input.Prefix), VersionId: 'm1', LastModified: new Date('2026-11-20T02:03:00Z') },
    ],
  }));
  s3Mock.on(HeadObjectCommand).resolves({ StorageClass: 'STANDARD' });
  s3Mock.on(PutObjectCommand).callsFake((input: { Key: string; Body: string; ChecksumAlgorithm?: string; IfNoneMatch?: string }) => {
    // The bucket is Object Locked: S3 refuses a write without a checksum.
    if (input.ChecksumAlgorithm === undefined) throw Object.assign(new Error('Content-MD5 or x-amz-checksum required'), { name: 'InvalidRequest' });
    if (input.IfNoneMatch === '*' && records.has(input.Key)) throw Object.assign(new Error('At least one of the pre-conditions you specified did not hold'), { name: 'PreconditionFailed' });
    records.set(input.Key, input.Body);
    return {};
  });
  s3Mock.on(GetObjectCommand).callsFake((input: { Key: string }) => {
    const text = records.get(input.Key);
    if (text === undefined) throw Object.assign(new Error('no such key'), { name: 'NoSuchKey' });
    return { Body: body(text) };
  });
  backups();
  ssmMock.on(DescribeInstanceInformationCommand).callsFake((input: { Filters: { Key: string; Values: string[] }[] }) => {
    // The new server carries the database target's tag.
    const tag = input.Filters.find((filter) => filter.Key.startsWith('tag:'));
    const matches = tag === undefined || (tag.Key === 'tag:backup-kit:restore-into' && tag.Values.includes('repairs'));
    return { InstanceInformationList: matches ? [{ InstanceId: NEW_SERVER, PingStatus: 'Online', PlatformType: 'Linux', PlatformName: 'Ubuntu', PlatformVersion: '24.04' }] : [] };
  });
  ssmMock.on(DescribeDocumentCommand).resolves({ Document: { DefaultVersion: '3' } });
  ssmMock.on(GetDocumentCommand).resolves({ Content: JSON.stringify(DOCUMENT) });
  const checks = new Map<string, string>();
  ssmMock.on(SendCommandCommand).callsFake((input: { Parameters: Record<string, string[]> }) => {
    if (input.Parameters.mode?.[0] !== 'check') return { Command: { CommandId: `cmd-${++commandCount}` } };
    const id = `check-${checks.size + 1}`;
    checks.set(id, input.Parameters.target?.[0] ?? '');
    return { Command: { CommandId: id } };
  });
  ssmMock.on(GetCommandInvocationCommand).callsFake((input: { CommandId: string }) => {
    const target = checks.get(input.CommandId) ?? '';
    const answer = preflightOf[target] ?? READY;
    return { Status: 'Success', ResponseCode: 0, StandardOutputContent: `PREFLIGHT_RESULT ${JSON.stringify({ target, kind: 'x', key: 'k', ...answer })}\n` };
  });
  snsMock.on(PublishCommand).resolves({ MessageId: 'msg-1' });
});

let clock: Date;

function restoreDeps(servers: Record<string, string[]> = { 'rs-systems': ['repairs-media', 'repairs-db'] }): RestoreJobDeps {
  return {
    s3: new S3Client({}),
    ssm: new SSMClient({}),
    logger: silent,
    now: () => clock,
    retry: { sleep: async () => undefined, random: () => 0 },
    settings: {
      region: 'eu-west-1',
      documentName: 'BackupKit-test-InstanceRestore',
      documentSha256: DOCUMENT_SHA256,
      site: { bucket: 'backups', kmsKeyArn: 'arn:aws:kms:eu-west-1:111122223333:key/abc', region: 'eu-west-1', safetyTier: 'predeploy', safetyRetentionDays: 7, safetyObjectLockMode: 'GOVERNANCE' },
      targets: TARGETS,
      commandLogGroupName: 'restore-output',
      deliveryTimeoutSeconds: 600,
      servers,
    },
  };
}

function resultDeps(): RestoreResultDeps {
  return {
    ssm: new SSMClient({}),
    sns: new SNSClient({}),
    s3: new S3Client({}),
    logger: silent,
    restoreMetrics: noMetrics,
    drillMetrics: noMetrics,
    settings: { region: 'eu-west-1', documentName: 'BackupKit-test-InstanceRestore', alertTopicArn: 'arn:aws:sns:eu-west-1:111122223333:alerts', commandLogGroupName: 'restore-output', bucket: 'backups' },
    now: () => clock,
    retry: { sleep: async () => undefined, random: () => 0 },
  };
}

const rebuild = (event: RebuildEventInput, deps = restoreDeps()) => startRebuild(parseRebuildEvent(event), deps);
/** The restores sent (not the read-only preflight checks). */
const sends = () => ssmMock.commandCalls(SendCommandCommand).filter((call) => call.args[0].input.Parameters?.mode?.[0] !== 'check');
const mutations = () => sends().length + s3Mock.commandCalls(PutObjectCommand).length;

async function refused(call: () => Promise<unknown>): Promise<string> {
  const error = await Promise.resolve().then(call).then(
    () => undefined,
    (caught: unknown) => caught,
  );
  if (!(error instanceof RequestRejectedError) && !(error instanceof InvalidEventError)) throw new Error(`not refused: ${String(error)}`);
  return error.message;
}

function theRecord(): RebuildRecord {
  const [text] = [...records.entries()].filter(([key]) => key.startsWith('rebuilds/')).map(([, body]) => body);
  return rebuildRecordSchema.parse(JSON.parse(text ?? '{}'));
}

/** The Run Command status event and invocation of a finished step, as the result function reads them. */
function finish(commandId: string, outcome: 'Success' | 'Failed', target: string, comment: string, drill?: { passed: boolean }): Parameters<typeof recordRestoreResult>[0] {
  const kind = target === 'repairs-db' ? 'postgres' : 'files';
  ssmMock.on(ListCommandsCommand, { CommandId: commandId }).resolves({
    Commands: [{ CommandId: commandId, Comment: comment, RequestedDateTime: clock, Parameters: { target: [target], kind: [kind], mode: [drill ? 'scratch' : 'replace'], drill: [drill ? '1' : '0'] } }],
  });
  const line = `RESTORE_RESULT ${JSON.stringify({ target, kind, mode: drill ? 'scratch' : 'replace', key: 'k', bytes: 1, sha256: 'a'.repeat(64), restoredTo: `${target} restored`, previousDataKeptAs: null, safetyBackupKey: null, restoreSeconds: 290, durationSeconds: 300 })}`;
  const checks = drill?.passed === false ? [{ name: 'rowCounts', status: 'failed', detail: 'orders: 9 rows, the manifest says 10' }] : [{ name: 'rowCounts', status: 'passed', detail: 'as in the manifest' }];
  const drillLine = drill ? `\nDRILL_RESULT ${JSON.stringify({ target, kind, key: 'k', bytes: 1, passed: drill.passed, restoreSeconds: 295, checks })}` : '';
  ssmMock.on(GetCommandInvocationCommand, { CommandId: commandId }).resolves(
    outcome === 'Success' ? { Status: 'Success', ResponseCode: 0, StandardOutputContent: `${line}${drillLine}\n` } : { Status: 'Failed', StatusDetails: 'Failed', ResponseCode: drill ? 9 : 7, StandardOutputContent: `${line}${drillLine}\n`, StandardErrorContent: 'restore ERROR: REFUSED: the backup does not match its manifest\n' },
  );
  return {
    'detail-type': 'EC2 Command Invocation Status-change Notification',
    source: 'aws.ssm',
    detail: { 'command-id': commandId, 'document-name': 'BackupKit-test-InstanceRestore', 'instance-id': NEW_SERVER, status: outcome },
  } as Parameters<typeof recordRestoreResult>[0];
}

describe('rebuild a server: the plan', () => {
  it('dry run: every target of the server, databases first, each with its newest verified backup, its age and size, and what would change; sends and writes nothing', async () => {
    const answer = await rebuild({ rebuild: 'rs-systems', onto: NEW_SERVER, mode: 'replace', dryRun: true });
    expect(answer.outcome).toBe('dry-run');
    expect(answer.steps.map((step) => step.target)).toEqual(['repairs-db', 'repairs-media']);
    expect(answer.steps[0]?.backup).toMatchObject({ key: KEYS['repairs-db'].good, how: 'newest verified', verification: { passed: true }, bytes: 1234, ageHours: 32 });
    expect(answer.steps[1]?.backup).toMatchObject({ key: KEYS['repairs-media'].good, bytes: 5000 });
    expect(answer.totalBytes).toBe(6234);
    expect(answer.onto).toMatchObject({ instanceId: NEW_SERVER, onto: true, platform: 'Ubuntu 24.04' });
    expect(answer.steps[0]?.whatWouldChange.join('\n')).toMatch(/does not exist on i-0dddddddddddddddd \(a rebuilt server\), there is nothing to keep/);
    expect(answer.next).toContain('"confirm": "rs-systems"');
    expect(answer.next).toContain(`"repairs-db": "${KEYS['repairs-db'].good}"`);
    expect(mutations()).toBe(0);
  });

  it('refuses, naming the field, with nothing sent or written: an unknown server, an instance a target may not go to, a key of another target, replace without confirm, no verified backup', async () => {
    expect(await refused(() => rebuild({ rebuild: 'web-1', onto: NEW_SERVER, dryRun: true }))).toMatch(/^rebuild: 'web-1' is not a configured server \(restore.servers: rs-systems\)/);
    expect(await refused(() => rebuild({ rebuild: 'rs-systems', onto: 'i-0eeeeeeeeeeeeeeee', dryRun: true }))).toMatch(/^onto: i-0eeeeeeeeeeeeeeee is not an instance 'repairs-media' may be restored onto/);
    const sqliteServer = restoreDeps({ 'rs-systems': ['repairs-db', 'ledger'] });
    expect(await refused(() => rebuild({ rebuild: 'rs-systems', onto: NEW_SERVER, dryRun: true }, sqliteServer))).toMatch(/^onto: 'ledger' may be restored only onto its own instances/);
    expect(await refused(() => rebuild({ rebuild: 'rs-systems', onto: NEW_SERVER, keys: { ledger: backupKey('daily', 'ledger', 'sqlite', clock) }, dryRun: true }))).toMatch(
      /^keys.ledger: 'ledger' is not a target of server 'rs-systems'/,
    );
    expect(await refused(() => rebuild({ rebuild: 'rs-systems', onto: NEW_SERVER, mode: 'replace', confirm: 'repairs-db' }))).toMatch(/confirm: replace puts every target's backup in place/);
    // a key of another target, and malformed names, instances and keys
    expect(await refused(() => rebuild({ rebuild: 'rs-systems', onto: NEW_SERVER, keys: { 'repairs-db': KEYS['repairs-media'].good }, dryRun: true }))).toMatch(
      /^keys.repairs-db: target 'repairs-db': .* is not a postgres backup of target 'repairs-db'/,
    );
    for (const bad of [
      { rebuild: '../rs-systems', onto: NEW_SERVER },
      { rebuild: 'rs-systems', onto: 'i-0dddddddddddddddd; rm -rf /' },
      { rebuild: 'rs-systems', onto: NEW_SERVER, keys: { 'repairs-db': 'daily/repairs-db/../../etc/passwd' } },
      { rebuild: 'rs-systems', onto: NEW_SERVER, keys: { '../x': KEYS['repairs-db'].good } },
      { rebuild: 'rs-systems', onto: NEW_SERVER, target: 'repairs-db' },
    ]) {
      expect(await refused(() => rebuild({ ...bad, dryRun: true } as never))).toMatch(/^invalid event/);
    }
    backups({ dbVerified: false });
    expect(await refused(() => rebuild({ rebuild: 'rs-systems', onto: NEW_SERVER, dryRun: true }))).toMatch(/^keys.repairs-db: target 'repairs-db': no verified backup of 'repairs-db'/);
    expect(mutations()).toBe(0);
  });

  it('a target whose newest backup failed verification is refused (a larger data loss than planned), unless its key is given', async () => {
    backups({ newerFailed: true });
    expect(await refused(() => rebuild({ rebuild: 'rs-systems', onto: NEW_SERVER, dryRun: true }))).toMatch(
      new RegExp(`^keys.repairs-db: the newest backup of 'repairs-db', ${NEWER_FAILED.replace(/[.]/g, '\\.')}, failed verification \\(integrity: sha256 differs\\); the newest verified one is .*give "keys": \\{ "repairs-db": "${KEYS['repairs-db'].good.replace(/[.]/g, '\\.')}" \\}`),
    );
    const answer = await rebuild({ rebuild: 'rs-systems', onto: NEW_SERVER, keys: { 'repairs-db': KEYS['repairs-db'].good }, dryRun: true });
    expect(answer.steps[0]?.backup.key).toBe(KEYS['repairs-db'].good);
    expect(mutations()).toBe(0);
  });

  it('a given key stands for a target without a verified backup', async () => {
    backups({ dbVerified: false });
    const answer = await rebuild({ rebuild: 'rs-systems', onto: NEW_SERVER, keys: { 'repairs-db': KEYS['repairs-db'].failed }, dryRun: true });
    expect(answer.steps[0]?.backup).toMatchObject({ key: KEYS['repairs-db'].failed, how: 'given key', verification: { passed: false } });
  });
});

describe('rebuild a server: the preflight on the new instance', () => {
  it('the dry run checks each target on the new instance with restore.sh in check mode (pinned to the chosen backup), and shows what it found', async () => {
    const answer = await rebuild({ rebuild: 'rs-systems', onto: NEW_SERVER, mode: 'replace', dryRun: true });
    const checks = ssmMock.commandCalls(SendCommandCommand).map((call) => call.args[0].input);
    expect(checks.map((input) => [input.InstanceIds, input.Parameters?.mode, input.Parameters?.target, input.Parameters?.key, input.Comment])).toEqual([
      [[NEW_SERVER], ['check'], ['repairs-db'], [KEYS['repairs-db'].good], 'backup-kit preflight of repairs-db'],
      [[NEW_SERVER], ['check'], ['repairs-media'], [KEYS['repairs-media'].good], 'backup-kit preflight of repairs-media'],
    ]);
    expect(answer.steps.map((step) => [step.target, step.preflight?.status])).toEqual([
      ['repairs-db', 'ready'],
      ['repairs-media', 'ready'],
    ]);
    expect(answer.next).toMatch(/^Nothing was changed \(only the read-only checks ran on the instance\)\. To rebuild/);
  });

  it('what the new instance lacks is named in the dry run, and the real run is refused (nothing restored, nothing recorded)', async () => {
    preflightOf['repairs-db'] = {
      ready: false,
      checks: [{ name: 'connect', status: 'failed', detail: 'cannot connect to PostgreSQL at 127.0.0.1:5432 as backup: install and start PostgreSQL with the target\'s user and password first' }],
    };
    const answer = await rebuild({ rebuild: 'rs-systems', onto: NEW_SERVER, mode: 'replace', dryRun: true });
    expect(answer.steps[0]?.preflight?.status).toBe('not ready');
    expect(answer.next).toMatch(/First fix on i-0dddddddddddddddd: repairs-db: connect: cannot connect to PostgreSQL at 127\.0\.0\.1:5432 as backup: install and start PostgreSQL/);
    expect(await refused(() => rebuild({ rebuild: 'rs-systems', onto: NEW_SERVER, mode: 'replace', confirm: 'rs-systems' }))).toMatch(
      /^onto: i-0dddddddddddddddd is not ready: repairs-db: connect: cannot connect .*Only the read-only checks ran; nothing was restored/,
    );
    expect(mutations()).toBe(0);
  });

  it('a check that cannot read the backups says which policies to attach; one the instance never runs says so after a minute', async () => {
    ssmMock.on(GetCommandInvocationCommand).resolves({ Status: 'Failed', ResponseCode: 5, StandardErrorContent: '2026-11-21T10:00:00Z restore ERROR: stage fetch failed (exit 5): cannot fetch version m1 of the manifest\n' });
    const cannotRead = await rebuild({ rebuild: 'rs-systems', onto: NEW_SERVER, dryRun: true });
    expect(cannotRead.steps[0]?.preflight).toMatchObject({
      status: 'failed',
      detail: expect.stringMatching(/^the check stopped \(exit 5\): cannot fetch version m1 of the manifest; the instance cannot read .* RestorePolicy-repairs-db and InstancePolicy-repairs-db/),
    });
    ssmMock.on(GetCommandInvocationCommand).resolves({ Status: 'InProgress' });
    const silent = await rebuild({ rebuild: 'rs-systems', onto: NEW_SERVER, dryRun: true });
    expect(silent.steps.map((step) => step.preflight?.status)).toEqual(['no answer', 'no answer']);
    expect(silent.steps[0]?.preflight?.detail).toMatch(/did not run the check within 60 s/);
  });
});

describe('rebuild a server: the run', () => {
  it('records the plan, sends the first target to the new server only, and the result function sends the next when it succeeds; one alert at the end with each result and the total time', async () => {
    const started = await rebuild({ rebuild: 'rs-systems', onto: NEW_SERVER, mode: 'replace', confirm: 'rs-systems', requestedBy: 'jane' });
    expect(started).toMatchObject({ outcome: 'started', rebuildId: '20261121T100000Z', firstCommandId: 'cmd-1', record: 's3://backups/rebuilds/rs-systems/20261121T100000Z.json' });
    const first = sends()[0]?.args[0].input;
    expect(first).toMatchObject({ InstanceIds: [NEW_SERVER], DocumentVersion: '3', Comment: 'backup-kit rebuild rs-systems 20261121T100000Z 1/2' });
    expect(first?.Parameters).toMatchObject({ target: ['repairs-db'], mode: ['replace'], key: [KEYS['repairs-db'].good], keyVersionId: ['v1'], confirm: ['repairs-db'] });
    expect(theRecord().steps.map((step) => [step.target, step.status, step.commandId])).toEqual([
      ['repairs-db', 'running', 'cmd-1'],
      ['repairs-media', 'pending', undefined],
    ]);
    // AND the checks and the steps share one pinned document version: one look-up for the whole run
    expect(ssmMock.commandCalls(DescribeDocumentCommand)).toHaveLength(1);
    expect(ssmMock.commandCalls(SendCommandCommand).map((call) => call.args[0].input.DocumentVersion)).toEqual(['3', '3', '3']);

    // WHEN the database is restored, five minutes later
    clock = new Date('2026-11-21T10:05:00Z');
    const one = await recordRestoreResult(finish('cmd-1', 'Success', 'repairs-db', 'backup-kit rebuild rs-systems 20261121T100000Z 1/2'), resultDeps());
    // THEN the files are sent, exactly as pinned at the start; no alert yet
    expect(one).toMatchObject({ outcome: 'restore-succeeded', rebuild: { step: 1, finished: false } });
    const second = sends()[1]?.args[0].input;
    expect(second).toMatchObject({ InstanceIds: [NEW_SERVER], DocumentVersion: '3', Comment: 'backup-kit rebuild rs-systems 20261121T100000Z 2/2' });
    expect(second?.Parameters).toEqual(theRecord().steps[1]?.parameters);
    expect(second?.Parameters).toMatchObject({ target: ['repairs-media'], key: [KEYS['repairs-media'].good], confirm: ['repairs-media'] });
    expect(snsMock.commandCalls(PublishCommand)).toHaveLength(0);

    // WHEN the files are restored too
    clock = new Date('2026-11-21T10:12:00Z');
    const two = await recordRestoreResult(finish('cmd-2', 'Success', 'repairs-media', 'backup-kit rebuild rs-systems 20261121T100000Z 2/2'), resultDeps());
    expect(two).toMatchObject({ rebuild: { step: 2, finished: true, alertMessageId: 'msg-1' } });
    const alert = snsMock.commandCalls(PublishCommand)[0]?.args[0].input;
    expect(alert?.Subject).toBe(`backup-kit rebuild done: rs-systems onto ${NEW_SERVER} in 720 s (12 min)`);
    expect(alert?.Message).toMatch(/1\. repairs-db \(postgres\): succeeded in 300 s[\s\S]*restored into repairs-db restored[\s\S]*2\. repairs-media \(files\): succeeded/);
    expect(alert?.Message).toContain('by jane');
    expect(theRecord()).toMatchObject({ finishedAt: '2026-11-21T10:12:00.000Z' });
    expect(sends()).toHaveLength(2);
  });

  it('a retried result after the function stopped while sending the next target never sends it again: the rebuild ends and says where to look', async () => {
    await rebuild({ rebuild: 'rs-systems', onto: NEW_SERVER, mode: 'replace', confirm: 'rs-systems' });
    // GIVEN the function recorded step 1 done and step 2 'sending', then stopped before SendCommand returned
    const [key] = [...records.keys()].filter((candidate) => candidate.startsWith('rebuilds/'));
    const stopped = theRecord();
    records.set(key ?? '', JSON.stringify({ ...stopped, steps: [{ ...stopped.steps[0], status: 'succeeded' }, { ...stopped.steps[1], status: 'sending' }] }));
    // WHEN Lambda retries step 1's event
    const retried = await recordRestoreResult(finish('cmd-1', 'Success', 'repairs-db', 'backup-kit rebuild rs-systems 20261121T100000Z 1/2'), resultDeps());
    // THEN nothing is sent again, and the alert says the second target may or may not run
    expect(retried).toMatchObject({ rebuild: { finished: true } });
    expect(sends()).toHaveLength(1);
    expect(theRecord().steps.map((step) => step.status)).toEqual(['succeeded', 'failed']);
    const alert = snsMock.commandCalls(PublishCommand)[0]?.args[0].input;
    expect(alert?.Subject).toMatch(/rebuild FAILED: rs-systems/);
    expect(alert?.Message).toMatch(/its sending was interrupted, so it may or may not run: look in Run Command for "backup-kit rebuild rs-systems 20261121T100000Z 2\/2"/);
  });

  it('each send is recorded as sending first, then running with its command', async () => {
    const written: string[] = [];
    s3Mock.on(PutObjectCommand).callsFake((input: { Key: string; Body: string }) => {
      records.set(input.Key, input.Body);
      written.push((JSON.parse(input.Body) as RebuildRecord).steps.map((step) => step.status).join(','));
      return {};
    });
    await rebuild({ rebuild: 'rs-systems', onto: NEW_SERVER, mode: 'replace', confirm: 'rs-systems' });
    expect(written).toEqual(['pending,pending', 'sending,pending', 'running,pending']);
  });

  it('a second rebuild of the same server in the same second is refused: the first record stays, nothing more is sent', async () => {
    await rebuild({ rebuild: 'rs-systems', onto: NEW_SERVER, mode: 'replace', confirm: 'rs-systems' });
    expect(await refused(() => rebuild({ rebuild: 'rs-systems', onto: NEW_SERVER, mode: 'replace', confirm: 'rs-systems' }))).toMatch(/^rebuild: a rebuild of 'rs-systems' started at 2026-11-21T10:00:00.000Z already/);
    expect(sends()).toHaveLength(1);
    expect(theRecord().steps[0]).toMatchObject({ status: 'running', commandId: 'cmd-1' });
  });

  it('a failed target ends the rebuild: the targets after it are not sent, and the alert says which failed and why', async () => {
    await rebuild({ rebuild: 'rs-systems', onto: NEW_SERVER, mode: 'replace', confirm: 'rs-systems' });
    const outcome = await recordRestoreResult(finish('cmd-1', 'Failed', 'repairs-db', 'backup-kit rebuild rs-systems 20261121T100000Z 1/2'), resultDeps());
    expect(outcome).toMatchObject({ outcome: 'restore-failed', rebuild: { finished: true } });
    expect(sends()).toHaveLength(1);
    expect(theRecord().steps.map((step) => step.status)).toEqual(['failed', 'not run']);
    const alert = snsMock.commandCalls(PublishCommand)[0]?.args[0].input;
    expect(alert?.Subject).toBe(`backup-kit rebuild FAILED: rs-systems onto ${NEW_SERVER} (0 of 2 restored)`);
    expect(alert?.Message).toMatch(/repairs-db \(postgres\): failed[\s\S]*exit code 7 - [\s\S]*repairs-media \(files\): not run/);
  });

  it('a command the record did not send does not advance it (a comment alone proves nothing), nor does a repeated event', async () => {
    await rebuild({ rebuild: 'rs-systems', onto: NEW_SERVER, mode: 'replace', confirm: 'rs-systems' });
    const forged = await recordRestoreResult(finish('cmd-forged', 'Success', 'repairs-db', 'backup-kit rebuild rs-systems 20261121T100000Z 1/2'), resultDeps());
    expect(forged).toMatchObject({ rebuild: { ignored: expect.stringMatching(/step 1 of the record is command cmd-1, not cmd-forged/) } });
    expect(sends()).toHaveLength(1);
    await recordRestoreResult(finish('cmd-1', 'Success', 'repairs-db', 'backup-kit rebuild rs-systems 20261121T100000Z 1/2'), resultDeps());
    const again = await recordRestoreResult(finish('cmd-1', 'Success', 'repairs-db', 'backup-kit rebuild rs-systems 20261121T100000Z 1/2'), resultDeps());
    expect(again).toMatchObject({ rebuild: { ignored: 'step 1 is already succeeded' } });
    expect(sends()).toHaveLength(2);
  });
});

describe('rebuild drill (scheduled, onto a standby)', () => {
  it('each target is drilled on the standby (scratch, checked, removed), counts as its drill, and the next starts; one alert with the measured time', async () => {
    const started = await rebuild({ rebuild: 'rs-systems', onto: NEW_SERVER, drill: true, requestedBy: 'monthly rebuild drill' });
    expect(started.outcome).toBe('started');
    expect(sends()[0]?.args[0].input.Parameters).toMatchObject({ target: ['repairs-db'], mode: ['scratch'], drill: ['1'] });
    expect(theRecord()).toMatchObject({ drill: true, mode: 'scratch' });
    clock = new Date('2026-11-21T10:05:00Z');
    await recordRestoreResult(finish('cmd-1', 'Success', 'repairs-db', 'backup-kit rebuild rs-systems 20261121T100000Z 1/2', { passed: true }), resultDeps());
    // the drill of repairs-db is recorded as any drill, and repairs-media is sent
    expect(records.has(drillRecordKey('repairs-db'))).toBe(true);
    expect(sends()[1]?.args[0].input.Parameters).toMatchObject({ target: ['repairs-media'], mode: ['scratch'], drill: ['1'] });
    clock = new Date('2026-11-21T10:09:00Z');
    const last = await recordRestoreResult(finish('cmd-2', 'Success', 'repairs-media', 'backup-kit rebuild rs-systems 20261121T100000Z 2/2', { passed: true }), resultDeps());
    expect(last).toMatchObject({ outcome: 'drill-succeeded', rebuild: { finished: true } });
    const alert = snsMock.commandCalls(PublishCommand)[0]?.args[0].input;
    expect(alert?.Subject).toBe(`backup-kit rebuild drill done: rs-systems onto ${NEW_SERVER} in 540 s (9 min)`);
    expect(alert?.Message).toMatch(/scratch copies, checked against their manifests and removed/);
    expect(snsMock.commandCalls(PublishCommand)).toHaveLength(1);
  });

  it('a target whose drill checks fail ends the rebuild drill, and its one alert names the failed checks', async () => {
    await rebuild({ rebuild: 'rs-systems', onto: NEW_SERVER, drill: true });
    await recordRestoreResult(finish('cmd-1', 'Failed', 'repairs-db', 'backup-kit rebuild rs-systems 20261121T100000Z 1/2', { passed: false }), resultDeps());
    expect(sends()).toHaveLength(1);
    const alert = snsMock.commandCalls(PublishCommand)[0]?.args[0].input;
    expect(alert?.Subject).toBe(`backup-kit rebuild drill FAILED: rs-systems onto ${NEW_SERVER} (0 of 2 restored)`);
    expect(snsMock.commandCalls(PublishCommand)).toHaveLength(1);
    expect(theRecord().steps.map((step) => step.status)).toEqual(['failed', 'not run']);
  });

  it('a rebuild drill is scratch only', async () => {
    expect(await refused(() => rebuild({ rebuild: 'rs-systems', onto: NEW_SERVER, drill: true, mode: 'replace', confirm: 'rs-systems' }))).toMatch(/drill: a rebuild drill runs in mode 'scratch' only/);
  });
});
