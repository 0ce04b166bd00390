import { BackupClient, GetBackupSelectionCommand, ListRecoveryPointsByResourceCommand, ListRestoreJobsByProtectedResourceCommand } from '@aws-sdk/client-backup';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import { Template } from 'aws-cdk-lib/assertions';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { METRIC_NAMESPACE, METRICS } from '../../contracts/metric-catalog';
import { expectedSinceKey } from '../../contracts/manifest';
import { drillExpectedSinceKey, drillRecordKey } from '../../contracts/restore-command';
import { loadDrillSettings } from '../../lambda/drill/core';
import { reportDrills } from '../../lambda/drill/report';
import { reportRecoveryPointAges } from '../../lambda/managed-backup/ages';
import { parseManagedBackupSettings } from '../../contracts/managed-backup';
import { decodeConfiguredTargets } from '../../contracts/configured-targets';
import { planVerification, reportAges } from '../../lambda/verify/planner';
import { parseVerifySettings } from '../../contracts/verify-settings';
import { MotoServer } from '../support/moto';
import { TemplateResolver } from '../support/iam';
import { capturingMetrics, quietLogger, type EmittedMetric } from '../verify/helpers';
import { buildTestApp } from './app-fixture';

/**
 * A new deployment's first weeks, played against the alarms the jobs stack really defines: the
 * planner and drill functions run with the settings the template gives them, on an empty bucket
 * (through the S3 front), and every alarm is evaluated offline against what they publish. Quiet
 * until each first run is overdue, then loud.
 */

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
const { stacks } = buildTestApp();
const resolver = new TemplateResolver([stacks.storage, stacks.replicaStorage, stacks.jobs]);
const jobsTemplate = Template.fromStack(stacks.jobs).toJSON() as { Resources: Record<string, { Type: string; Properties?: Record<string, Json>; DependsOn?: string[] }> };

interface WatchedAlarm {
  readonly id: string;
  readonly metricName: string;
  readonly dimensions: Readonly<Record<string, string>>;
  readonly threshold: number;
  readonly comparison: string;
  readonly missingBreaches: boolean;
}

const alarms: WatchedAlarm[] = resolver.resourcesOf(stacks.jobs, 'AWS::CloudWatch::Alarm').flatMap(([id, raw]) => {
  const alarm = resolver.resolve(raw, stacks.jobs) as Record<string, Json>;
  if (alarm.Namespace !== METRIC_NAMESPACE) return [];
  const dimensions = Object.fromEntries(((alarm.Dimensions ?? []) as { Name: string; Value: string }[]).filter((d) => d.Name !== 'service').map((d) => [d.Name, d.Value]));
  return [{ id, metricName: String(alarm.MetricName), dimensions, threshold: Number(alarm.Threshold), comparison: String(alarm.ComparisonOperator), missingBreaches: alarm.TreatMissingData === 'breaching' }];
});

/** What CloudWatch would say of an alarm given the datapoints of one evaluation (the newest per series). */
function state(alarm: WatchedAlarm, published: readonly EmittedMetric[]): 'ALARM' | 'OK' {
  // CloudWatch matches the exact dimension set (the service dimension is checked by the metric contract test).
  const points = published.filter((point) => {
    const dimensions = Object.entries(point.dimensions).filter(([name]) => name !== 'service');
    return point.name === alarm.metricName && dimensions.length === Object.keys(alarm.dimensions).length && dimensions.every(([name, value]) => alarm.dimensions[name] === value);
  });
  if (points.length === 0) return alarm.missingBreaches ? 'ALARM' : 'OK';
  const value = Math.max(...points.map((point) => point.value));
  const breaches =
    alarm.comparison === 'GreaterThanThreshold' ? value > alarm.threshold : alarm.comparison === 'GreaterThanOrEqualToThreshold' ? value >= alarm.threshold : alarm.comparison === 'LessThanThreshold' ? value < alarm.threshold : value <= alarm.threshold;
  return breaches ? 'ALARM' : 'OK';
}

function functionEnvironment(match: (env: Record<string, Json>) => boolean): Record<string, string> {
  for (const [, raw] of resolver.resourcesOf(stacks.jobs, 'AWS::Lambda::Function')) {
    const variables = ((raw.Environment as { Variables?: Record<string, Json> } | undefined)?.Variables ?? {}) as Record<string, Json>;
    if (match(variables)) return Object.fromEntries(Object.entries(resolver.resolve(variables, stacks.jobs) as Record<string, Json>).map(([name, value]) => [name, String(value)]));
  }
  throw new Error('no such function in the jobs stack');
}

