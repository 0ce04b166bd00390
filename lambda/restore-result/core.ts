import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { SNSClient } from '@aws-sdk/client-sns';
import type { GetCommandInvocationCommandOutput, SSMClient } from '@aws-sdk/client-ssm';
import type * as z from '../../contracts/zod';
import { RUN_STATUS_MEANINGS, type ExitCodeMeaning } from '../../contracts/backup-command';
import { requireEnv } from '../shared/env';
import { parseEventWith } from '../../contracts/errors';
import { addCatalogMetric, type Logger, type Metrics } from '../shared/powertools';
import { METRICS } from '../../contracts/metric-catalog';
import {
  DRILL_RESULT_PREFIX,
  RESTORE_ENV,
  RESTORE_RESULT_PREFIX,
  describeRestoreExitCode,
  drillRecordKey,
  drillResultSchema,
  parseResultLine,
  restoreResultSchema,
  type DrillCheck,
  type DrillRecord,
} from '../../contracts/restore-command';
import { withThrottlingRetry, type RetryOptions } from '../shared/retry';
import {
  errorTail,
  errorTailBlock,
  ignoredBecause,
  invocationEventSchema,
  publishAlert,
  readCommand,
  readInvocation,
  runBackoff,
  runEnd,
  runLinks,
  type Alert,
  type InvocationEvent,
} from '../shared/run-command-result';
import { isRebuildStep, recordRebuildStep, type RebuildStepOutcome } from './rebuild-step';

/**
 * Records the end of each restore and drill run on an instance (Run Command status events of
 * the restore document): restores get an alert with their outcome and duration and the
 * `restore` metrics; drills get the `drill` metrics, their success recorded in the backup
 * bucket (for the days-since-last-drill alarm), and an alert when they fail.
 */

export interface RestoreResultSettings {
  readonly region: string;
  readonly documentName: string;
  readonly alertTopicArn: string;
  readonly commandLogGroupName: string;
  /** The backup bucket, where drill successes are recorded. */
  readonly bucket: string;
}

export function loadRestoreResultSettings(env: NodeJS.ProcessEnv): RestoreResultSettings {
  return {
    region: requireEnv('AWS_REGION', env),
    documentName: requireEnv(RESTORE_ENV.documentName, env),
    alertTopicArn: requireEnv(RESTORE_ENV.alertTopicArn, env),
    commandLogGroupName: requireEnv(RESTORE_ENV.commandLogGroupName, env),
    bucket: requireEnv(RESTORE_ENV.bucket, env),
  };
}

export const restoreInvocationEventSchema = invocationEventSchema;
export type RestoreInvocationEvent = InvocationEvent;

export function parseRestoreInvocationEvent(event: unknown): RestoreInvocationEvent {
  return parseEventWith(restoreInvocationEventSchema, event);
}

export interface RestoreResultDeps {
  readonly ssm: SSMClient;
  readonly sns: SNSClient;
  readonly s3: S3Client;
  readonly logger: Logger;
  /** Metrics with service `restore`. */
  readonly restoreMetrics: Metrics;
  /** Metrics with service `drill`. */
  readonly drillMetrics: Metrics;
  readonly settings: RestoreResultSettings;
  readonly now: () => Date;
  readonly retry?: Pick<RetryOptions, 'sleep' | 'random' | 'attempts'>;
}

export interface RunFacts {
  readonly target: string;
  readonly kind: string;
  readonly mode: string;
  readonly drill: boolean;
  readonly key: string;
  readonly comment: string;
  readonly commandId: string;
  readonly instanceId: string;
  readonly status: string;
  readonly exitCode?: number;
  readonly durationSeconds?: number;
}

export type RestoreResultOutcome =
  | { readonly outcome: 'ignored'; readonly reason: string }
  | {
      readonly outcome: 'restore-succeeded' | 'restore-failed' | 'drill-succeeded' | 'drill-failed';
      readonly facts: RunFacts;
      readonly alertMessageId?: string;
      /** A step of a rebuild: its record, and whether the rebuild is over. */
      readonly rebuild?: RebuildStepOutcome;
    };

