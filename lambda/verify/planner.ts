import { HeadObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import { SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import * as z from '../../contracts/zod';
import { errorMessage, RequestRejectedError } from '../../contracts/errors';
import { EXPECTED_SINCE_PREFIX, VERDICT_PREFIX, expectedSinceKey, isBackupObjectKey, parseBackupKey } from '../../contracts/manifest';
import { expectedSince } from '../shared/expected-since';
import { DRILL_RECORD_PREFIX } from '../../contracts/restore-command';
import { publishCatalogMetrics, type Logger, type Metrics } from '../shared/powertools';
import { hoursBetween, listBackups, newestVerified } from '../shared/backup-history';
import { METRICS } from '../../contracts/metric-catalog';

/**
 * The planner's event: `{}` verifies the newest backup of every target and tier,
 * `{ "target": "name" }` those of one target, `{ "key": "..." }` one object;
 * `{ "action": "report-ages" }` (the hourly schedule) only publishes the age of the newest
 * verified backup per target and tier.
 */
export const plannerEventSchema = z.union([
  z.strictObject({ action: z.literal('report-ages') }),
  z.strictObject({
    action: z.optional(z.literal('verify')),
    target: z.optional(z.string().check(z.regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'must be a target name (letters, digits, . _ -)'))),
    tier: z.optional(z.string().check(z.regex(/^[a-z][a-z0-9-]*$/, 'must be a tier name'))),
    key: z.optional(z.string().check(z.minLength(1))),
  }).check(z.refine((event) => !(event.key && (event.target || event.tier)), { message: 'give either key, or target and/or tier, not both' })),
]);
export type PlannerEvent = z.infer<typeof plannerEventSchema>;

/** The message the worker receives: one backup to verify. */
export const verifyMessageSchema = z.strictObject({
  key: z.string().check(z.minLength(1)),
  /** Why: the daily schedule or an engineer's request. */
  reason: z.enum(['scheduled', 'on-demand']),
  requestedAt: z.iso.datetime(),
});
export type VerifyMessage = z.infer<typeof verifyMessageSchema>;

export interface PlannerDeps {
  readonly s3: S3Client;
  readonly sqs: SQSClient;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly bucket: string;
  readonly queueUrl: string;
  readonly now?: () => Date;
  /**
   * Targets and tiers the config says must have backups (scheduled tiers only). Without it,
   * targets are only discovered from the bucket.
   */
  readonly configured?: readonly TargetTier[];
  /** Where a configured target without any backup is reported. */
  readonly sns?: SNSClient;
  readonly alertTopicArn?: string;
  /**
   * Hours a tier's newest verified backup may be old (the age alarms' thresholds). A configured
   * target without any backup is reported missing only once this long has passed since the kit
   * began to expect it; without an entry for its tier, at once.
   */
  readonly tierMaxAgeHours?: Readonly<Record<string, number>>;
  /** The backup bucket's key, for the expected-since markers the planner writes. */
  readonly backupKeyArn?: string;
}

export interface TargetTier {
  readonly tier: string;
  readonly target: string;
}

export interface PlanResult {
  readonly enqueued: readonly string[];
  /** Targets and tiers that hold no backup object at all (configured ones are also alerted). */
  readonly withoutBackups: readonly TargetTier[];
  /** Targets found in the bucket that the config no longer lists (still verified). */
  readonly unconfigured: readonly TargetTier[];
  /** Keys that could not be enqueued, with why. */
  readonly notEnqueued: readonly { key: string; reason: string }[];
  /** Configured targets without a backup whose first one is not overdue yet: not alerted. */
  readonly awaitingFirstBackup: readonly AwaitedPair[];
}

export interface AwaitedPair extends TargetTier {
  /** When the kit began to expect this backup (first seen without one). */
  readonly expectedSince: string;
  /** When the missing backup becomes an alert and the age alarm fires. */
  readonly overdueAt: string;
}

export interface AgeReport {
  readonly target: string;
  readonly tier: string;
  /** Hours since the newest backup whose verdict passed; undefined when none has. */
  readonly hoursSinceLastVerifiedBackup: number | undefined;
  /**
   * The age the tier's alarm counts: since the newest verified backup or, with none, the oldest
   * kept, or the time the kit began to expect one.
   */
  readonly ageHours?: number;
  /** The tier's limit, when it has one. */
  readonly maxAgeHours?: number;
  /** Older than the limit: the tier's age alarm is firing because of this target (among others). */
  readonly late?: boolean;
}

async function commonPrefixes(s3: S3Client, bucket: string, prefix: string): Promise<string[]> {
  const found: string[] = [];
  let token: string | undefined;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, Delimiter: '/', ContinuationToken: token }));
    for (const common of page.CommonPrefixes ?? []) {
      if (common.Prefix) found.push(common.Prefix.slice(prefix.length, -1));
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return found;
}