const plannerEnv = functionEnvironment((env) => 'VERIFY_QUEUE_URL' in env);
const drillEnv = functionEnvironment((env) => 'RDS_DRILLS' in env);
const configured = decodeConfiguredTargets(plannerEnv.CONFIGURED_TARGETS ?? '');
const tierMaxAgeHours = parseVerifySettings(JSON.parse(plannerEnv.VERIFY_SETTINGS ?? '')).tierMaxAgeHours;
const ageAlarms = alarms.filter((alarm) => alarm.metricName === METRICS.hoursSinceLastVerifiedBackup.name);
/** The drill report's one alarm over every drilled target; each AWS Backup resource's restore tests have their own (with Target). */
const drillAlarms = alarms.filter((alarm) => alarm.metricName === METRICS.daysSinceLastSuccessfulDrill.name && !('Target' in alarm.dimensions));
const restoreTestAlarms = alarms.filter((alarm) => alarm.metricName === METRICS.daysSinceLastSuccessfulDrill.name && 'Target' in alarm.dimensions);
const recoveryPointAlarms = alarms.filter((alarm) => alarm.metricName === METRICS.hoursSinceLastRecoveryPoint.name);
const managedSettings = parseManagedBackupSettings(JSON.parse(functionEnvironment((env) => 'MANAGED_BACKUP_SETTINGS' in env).MANAGED_BACKUP_SETTINGS ?? ''));
const drilledTargets = loadDrillSettings({ ...drillEnv, AWS_REGION: 'eu-west-1' }).targets.filter((target) => target.restore.drill).map((target) => target.backup.name);

const DEPLOYED_AT = new Date('2026-12-07T10:30:00Z');
const hours = (count: number) => new Date(DEPLOYED_AT.getTime() + count * 3_600_000);

let moto: MotoServer;
let bucket: string;
let keyArn: string;
const snsMock = mockClient(SNSClient);
const sqsMock = mockClient(SQSClient);
const backupMock = mockClient(BackupClient);

beforeAll(async () => {
  moto = await MotoServer.start();
}, 60_000);
afterAll(async () => {
  snsMock.restore();
  sqsMock.restore();
  backupMock.restore();
  await moto?.stop();
});
let bucketNumber = 0;
beforeEach(async () => {
  snsMock.reset();
  sqsMock.reset();
  snsMock.on(PublishCommand).resolves({ MessageId: 'm' });
  sqsMock.on(SendMessageBatchCommand).resolves({ Successful: [], Failed: [] });
  ({ bucket, keyArn } = await moto.createBackupBucket(`first-week-${++bucketNumber}`));
});

async function agesAt(now: Date): Promise<EmittedMetric[]> {
  const { metrics, emitted } = capturingMetrics('verify');
  await reportAges({ s3: moto.s3(), metrics, logger: quietLogger(), bucket, now: () => now, configured, backupKeyArn: keyArn, sns: new SNSClient({ region: 'eu-west-1' }), alertTopicArn: 'arn:aws:sns:eu-west-1:111122223333:alerts', tierMaxAgeHours });
  return emitted;
}

async function dailyVerificationAt(now: Date): Promise<{ emitted: EmittedMetric[]; awaiting: number }> {
  const { metrics, emitted } = capturingMetrics('verify');
  const result = await planVerification(
    { s3: moto.s3(), sqs: new SQSClient({ region: 'eu-west-1' }), sns: new SNSClient({ region: 'eu-west-1' }), alertTopicArn: 'arn:aws:sns:eu-west-1:111122223333:alerts', metrics, logger: quietLogger(), bucket, queueUrl: 'https://sqs/verify', now: () => now, configured, tierMaxAgeHours, backupKeyArn: keyArn },
    {},
  );
  return { emitted, awaiting: result.awaitingFirstBackup.length };
}

async function drillReportAt(now: Date): Promise<EmittedMetric[]> {
  const { metrics, emitted } = capturingMetrics('drill');
  const settings = loadDrillSettings({ ...drillEnv, AWS_REGION: 'eu-west-1' });
  await reportDrills({
    s3: moto.s3(),
    ssm: moto.ssm(),
    sns: new SNSClient({ region: 'eu-west-1' }),
    rds: {} as never,
    logger: quietLogger(),
    metrics,
    now: () => now,
    retry: { sleep: async () => undefined },
    settings: { ...settings, site: { ...settings.site, bucket }, rdsDrills: [] },
  });
  return emitted;
}

