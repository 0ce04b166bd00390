import type { SNSClient } from '@aws-sdk/client-sns';
import type { GetCommandInvocationCommandOutput, SSMClient } from '@aws-sdk/client-ssm';
import * as z from '../../contracts/zod';
import { INVOCATION_DETAIL_TYPE, RESULT_ENV, RUN_STATUS_MEANINGS, describeExitCode, parseBackupResult, type BackupResult, type ExitCodeMeaning } from '../../contracts/backup-command';
import { consoleLinks } from '../../contracts/console-links';
import { requireEnv } from '../shared/env';
import { parseEventWith } from '../../contracts/errors';
import { addCatalogMetric, publishCatalogMetrics, type Logger, type Metrics } from '../shared/powertools';
import { METRICS } from '../../contracts/metric-catalog';
import {
  commandEventSchema,
  errorTail,
  errorTailBlock,
  ignoredBecause,
  invocationEventSchema,
  publishAlert,
  readCommand,
  readInvocation,
  runEnd,
  runLinks,
  type Alert,
  type RunEnd,
} from '../shared/run-command-result';
import type { RetryOptions } from '../shared/retry';

export interface ResultSettings {
  readonly region: string;
  readonly documentName: string;
  readonly alertTopicArn: string;
  readonly commandLogGroupName: string;
  /** The trigger, named in alerts so the engineer can run the backup again. */
  readonly triggerFunctionName: string;
}

export function loadResultSettings(env: NodeJS.ProcessEnv): ResultSettings {
  return {
    region: requireEnv('AWS_REGION', env),
    documentName: requireEnv(RESULT_ENV.documentName, env),
    alertTopicArn: requireEnv(RESULT_ENV.alertTopicArn, env),
    commandLogGroupName: requireEnv(RESULT_ENV.commandLogGroupName, env),
    triggerFunctionName: requireEnv(RESULT_ENV.triggerFunctionName, env),
  };
}

export const resultEventSchema = z.discriminatedUnion('detail-type', [invocationEventSchema, commandEventSchema]);
export type ResultEvent = z.infer<typeof resultEventSchema>;

export function parseResultEvent(event: unknown): ResultEvent {
  return parseEventWith(resultEventSchema, event);
}

export interface ResultDeps {
  readonly ssm: SSMClient;
  readonly sns: SNSClient;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly settings: ResultSettings;
  readonly retry?: Pick<RetryOptions, 'sleep' | 'random' | 'attempts'>;
}

/** What the command was sent for, from its own parameters. */
export interface RunIdentity {
  readonly target: string;
  readonly tier: string;
  readonly kind: string;
  readonly documentVersion: string;
}

export interface BackupFailure {
  readonly identity: RunIdentity;
  readonly instanceId: string;
  readonly commandId: string;
  /** Run Command's status detail (Failed, ExecutionTimedOut, DeliveryTimedOut, ...). */
  readonly status: string;
  /** The script's exit code; absent when it never ran or was stopped. */
  readonly exitCode?: number;
  readonly meaning: ExitCodeMeaning;
  readonly startedAt?: string;
  readonly durationSeconds?: number;
  /** The last lines of the error output, secrets redacted. */
  readonly stderrTail: readonly string[];
  readonly stderrTruncated: boolean;
}

export type ResultOutcome =
  | { readonly outcome: 'ignored'; readonly reason: string }
  | { readonly outcome: 'succeeded'; readonly identity: RunIdentity; readonly instanceId: string; readonly result: BackupResult }
  | { readonly outcome: 'failed'; readonly failure: BackupFailure; readonly alertMessageId?: string };

/**
 * Records the end of one backup run: metrics for every final status, an alert for every
 * failure. The alert goes out before the metrics are written, so a retry after a failed
 * publish neither loses the alert nor counts the run twice.
 */
export async function recordBackupResult(event: ResultEvent, deps: ResultDeps): Promise<ResultOutcome> {
  const { detail } = event;
  const ignored = ignoredBecause(detail, deps.settings.documentName, 'backup');
  if (ignored) return { outcome: 'ignored', reason: ignored };
  return event['detail-type'] === INVOCATION_DETAIL_TYPE
    ? recordInvocation(event.detail['command-id'], event.detail['instance-id'], deps)
    : recordCommandWithoutInstances(detail['command-id'], deps);
}