const NOT_TIERS = new Set([VERDICT_PREFIX, DRILL_RECORD_PREFIX, EXPECTED_SINCE_PREFIX]);

/**
 * Every target and tier that has objects in the bucket, found by listing `<tier>/<target>/`
 * prefixes: this also finds backups of targets since removed from the config.
 */
export async function discoverTargetTiers(s3: S3Client, bucket: string, filter: { target?: string; tier?: string } = {}): Promise<TargetTier[]> {
  // The verdicts and drill records have prefixes of their own; they hold no backups.
  const tiers = filter.tier ? [filter.tier] : (await commonPrefixes(s3, bucket, '')).filter((prefix) => !NOT_TIERS.has(`${prefix}/`));
  const pairs: TargetTier[] = [];
  for (const tier of tiers) {
    const targets = await commonPrefixes(s3, bucket, `${tier}/`);
    for (const target of targets) {
      if (filter.target === undefined || filter.target === target) pairs.push({ tier, target });
    }
  }
  return pairs.sort((a, b) => a.tier.localeCompare(b.tier) || a.target.localeCompare(b.target));
}

/** Finds the backups to verify and sends one queue message per backup. */
export async function planVerification(deps: PlannerDeps, event: Exclude<PlannerEvent, { action: 'report-ages' }>): Promise<PlanResult> {
  const requestedAt = (deps.now?.() ?? new Date()).toISOString();
  const onDemand = event.key !== undefined || event.target !== undefined || event.tier !== undefined;
  const reason = onDemand ? 'on-demand' : 'scheduled';
  const keys: string[] = [];
  const withoutBackups: TargetTier[] = [];
  const unconfigured: TargetTier[] = [];
  const awaitingFirstBackup: AwaitedPair[] = [];
  if (event.key !== undefined) {
    if (!isBackupObjectKey(event.key) || !parseBackupKey(event.key)) {
      throw new RequestRejectedError(`key '${event.key}' is not a backup key (<tier>/<target>/YYYY/MM/DD/<target>_<YYYYMMDDTHHMMSSZ>.<ext>)`);
    }
    try {
      await deps.s3.send(new HeadObjectCommand({ Bucket: deps.bucket, Key: event.key }));
    } catch (error) {
      if ((error as { name?: string }).name === 'NotFound' || (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) {
        throw new RequestRejectedError(`no object s3://${deps.bucket}/${event.key}`);
      }
      throw error;
    }
    keys.push(event.key);
  } else {
    const discovered = await discoverTargetTiers(deps.s3, deps.bucket, { target: event.target, tier: event.tier });
    const configured = (deps.configured ?? []).filter(
      (pair) => (event.target === undefined || pair.target === event.target) && (event.tier === undefined || pair.tier === event.tier),
    );
    const seen = new Set(discovered.map(pairId));
    const pairs = [...discovered, ...configured.filter((pair) => !seen.has(pairId(pair)))];
    if (pairs.length === 0 && onDemand) {
      throw new RequestRejectedError(`no backups found for ${event.target ? `target '${event.target}'` : ''}${event.target && event.tier ? ' in ' : ''}${event.tier ? `tier '${event.tier}'` : ''}`);
    }
    for (const pair of pairs) {
      const backups = await listBackups(deps.s3, deps.bucket, pair.tier, pair.target);
      const newest = backups[backups.length - 1];
      if (newest) keys.push(newest.key);
      else withoutBackups.push(pair);
    }
    if (deps.configured) {
      const configuredIds = new Set(deps.configured.map(pairId));
      unconfigured.push(...discovered.filter((pair) => !configuredIds.has(pairId(pair))));
      const missing = withoutBackups.filter((pair) => configuredIds.has(pairId(pair)));
      for (const pair of missing) {
        const awaited = await firstBackupNotDue(deps, pair);
        if (awaited) awaitingFirstBackup.push(awaited);
        else await reportMissing(deps, pair);
      }
    }
  }
  const { sent, failed } = await enqueue(deps, keys.map((key) => ({ key, reason, requestedAt })));
  deps.logger.info('planned verification', { enqueued: sent.length, failed: failed.length, withoutBackups: withoutBackups.length, awaitingFirstBackup: awaitingFirstBackup.length, reason });
  return { enqueued: sent, withoutBackups, unconfigured, notEnqueued: failed, awaitingFirstBackup };
}

/** When the kit began to expect a backup of a configured pair (the marker is created on first sight). */
function backupExpectedSince(deps: Pick<PlannerDeps, 's3' | 'bucket' | 'now' | 'backupKeyArn'>, pair: TargetTier, now: Date): Promise<Date> {
  return expectedSince({
    s3: deps.s3,
    bucket: deps.bucket,
    key: expectedSinceKey(pair.tier, pair.target),
    what: `a verified backup of target '${pair.target}' in tier '${pair.tier}'`,
    now,
    ...(deps.backupKeyArn ? { kmsKeyArn: deps.backupKeyArn } : {}),
  });
}

/** The pair, when its first backup is not overdue yet (so it is not alerted); undefined when it is. */
async function firstBackupNotDue(deps: PlannerDeps, pair: TargetTier): Promise<AwaitedPair | undefined> {
  const maxAgeHours = deps.tierMaxAgeHours?.[pair.tier];
  if (maxAgeHours === undefined) return undefined;
  const now = deps.now?.() ?? new Date();
  const since = await backupExpectedSince(deps, pair, now);
  const overdueAt = new Date(since.getTime() + maxAgeHours * 3_600_000);
  if (now.getTime() > overdueAt.getTime()) return undefined;
  deps.logger.info('configured target has no backup yet; its first one is not due', { ...pair, expectedSince: since.toISOString(), overdueAt: overdueAt.toISOString() });
  return { ...pair, expectedSince: since.toISOString(), overdueAt: overdueAt.toISOString() };
}

const pairId = (pair: TargetTier) => `${pair.tier}/${pair.target}`;

/** A configured target with no backup at all in a scheduled tier: alert and count it as a failed verification. */
async function reportMissing(deps: PlannerDeps, pair: TargetTier): Promise<void> {
  publishCatalogMetrics(deps.metrics, { Target: pair.target, Tier: pair.tier }, [[METRICS.verificationFailed, 1]]);
  publishCatalogMetrics(deps.metrics, {}, [[METRICS.verificationFailed, 1]]);
  deps.logger.error('configured target has no backup', { ...pair });
  if (!deps.sns || !deps.alertTopicArn) return;
  try {
    await deps.sns.send(
      new PublishCommand({
        TopicArn: deps.alertTopicArn,
        Subject: `Backup missing: ${pair.target} ${pair.tier} has no backup`.slice(0, 100),
        Message: [
          'Backup missing.',
          '',
          `Target: ${pair.target}`,
          `Tier:   ${pair.tier}`,
          `Check:  backups exist (no object under s3://${deps.bucket}/${pair.tier}/${pair.target}/)`,
          '',
          `What to do: the config lists this target in tier '${pair.tier}' but no backup was ever stored. Check that the backup schedule for the tier runs and that the target's instances are found (tag or instance IDs) and have the instance policy attached; read the last Run Command of the backup document; then take a manual backup ({ "tier": "manual", "target": "${pair.target}" }).`,
        ].join('\n'),
        MessageAttributes: {
          target: { DataType: 'String', StringValue: pair.target },
          tier: { DataType: 'String', StringValue: pair.tier },
          check: { DataType: 'String', StringValue: 'exists' },
        },
      }),
    );
  } catch (error) {
    deps.logger.error('could not publish the missing-backup alert', { ...pair, error: errorMessage(error) });
  }
}

const hoursText = (hours: number | undefined) => (hours === undefined ? '?' : `${Math.floor(hours)} h`);

/** One mail naming the targets that just crossed their tier's age limit, and those still past it. */
async function alertLate(deps: Pick<PlannerDeps, 'logger' | 'sns' | 'alertTopicArn' | 'bucket'>, newlyLate: readonly AgeReport[], allLate: readonly AgeReport[]): Promise<void> {
  const line = (report: AgeReport) => `  ${report.target} (${report.tier}): ${hoursText(report.ageHours)} since its last verified backup, limit ${report.maxAgeHours} h`;
  const stillLate = allLate.filter((report) => !newlyLate.includes(report));
  const names = newlyLate.map((report) => `${report.target} ${report.tier}`).join(', ');
  deps.logger.error('backups overdue', { newlyLate: newlyLate.map(({ target, tier }) => ({ target, tier })), late: allLate.length });
  if (!deps.sns || !deps.alertTopicArn) return;
  try {
    await deps.sns.send(
      new PublishCommand({
        TopicArn: deps.alertTopicArn,
        Subject: `Backup overdue: ${names}`.slice(0, 100),
        Message: [
          'No verified backup within the tier\'s age limit for:',
          ...newlyLate.map(line),
          ...(stillLate.length > 0 ? ['', 'Still overdue since an earlier report:', ...stillLate.map(line)] : []),
          '',
          `What to do: for each target, check that its tier's backup schedule ran, read the last Run Command of the backup document and the newest verdict under s3://${deps.bucket}/verdicts/; take a manual backup ({ "tier": "manual", "target": "<target>" }) and let it verify. The list of every target's age: invoke the verify planner with { "action": "report-ages" }.`,
        ].join('\n'),
        MessageAttributes: { check: { DataType: 'String', StringValue: 'age' } },
      }),
    );
  } catch (error) {
    // The tier's age alarm still fires; the names are in this function's log.
    deps.logger.error('could not publish the overdue-backup alert', { error: errorMessage(error) });
  }
}

async function enqueue(deps: PlannerDeps, messages: VerifyMessage[]): Promise<{ sent: string[]; failed: { key: string; reason: string }[] }> {
  const sent: string[] = [];
  const failed: { key: string; reason: string }[] = [];
  for (let start = 0; start < messages.length; start += 10) {
    let batch = messages.slice(start, start + 10).map((message, index) => ({ id: String(start + index), message }));
    // One retry for entries SQS refused (throttling inside a batch); the rest are reported.
    for (let attempt = 1; attempt <= 2 && batch.length > 0; attempt++) {
      try {
        const response = await deps.sqs.send(
          new SendMessageBatchCommand({
            QueueUrl: deps.queueUrl,
            Entries: batch.map(({ id, message }) => ({ Id: id, MessageBody: JSON.stringify(message) })),
          }),
        );
        const refused = new Map((response.Failed ?? []).map((entry) => [entry.Id, entry.Message ?? entry.Code ?? 'refused']));
        for (const item of batch) if (!refused.has(item.id)) sent.push(item.message.key);
        const retry = batch.filter((item) => refused.has(item.id));
        if (attempt === 2) for (const item of retry) failed.push({ key: item.message.key, reason: refused.get(item.id) ?? 'refused' });
        batch = retry;
      } catch (error) {
        if (attempt === 2) for (const item of batch) failed.push({ key: item.message.key, reason: errorMessage(error) });
      }
    }
  }
  return { sent, failed };
}

/**
 * Hourly: the age of every target's newest verified backup in every tier. Each is logged (the
 * dashboard's table of ages reads the log); the largest per tier is published as
 * HoursSinceLastVerifiedBackup, so the tier's age alarm sees a datapoint every period: missing
 * data then means the reporting itself stopped, which the alarm treats as breaching. A target
 * whose age crossed its tier's limit since the last hourly report is mailed by name, with every
 * other target still past it (the tier's alarm fires once, whichever target is late). A
 * configured pair without any backup is as old as the time the kit began to expect it, so it is
 * late only once its first backup is overdue.
 */
export async function reportAges(deps: Pick<PlannerDeps, 's3' | 'metrics' | 'logger' | 'bucket' | 'now' | 'configured' | 'backupKeyArn' | 'sns' | 'alertTopicArn' | 'tierMaxAgeHours'>): Promise<AgeReport[]> {
  const now = deps.now?.() ?? new Date();
  const discovered = await discoverTargetTiers(deps.s3, deps.bucket);
  const seen = new Set(discovered.map(pairId));
  const configuredIds = new Set((deps.configured ?? []).map(pairId));
  const pairs = [...discovered, ...(deps.configured ?? []).filter((pair) => !seen.has(pairId(pair)))];
  const reports: AgeReport[] = [];
  const oldestPerTier = new Map<string, number>();
  for (const pair of pairs) {
    const backups = await listBackups(deps.s3, deps.bucket, pair.tier, pair.target);
    if (backups.length === 0 && !configuredIds.has(pairId(pair))) continue;
    const verified = backups.length > 0 ? await newestVerified(deps.s3, deps.bucket, backups) : undefined;
    // With no verified backup at all, the age is at least that of the oldest backup kept, or,
    // with none kept, the time since the kit began to expect one.
    const since = verified ? new Date(verified.backupAt) : (backups[0]?.parsed.at ?? (await backupExpectedSince(deps, pair, now)));
    const hours = since ? hoursBetween(since, now) : undefined;
    const maxAgeHours = deps.tierMaxAgeHours?.[pair.tier];
    const late = hours !== undefined && maxAgeHours !== undefined && hours > maxAgeHours;
    const report: AgeReport = {
      ...pair,
      hoursSinceLastVerifiedBackup: verified ? hours : undefined,
      ...(hours !== undefined ? { ageHours: hours } : {}),
      ...(maxAgeHours !== undefined ? { maxAgeHours, late } : {}),
    };
    reports.push(report);
    if (hours === undefined) continue;
    deps.logger.info('backup age', { ...pair, hours: Math.round(hours * 10) / 10, ...(maxAgeHours !== undefined ? { maxAgeHours, late } : {}) });
    oldestPerTier.set(pair.tier, Math.max(oldestPerTier.get(pair.tier) ?? 0, hours));
  }
  for (const [tier, hours] of oldestPerTier) publishCatalogMetrics(deps.metrics, { Tier: tier }, [[METRICS.hoursSinceLastVerifiedBackup, hours]]);
  const lateReports = reports.filter((report) => report.late);
  // The report runs hourly: a target crossed its limit since the last one when it is less than an hour past it.
  const newlyLate = lateReports.filter((report) => report.ageHours !== undefined && report.maxAgeHours !== undefined && report.ageHours - report.maxAgeHours <= 1);
  if (newlyLate.length > 0) await alertLate(deps, newlyLate, lateReports);
  deps.logger.info('reported backup ages', { targetTiers: reports.length, late: lateReports.length, newlyLate: newlyLate.length });
  return reports;
}