/** The managed data's hourly report, AWS Backup answering as it does for resources enrolled at deploy with `recoveryPoints` made since. */
async function recoveryPointAgesAt(now: Date, recoveryPoints: readonly Date[] = [], passedRestoreTests: readonly Date[] = []): Promise<EmittedMetric[]> {
  backupMock.reset();
  backupMock.on(GetBackupSelectionCommand).resolves({ CreationDate: DEPLOYED_AT });
  backupMock.on(ListRecoveryPointsByResourceCommand).resolves({
    RecoveryPoints: recoveryPoints.map((at, index) => ({ RecoveryPointArn: `rp-${index}`, CreationDate: at, Status: 'COMPLETED', BackupVaultName: managedSettings.vaultName })),
  });
  backupMock.on(ListRestoreJobsByProtectedResourceCommand).resolves({
    RestoreJobs: passedRestoreTests.map((at, index) => ({ RestoreJobId: `job-${index}`, Status: 'COMPLETED', CompletionDate: at, ValidationStatus: 'SUCCESSFUL', CreatedBy: { RestoreTestingPlanArn: 'arn:aws:backup:eu-west-1:111122223333:restore-testing-plan:backup_kit_databases-abc' } })),
  });
  const { metrics, emitted } = capturingMetrics('managed-backup');
  const drills = capturingMetrics('drill');
  // As at deploy and once a day: the restore tests' ages too.
  await reportRecoveryPointAges({ backup: new BackupClient({ region: 'eu-west-1' }), settings: managedSettings, metrics, logger: quietLogger(), now: () => now, restoreTests: { metrics: drills.metrics } });
  return [...emitted, ...drills.emitted];
}

const firing = (watched: readonly WatchedAlarm[], published: readonly EmittedMetric[]) => watched.filter((alarm) => state(alarm, published) === 'ALARM').map((alarm) => alarm.id);

describe('the template: alarms that breach on missing data are created only after the report that feeds them', () => {
  it('the example deployment watches ages and drills, and configures the planner with the scheduled pairs and their limits', () => {
    expect(configured.length).toBeGreaterThan(0);
    // One age alarm per scheduled tier and one drill alarm, whatever the number of targets.
    expect(ageAlarms.map((alarm) => alarm.dimensions.Tier).sort()).toEqual([...new Set(configured.map((pair) => pair.tier))].sort());
    expect(drillAlarms).toHaveLength(1);
    expect(drilledTargets.length).toBeGreaterThan(0);
    for (const { tier } of configured) expect(tierMaxAgeHours[tier], tier).toBeGreaterThan(0);
  });

  it('every alarm that treats missing data as breaching is an age or drill alarm, and depends on the report made at deploy', () => {
    const reportsAtDeploy = Object.entries(jobsTemplate.Resources)
      .filter(([, resource]) => resource.Type.startsWith('Custom::') && resource.Type.endsWith('AtDeploy'))
      .map(([id, resource]) => ({ id, type: resource.Type }));
    expect(reportsAtDeploy.map((report) => report.type).sort()).toEqual(['Custom::BackupAgesAtDeploy', 'Custom::DrillReportAtDeploy', 'Custom::RecoveryPointAgesAtDeploy']);
    const breaching = Object.entries(jobsTemplate.Resources).filter(([, resource]) => resource.Type === 'AWS::CloudWatch::Alarm' && resource.Properties?.TreatMissingData === 'breaching');
    expect(breaching.length).toBe(ageAlarms.length + drillAlarms.length + recoveryPointAlarms.length + restoreTestAlarms.length);
    const managed = [...recoveryPointAlarms, ...restoreTestAlarms];
    const feeder = (id: string) =>
      ageAlarms.some((alarm) => alarm.id === id) ? 'Custom::BackupAgesAtDeploy' : managed.some((alarm) => alarm.id === id) ? 'Custom::RecoveryPointAgesAtDeploy' : 'Custom::DrillReportAtDeploy';
    for (const [id, resource] of breaching) {
      const report = reportsAtDeploy.find((candidate) => candidate.type === feeder(id));
      expect(resource.DependsOn ?? [], id).toContain(report?.id);
    }
  });
});