export async function recordRestoreResult(event: RestoreInvocationEvent, deps: RestoreResultDeps): Promise<RestoreResultOutcome> {
  const { detail } = event;
  const ignored = ignoredBecause(detail, deps.settings.documentName, 'restore');
  if (ignored) return { outcome: 'ignored', reason: ignored };
  const commandId = detail['command-id'];
  const instanceId = detail['instance-id'];

  const { command, parameter } = await readCommand(commandId, deps);
  // A preflight (restore.sh RS_MODE=check) answers the restore function, which waits for it.
  if (parameter('mode') === 'check') return { outcome: 'ignored', reason: 'a preflight check: the restore function reads its answer' };
  const invocation = await readInvocation(commandId, instanceId, deps);
  const stdout = invocation.StandardOutputContent ?? '';
  const restored = parseResultLine(stdout, RESTORE_RESULT_PREFIX, restoreResultSchema);
  const drilled = parseResultLine(stdout, DRILL_RESULT_PREFIX, drillResultSchema);
  const end = runEnd(invocation, detail.status);
  const { exitCode } = end;
  const executed = end.durationSeconds;
  const requested = command.RequestedDateTime ? (deps.now().getTime() - command.RequestedDateTime.getTime()) / 1000 : undefined;
  const durationSeconds = drilled?.restoreSeconds ?? restored?.durationSeconds ?? executed ?? (requested !== undefined ? Math.round(requested) : undefined);
  const facts: RunFacts = {
    target: parameter('target') || 'unknown',
    kind: parameter('kind') || 'unknown',
    mode: parameter('mode') || 'unknown',
    drill: parameter('drill') === '1',
    key: restored?.key ?? drilled?.key ?? (parameter('key') || '(newest verified)'),
    comment: command.Comment ?? '',
    commandId,
    instanceId,
    status: end.status,
    ...(exitCode !== undefined ? { exitCode } : {}),
    ...(durationSeconds !== undefined ? { durationSeconds } : {}),
  };
  const succeeded = invocation.Status === 'Success' && exitCode === 0;
  const meaning = succeeded ? undefined : (RUN_STATUS_MEANINGS[facts.status] ?? (exitCode !== undefined ? describeRestoreExitCode(exitCode) : undefined));

  if (facts.drill) {
    const passed = succeeded && drilled?.passed === true;
    deps.drillMetrics.addDimensions({ Target: facts.target });
    if (passed && drilled) {
      const record: DrillRecord = { target: facts.target, succeededAt: deps.now().toISOString(), key: drilled.key, restoreSeconds: drilled.restoreSeconds, commandId };
      await withThrottlingRetry(
        () =>
          deps.s3.send(
            // The bucket is Object Locked: S3 refuses a write without a checksum.
            new PutObjectCommand({ Bucket: deps.settings.bucket, Key: drillRecordKey(facts.target), Body: JSON.stringify(record), ContentType: 'application/json', ChecksumAlgorithm: 'SHA256' }),
          ),
        runBackoff(deps),
      );
      addCatalogMetric(deps.drillMetrics, METRICS.drillSucceeded, 1);
      addCatalogMetric(deps.drillMetrics, METRICS.drillSeconds, drilled.restoreSeconds);
      addCatalogMetric(deps.drillMetrics, METRICS.daysSinceLastSuccessfulDrill, 0);
      deps.drillMetrics.publishStoredMetrics();
      deps.logger.info('drill succeeded', { ...facts, checks: drilled.checks });
      // A step of a rebuild drill: the next target starts now.
      const rebuild = isRebuildStep(facts) ? await recordRebuildStep(facts, true, restored, undefined, deps) : undefined;
      return { outcome: 'drill-succeeded', facts, ...(rebuild ? { rebuild } : {}), ...(rebuild?.alertMessageId ? { alertMessageId: rebuild.alertMessageId } : {}) };
    }
    // A step of a rebuild drill: its failure is in the rebuild's one alert, with the failed checks.
    const failedChecks = (drilled?.checks ?? []).filter((check) => check.status === 'failed').map((check) => `${check.name}: ${check.detail}`);
    const rebuild = isRebuildStep(facts)
      ? await recordRebuildStep(facts, false, undefined, meaning ?? { meaning: `drill checks failed: ${failedChecks.join('; ')}`, nextStep: 'Read the full output of the run.' }, deps)
      : undefined;
    const alertId = rebuild ? rebuild.alertMessageId : await publish(deps, drillFailureAlert(facts, drilled?.checks ?? [], meaning, invocation, deps.settings));
    addCatalogMetric(deps.drillMetrics, METRICS.drillFailed, 1);
    deps.drillMetrics.publishStoredMetrics();
    deps.logger.error('drill failed', { ...facts, checks: drilled?.checks });
    return { outcome: 'drill-failed', facts, ...(alertId ? { alertMessageId: alertId } : {}), ...(rebuild ? { rebuild } : {}) };
  }

  // A rebuild's steps get one alert together, at its end.
  const rebuild = isRebuildStep(facts) ? await recordRebuildStep(facts, succeeded, restored, meaning, deps) : undefined;
  const alertId = rebuild ? rebuild.alertMessageId : await publish(deps, restoreAlert(facts, succeeded ? restored : undefined, meaning, invocation, deps.settings));
  deps.restoreMetrics.addDimensions({ Target: facts.target });
  addCatalogMetric(deps.restoreMetrics, succeeded ? METRICS.restoreSucceeded : METRICS.restoreFailed, 1);
  if (succeeded && durationSeconds !== undefined) addCatalogMetric(deps.restoreMetrics, METRICS.restoreSeconds, durationSeconds);
  deps.restoreMetrics.publishStoredMetrics();
  deps.logger.info(succeeded ? 'restore succeeded' : 'restore failed', { ...facts });
  return { outcome: succeeded ? 'restore-succeeded' : 'restore-failed', facts, ...(alertId ? { alertMessageId: alertId } : {}), ...(rebuild ? { rebuild } : {}) };
}