async function recordInvocation(commandId: string, instanceId: string, deps: ResultDeps): Promise<ResultOutcome> {
  const command = await describeCommand(commandId, deps);
  const invocation = await readInvocation(commandId, instanceId, deps);
  const identity =
    command.identity.documentVersion === 'unknown' && invocation.DocumentVersion
      ? { ...command.identity, documentVersion: invocation.DocumentVersion }
      : command.identity;
  const end = runEnd(invocation);

  if (invocation.Status === 'Success' && invocation.ResponseCode === 0) {
    const parsed = parseBackupResult(invocation.StandardOutputContent ?? '');
    if (parsed.found && parsed.result.target === identity.target && parsed.result.tier === identity.tier) {
      deps.metrics.addDimensions({ Target: identity.target, Tier: identity.tier });
      addCatalogMetric(deps.metrics, METRICS.backupSucceeded, 1);
      addCatalogMetric(deps.metrics, METRICS.backupDurationSeconds, parsed.result.durationSeconds);
      deps.metrics.publishStoredMetrics();
      deps.logger.info('backup succeeded', { ...identity, instanceId, commandId, key: parsed.result.key, bytes: parsed.result.bytes });
      return { outcome: 'succeeded', identity, instanceId, result: parsed.result };
    }
    const reason = parsed.found
      ? `its BACKUP_RESULT names target '${parsed.result.target}' tier '${parsed.result.tier}', not the ones it was sent for`
      : parsed.reason;
    return fail(
      {
        identity,
        instanceId,
        commandId,
        status: 'ResultMissing',
        exitCode: 0,
        meaning: {
          meaning: `the script exited 0 but the run cannot be confirmed: ${reason}`,
          nextStep:
            "Look for this run's object and manifest under the target's prefix in the backup bucket, and at the full output in CloudWatch Logs. The standard output must end with the BACKUP_RESULT line (Run Command keeps only its first 24,000 characters).",
        },
        ...timing(end),
        ...stderrTail(invocation),
      },
      deps,
    );
  }

  const { status, exitCode } = end;
  const meaning =
    RUN_STATUS_MEANINGS[status] ??
    (exitCode !== undefined ? describeExitCode(exitCode) : { meaning: `Run Command status ${status}`, nextStep: 'Read the output in CloudWatch Logs, fix the cause, then run a manual backup.' });
  return fail({ identity, instanceId, commandId, status, ...(exitCode !== undefined ? { exitCode } : {}), meaning, ...timing(end), ...stderrTail(invocation) }, deps);
}

/**
 * A command that reached no instance has no invocations, hence no invocation events: its
 * target's tag matched nothing. Without this check the backup would silently not happen.
 */
async function recordCommandWithoutInstances(commandId: string, deps: ResultDeps): Promise<ResultOutcome> {
  const command = await describeCommand(commandId, deps);
  if (command.targetCount > 0) {
    return { outcome: 'ignored', reason: 'the command reached instances; each invocation reports itself' };
  }
  return fail(
    {
      identity: command.identity,
      instanceId: '(none)',
      commandId,
      status: 'NoInstances',
      meaning: {
        meaning: "no instance matched the target's instances (tag or IDs): nothing was backed up",
        nextStep:
          "Check that the instances carry the tag named in the config (key and value are case-sensitive) and are running and managed by SSM, or fix the target's instances in the config and redeploy; then run a manual backup.",
      },
      stderrTail: [],
      stderrTruncated: false,
    },
    deps,
  );
}

interface CommandDescription {
  readonly identity: RunIdentity;
  readonly targetCount: number;
}

async function describeCommand(commandId: string, deps: ResultDeps): Promise<CommandDescription> {
  const { command, parameter } = await readCommand(commandId, deps);
  const named = (name: string) => parameter(name) || 'unknown';
  return {
    identity: { target: named('target'), tier: named('tier'), kind: named('kind'), documentVersion: command.DocumentVersion ?? 'unknown' },
    targetCount: command.TargetCount ?? 0,
  };
}