describe('a new deployment, its first weeks, before any backup or drill has run', () => {
  it('GIVEN an empty bucket WHEN the deploy reports THEN every age and drill alarm has a datapoint and none fires', async () => {
    const published = [...(await agesAt(DEPLOYED_AT)), ...(await drillReportAt(DEPLOYED_AT))];
    expect(firing([...ageAlarms, ...drillAlarms], published)).toEqual([]);
    // A marker per configured pair and per drilled target, written once with the deploy time.
    for (const { tier, target } of configured) {
      const marker = await moto.s3().send(new GetObjectCommand({ Bucket: bucket, Key: expectedSinceKey(tier, target) }));
      expect(JSON.parse((await marker.Body?.transformToString()) ?? '').expectedSince).toBe(DEPLOYED_AT.toISOString());
    }
  });

  it('GIVEN no backup yet WHEN the daily verification runs on the first day THEN no "Backup missing" mail and no failed verification', async () => {
    await agesAt(DEPLOYED_AT);
    const { emitted, awaiting } = await dailyVerificationAt(hours(19));
    expect(awaiting).toBe(configured.length);
    expect(snsMock.commandCalls(PublishCommand)).toEqual([]);
    expect(emitted.filter((point) => point.name === METRICS.verificationFailed.name)).toEqual([]);
    // Event alarms (failed verification, size, replica) read only what this run published.
    expect(firing(alarms.filter((alarm) => !alarm.missingBreaches), emitted)).toEqual([]);
  });

  it('GIVEN a redeploy the next morning WHEN the ages are reported THEN the clock is not restarted', async () => {
    await agesAt(DEPLOYED_AT);
    await agesAt(hours(20)); // the redeploy's report
    const published = await agesAt(hours(25));
    const daily = published.find((point) => point.name === METRICS.hoursSinceLastVerifiedBackup.name && point.dimensions.Tier === 'daily');
    expect(daily?.value).toBeCloseTo(25, 5);
  });

  it('GIVEN each tier WHEN its first backup is not overdue THEN its alarms stay quiet, and fire once it is', async () => {
    await agesAt(DEPLOYED_AT);
    for (const tier of new Set(configured.map((pair) => pair.tier))) {
      const limit = tierMaxAgeHours[tier] ?? 0;
      const tierAlarms = ageAlarms.filter((alarm) => alarm.dimensions.Tier === tier);
      expect(firing(tierAlarms, await agesAt(hours(limit - 1))), `${tier} before ${limit} h`).toEqual([]);
      expect(snsMock).not.toHaveReceivedCommand(PublishCommand);
      expect(firing(tierAlarms, await agesAt(hours(limit + 0.5))).length, `${tier} after ${limit} h`).toBe(tierAlarms.length);
      // The tier's one alarm fires; the mail names every target that just crossed the limit.
      const mails = snsMock.commandCalls(PublishCommand).map((call) => call.args[0].input);
      expect(mails, tier).toHaveLength(1);
      for (const pair of configured.filter((entry) => entry.tier === tier)) expect(mails[0]?.Message, `${pair.target} ${tier}`).toContain(`  ${pair.target} (${tier}): `);
      snsMock.resetHistory();
    }
  });

  it('GIVEN the daily tier never backed up WHEN its first backup is overdue THEN the daily verification mails "Backup missing"', async () => {
    await agesAt(DEPLOYED_AT);
    const limit = tierMaxAgeHours.daily ?? 0;
    const { emitted } = await dailyVerificationAt(hours(limit + 2));
    const subjects = snsMock.commandCalls(PublishCommand).map((call) => call.args[0].input.Subject ?? '');
    const dailyPairs = configured.filter((pair) => pair.tier === 'daily');
    expect(subjects.filter((subject) => subject.startsWith('Backup missing') && subject.includes(' daily ')).length).toBe(dailyPairs.length);
    // One alarm over all targets and tiers fires; each mail names its target.
    expect(firing(alarms.filter((alarm) => alarm.metricName === METRICS.verificationFailed.name), emitted)).toHaveLength(1);
  });

  it('GIVEN no drill yet WHEN the daily drill report runs THEN the no-recent-drill alarm waits for the first drill, and fires once it is overdue, the mail naming every target', async () => {
    await drillReportAt(DEPLOYED_AT);
    const limit = drillAlarms[0]?.threshold ?? 0;
    expect(firing(drillAlarms, await drillReportAt(hours(24 * (limit - 1))))).toEqual([]);
    expect(snsMock).not.toHaveReceivedCommand(PublishCommand);
    expect(firing(drillAlarms, await drillReportAt(hours(24 * (limit + 1)))).length).toBe(drillAlarms.length);
    // The one alarm fires; the mail names every drilled target.
    const [mail] = snsMock.commandCalls(PublishCommand).map((call) => call.args[0].input);
    for (const target of drilledTargets) expect(mail?.Message).toContain(`  ${target}: ${limit + 1} days since drills were first expected`);
  });

  it('GIVEN the managed data AWS Backup has not backed up yet WHEN the deploy reports THEN each resource\'s alarm is quiet until its limit from the deploy, fires after it, and a recovery point quiets it', async () => {
    // The example protects an RDS instance, an Aurora cluster and the media bucket: one alarm each.
    expect(recoveryPointAlarms.map((alarm) => alarm.dimensions.Resource).sort()).toEqual(['aurora:billing-aurora', 'rds:orders-db', 's3:example-team-media']);
    expect(firing(recoveryPointAlarms, await recoveryPointAgesAt(DEPLOYED_AT))).toEqual([]);
    const limit = Math.min(...recoveryPointAlarms.map((alarm) => alarm.threshold));
    expect(limit).toBe(36);
    expect(firing(recoveryPointAlarms, await recoveryPointAgesAt(hours(limit - 1)))).toEqual([]);
    expect(firing(recoveryPointAlarms, await recoveryPointAgesAt(hours(limit + 0.5))).length).toBe(recoveryPointAlarms.length);
    // A recovery point made the night after the deploy counts from its own time.
    expect(firing(recoveryPointAlarms, await recoveryPointAgesAt(hours(limit + 0.5), [hours(17)]))).toEqual([]);
  });

  it('GIVEN the managed data not yet restore-tested WHEN the deploy reports THEN each resource\'s restore-test alarm is quiet for 33 days, fires after, and a passed restore test quiets it', async () => {
    expect(restoreTestAlarms.map((alarm) => alarm.dimensions.Target).sort()).toEqual(['aurora:billing-aurora', 'rds:orders-db', 's3:example-team-media']);
    expect(firing(restoreTestAlarms, await recoveryPointAgesAt(DEPLOYED_AT))).toEqual([]);
    const limit = Math.min(...restoreTestAlarms.map((alarm) => alarm.threshold));
    expect(limit).toBe(33);
    expect(firing(restoreTestAlarms, await recoveryPointAgesAt(hours(24 * (limit - 1))))).toEqual([]);
    expect(firing(restoreTestAlarms, await recoveryPointAgesAt(hours(24 * (limit + 1)))).length).toBe(restoreTestAlarms.length);
    expect(firing(restoreTestAlarms, await recoveryPointAgesAt(hours(24 * (limit + 1)), [], [hours(24 * 20)]))).toEqual([]);
  });

  it('GIVEN a drill that succeeded WHEN the report runs THEN its days count from the success, not from the deploy', async () => {
    await drillReportAt(DEPLOYED_AT);
    const target = drilledTargets[0] ?? '';
    const succeededAt = hours(24 * 30);
    await moto.s3().send(
      new PutObjectCommand({ Bucket: bucket, Key: drillRecordKey(target), Body: JSON.stringify({ target, succeededAt: succeededAt.toISOString(), key: 'daily/x', restoreSeconds: 12 }), ChecksumAlgorithm: 'SHA256' }),
    );
    const published = await drillReportAt(hours(24 * 40));
    expect(published.find((point) => point.dimensions.Target === target)?.value).toBe(10);
  });

  it('GIVEN a marker somebody forged into the future or garbled WHEN the ages are reported THEN the alarm fires rather than stays quiet', async () => {
    const [pair] = configured;
    if (!pair) throw new Error('no configured pair');
    const s3 = moto.s3();
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: expectedSinceKey(pair.tier, pair.target), Body: JSON.stringify({ expectedSince: '2099-01-01T00:00:00.000Z', what: 'x' }), IfNoneMatch: '*', ChecksumAlgorithm: 'SHA256' }));
    const target = drilledTargets[0] ?? '';
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: drillExpectedSinceKey(target), Body: 'not json', IfNoneMatch: '*', ChecksumAlgorithm: 'SHA256' }));
    const published = [...(await agesAt(DEPLOYED_AT)), ...(await drillReportAt(DEPLOYED_AT))];
    const watched = [...ageAlarms.filter((alarm) => alarm.dimensions.Tier === pair.tier), ...drillAlarms];
    expect(firing(watched, published).length).toBe(2);
  });
});