async function publish(deps: RestoreResultDeps, alert: Alert): Promise<string | undefined> {
  return publishAlert(deps, deps.settings.alertTopicArn, alert);
}

function links(facts: RunFacts, settings: RestoreResultSettings): string[] {
  const run = runLinks(settings.region, settings.commandLogGroupName, facts.commandId, facts.instanceId);
  return ['Links:', `  This run:     ${run.run}`, `  Full output:  ${run.output}`];
}

/** The message an engineer gets when a restore they started finishes, either way. */
export function restoreAlert(
  facts: RunFacts,
  result: z.infer<typeof restoreResultSchema> | undefined,
  meaning: ExitCodeMeaning | undefined,
  invocation: GetCommandInvocationCommandOutput,
  settings: RestoreResultSettings,
): Alert {
  const took = facts.durationSeconds !== undefined ? `${facts.durationSeconds} s` : 'unknown';
  if (result) {
    return {
      subject: `backup-kit restore done: ${facts.target} (${facts.mode}) in ${took}`,
      message: [
        `Restore of ${facts.target} finished: ${facts.mode}, in ${took}.`,
        '',
        `Backup:         ${result.key} (${result.bytes} bytes, checked against its manifest)`,
        `Restored into:  ${result.restoredTo}`,
        ...(result.previousDataKeptAs ? [`Previous data:  kept as ${result.previousDataKeptAs} (drop it once the restore is confirmed)`] : []),
        ...(result.safetyBackupKey ? [`Safety backup:  ${result.safetyBackupKey}`] : []),
        `Instance:       ${facts.instanceId}`,
        `Requested as:   ${facts.comment}`,
        '',
        ...links(facts, settings),
      ].join('\n'),
    };
  }
  const tail = errorTailBlock(errorTail(invocation));
  return {
    subject: `backup-kit restore FAILED: ${facts.target} (${facts.mode}) on ${facts.instanceId}`,
    message: [
      `Restore of ${facts.target} FAILED (${facts.mode}) after ${took}. Live data is left as it was on every handled failure.`,
      '',
      `Backup:      ${facts.key}`,
      `Instance:    ${facts.instanceId}`,
      `Status:      ${facts.status}`,
      `Exit code:   ${facts.exitCode ?? 'none (the script did not finish)'}${meaning ? ` - ${meaning.meaning}` : ''}`,
      `Requested:   ${facts.comment}`,
      '',
      ...tail,
      `Next step:   ${meaning?.nextStep ?? 'Read the full output, check the live data, fix the cause and run again.'}`,
      '',
      ...links(facts, settings),
    ].join('\n'),
  };
}

export function drillFailureAlert(
  facts: RunFacts,
  checks: readonly DrillCheck[],
  meaning: ExitCodeMeaning | undefined,
  invocation: GetCommandInvocationCommandOutput,
  settings: RestoreResultSettings,
): Alert {
  const failed = checks.filter((check) => check.status === 'failed');
  const tail = errorTailBlock(errorTail(invocation));
  return {
    subject: `backup-kit restore drill FAILED: ${facts.target}`,
    message: [
      `The monthly restore drill of ${facts.target} FAILED: its newest verified backup did not come back as its manifest says.`,
      '',
      `Backup:      ${facts.key}`,
      `Instance:    ${facts.instanceId} (scratch copy; live data untouched, the copy is removed)`,
      `Status:      ${facts.status}`,
      `Exit code:   ${facts.exitCode ?? 'none (the script did not finish)'}${meaning ? ` - ${meaning.meaning}` : ''}`,
      '',
      ...(failed.length > 0 ? ['Failed checks:', ...failed.map((check) => `  - ${check.name}: ${check.detail}`), ''] : []),
      ...tail,
      `Next step:   ${meaning?.nextStep ?? 'Read the full output; run the drill again for this target from the drill function once fixed.'}`,
      '',
      ...links(facts, settings),
    ].join('\n'),
  };
}