function timing(end: RunEnd): Pick<BackupFailure, 'startedAt' | 'durationSeconds'> {
  return { ...(end.startedAt ? { startedAt: end.startedAt } : {}), ...(end.durationSeconds !== undefined ? { durationSeconds: end.durationSeconds } : {}) };
}

function stderrTail(invocation: GetCommandInvocationCommandOutput): Pick<BackupFailure, 'stderrTail' | 'stderrTruncated'> {
  const tail = errorTail(invocation);
  return { stderrTail: tail.lines, stderrTruncated: tail.truncated };
}

async function fail(failure: BackupFailure, deps: ResultDeps): Promise<ResultOutcome> {
  const alertMessageId = await publishAlert(deps, deps.settings.alertTopicArn, formatFailureAlert(failure, deps.settings));
  deps.metrics.addDimensions({ Target: failure.identity.target, Tier: failure.identity.tier });
  addCatalogMetric(deps.metrics, METRICS.backupFailed, 1);
  if (failure.durationSeconds !== undefined) addCatalogMetric(deps.metrics, METRICS.backupDurationSeconds, failure.durationSeconds);
  deps.metrics.publishStoredMetrics();
  publishCatalogMetrics(deps.metrics, {}, [[METRICS.backupFailed, 1]]);
  deps.logger.error('backup failed', {
    ...failure.identity,
    instanceId: failure.instanceId,
    commandId: failure.commandId,
    status: failure.status,
    exitCode: failure.exitCode,
    alertMessageId,
  });
  return { outcome: 'failed', failure, ...(alertMessageId ? { alertMessageId } : {}) };
}

export type FailureAlert = Alert;

/** The e-mail an on-call engineer gets for a failed backup run. */
export function formatFailureAlert(failure: BackupFailure, settings: ResultSettings): FailureAlert {
  const { identity } = failure;
  const exit =
    failure.exitCode !== undefined
      ? `${failure.exitCode} (${failure.meaning.meaning})`
      : `none: the script did not finish (${failure.meaning.meaning})`;
  const hasInstance = failure.instanceId !== '(none)';
  const rerunEvent = JSON.stringify({ tier: identity.tier, target: identity.target });
  const run = runLinks(settings.region, settings.commandLogGroupName, failure.commandId, failure.instanceId);
  const lines = [
    `Backup FAILED: target ${identity.target}, tier ${identity.tier}, instance ${failure.instanceId}.`,
    '',
    `Target:     ${identity.target} (${identity.kind})`,
    `Tier:       ${identity.tier}`,
    `Instance:   ${failure.instanceId}`,
    `Status:     ${failure.status}`,
    `Exit code:  ${exit}`,
    ...(failure.startedAt ? [`Started:    ${failure.startedAt}`] : []),
    ...(failure.durationSeconds !== undefined ? [`Ran for:    ${failure.durationSeconds} s`] : []),
    `Command:    ${failure.commandId} (document ${settings.documentName}, version ${identity.documentVersion})`,
    '',
    ...(failure.stderrTail.length > 0
      ? errorTailBlock({ lines: failure.stderrTail, truncated: failure.stderrTruncated })
      : hasInstance
        ? ['The run wrote no error output.', '']
        : []),
    `Next step:  ${failure.meaning.nextStep}`,
    '',
    'Links:',
    `  This run:        ${hasInstance ? run.run : consoleLinks.runCommand(settings.region, failure.commandId)}`,
    ...(hasInstance ? [`  Full output:     ${run.output}`] : []),
    `  Run it again:    ${consoleLinks.lambdaTest(settings.region, settings.triggerFunctionName)}`,
    `                   with the test event ${rerunEvent}`,
  ];
  const subject = `backup-kit FAILED: ${identity.target} (${identity.tier}) on ${failure.instanceId}`.replace(/[\r\n]/g, ' ').slice(0, 100);
  return { subject, message: lines.join('\n') };
}
