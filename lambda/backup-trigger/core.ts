import {
  SendCommandCommand,
  type SSMClient,
  type SendCommandCommandInput,
} from '@aws-sdk/client-ssm';
import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import * as z from '../../contracts/zod';
import {
  decodeTargetPlans,
  documentParametersFor,
  invalidDocumentParameters,
  targetPlanSchema,
  tierPlanSchema,
  TRIGGER_ENV,
  type BackupDestination,
  type TargetPlan,
  type TierLock,
  type TierPlan,
} from '../../contracts/backup-command';
import { consoleLinks } from '../../contracts/console-links';
import { redactSecrets } from '../shared/redact';
import { requireEnv } from '../shared/env';
import { InvalidEventError, RequestRejectedError, errorMessage, isAccessDenied } from '../../contracts/errors';
import { addCatalogMetric, type Logger, type Metrics } from '../shared/powertools';
import { isThrottling, withThrottlingRetry, type RetryOptions } from '../shared/retry';
import { METRICS } from '../../contracts/metric-catalog';
import { pinnedDocumentVersion } from '../shared/document-version';

/** Everything the trigger knows from its deployment (its environment). */
export interface TriggerSettings {
  readonly region: string;
  readonly functionName: string;
  readonly documentName: string;
  /** Canonical SHA-256 of the document content this deployment created. */
  readonly documentSha256: string;
  readonly destination: BackupDestination;
  /** Log group the instances send command output to. */
  readonly commandLogGroupName: string;
  readonly alertTopicArn: string;
  /** Seconds an instance has to pick up a command before it counts as not delivered. */
  readonly deliveryTimeoutSeconds: number;
  readonly tiers: TierPlan;
  readonly targets: readonly TargetPlan[];
}

/** Reads and validates the environment once; throws naming the variable at fault. */
export function loadTriggerSettings(env: NodeJS.ProcessEnv): TriggerSettings {
  const parse = <T>(name: string, schema: z.ZodMiniType<T>, decode: (raw: string) => unknown = JSON.parse): T => {
    let value: unknown;
    try {
      value = decode(requireEnv(name, env));
    } catch (error) {
      throw new Error(`environment variable ${name} cannot be read: ${errorMessage(error)}`);
    }
    const parsed = schema.safeParse(value);
    if (!parsed.success) {
      throw new Error(`environment variable ${name} is invalid: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    }
    return parsed.data;
  };
  const deliveryTimeoutSeconds = Number(requireEnv(TRIGGER_ENV.deliveryTimeoutSeconds, env));
  if (!Number.isInteger(deliveryTimeoutSeconds) || deliveryTimeoutSeconds < 30) {
    throw new Error(`environment variable ${TRIGGER_ENV.deliveryTimeoutSeconds} must be a whole number of seconds >= 30`);
  }
  const region = requireEnv('AWS_REGION', env);
  return {
    region,
    functionName: requireEnv('AWS_LAMBDA_FUNCTION_NAME', env),
    documentName: requireEnv(TRIGGER_ENV.documentName, env),
    documentSha256: requireEnv(TRIGGER_ENV.documentSha256, env),
    destination: { bucket: requireEnv(TRIGGER_ENV.bucket, env), kmsKeyArn: requireEnv(TRIGGER_ENV.kmsKeyArn, env), region },
    commandLogGroupName: requireEnv(TRIGGER_ENV.commandLogGroupName, env),
    alertTopicArn: requireEnv(TRIGGER_ENV.alertTopicArn, env),
    deliveryTimeoutSeconds,
    tiers: parse(TRIGGER_ENV.tiers, tierPlanSchema),
    targets: parse(TRIGGER_ENV.targets, z.array(targetPlanSchema), decodeTargetPlans),
  };
}

export interface TriggerRequest {
  readonly tier: string;
  /** One target only (console); absent: every target of the tier. */
  readonly target?: string;
}

/**
 * Validates an event against the configured tiers and targets: `{ "tier": "daily" }` from a
 * schedule, `{ "tier": "manual", "target": "orders-db" }` from the console.
 */
export function parseTriggerEvent(event: unknown, settings: Pick<TriggerSettings, 'tiers' | 'targets'>): TriggerRequest {
  const tierNames = Object.keys(settings.tiers);
  const targetNames = settings.targets.map((target) => target.name);
  const schema = z.strictObject(
    {
      tier: z.string({ error: `required: one of ${tierNames.join(', ')}` }).check(z.superRefine((tier, ctx) => {
        if (!tierNames.includes(tier)) ctx.addIssue({ code: 'custom', message: `unknown tier '${tier}' (configured tiers: ${tierNames.join(', ')})` });
      })),
      target: z.optional(z.string().check(z.superRefine((target, ctx) => {
          if (!targetNames.includes(target)) {
            ctx.addIssue({ code: 'custom', message: `unknown target '${target}' (configured targets: ${targetNames.join(', ') || 'none'})` });
          }
        }))),
    },
    { error: (issue) => (issue.code === 'unrecognized_keys' ? `unknown field ${issue.keys.map((key) => `'${key}'`).join(', ')} (the event takes tier and optionally target)` : undefined) },
  );
  const parsed = schema.safeParse(event);
  if (!parsed.success) throw InvalidEventError.fromZod(parsed.error);
  const { tier, target } = parsed.data;
  if (target !== undefined) {
    const plan = settings.targets.find((candidate) => candidate.name === target);
    if (plan && !plan.tiers.includes(tier)) {
      throw new RequestRejectedError(`target '${target}' does not take part in tier '${tier}' (its tiers: ${plan.tiers.join(', ')}); nothing was sent`, {
        target,
        tier,
      });
    }
  }
  return target === undefined ? { tier } : { tier, target };
}

export interface SentCommand {
  readonly target: string;
  readonly commandId: string;
  /** The instances asked, as sent (IDs, or `tag:<key>=<value>`). */
  readonly instances: string;
  readonly consoleLink: string;
}

export interface TargetError {
  readonly target: string;
  readonly instances: string;
  readonly error: string;
  readonly nextStep: string;
}

export interface TriggerResult {
  readonly tier: string;
  readonly document: { readonly name: string; readonly version: string };
  readonly commands: readonly SentCommand[];
  readonly errors: readonly TargetError[];
  readonly summary: string;
}

export interface TriggerDeps {
  readonly ssm: SSMClient;
  readonly sns: SNSClient;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly settings: TriggerSettings;
  /** Backoff for throttled calls; tests make it instant. */
  readonly retry?: Pick<RetryOptions, 'sleep' | 'random' | 'attempts'>;
}

/**
 * Sends one Run Command per target of the tier (or the one requested), each pinned to the
 * document version this deployment created. A target that cannot be sent is reported, alerted
 * and counted, and the others still go out.
 */
export async function triggerBackups(request: TriggerRequest, deps: TriggerDeps): Promise<TriggerResult> {
  const { settings, logger } = deps;
  const targets = settings.targets.filter((target) =>
    request.target === undefined ? target.tiers.includes(request.tier) : target.name === request.target,
  );
  const lock = settings.tiers[request.tier];
  if (lock === undefined) throw new RequestRejectedError(`unknown tier '${request.tier}'`);
  if (targets.length === 0) {
    logger.info('no target takes part in this tier', { tier: request.tier });
    return { tier: request.tier, document: { name: settings.documentName, version: '-' }, commands: [], errors: [], summary: `no target takes part in tier '${request.tier}'; nothing was sent` };
  }

  const version = await pinnedDocumentVersion(deps);
  const commands: SentCommand[] = [];
  const errors: TargetError[] = [];
  for (const target of targets) {
    const instances = describeInstances(target);
    try {
      const commandId = await sendBackupCommand(target, request.tier, lock, version, deps);
      commands.push({ target: target.name, commandId, instances, consoleLink: consoleLinks.runCommand(settings.region, commandId) });
      logger.info('backup command sent', { target: target.name, tier: request.tier, commandId, documentVersion: version });
    } catch (error) {
      const failure = { target: target.name, instances, error: errorMessage(error), nextStep: nextStepForSendError(error) };
      errors.push(failure);
      logger.error('backup command not sent', { ...failure, tier: request.tier, errorName: (error as Error)?.name });
      deps.metrics.addDimensions({ Target: target.name, Tier: request.tier });
      addCatalogMetric(deps.metrics, METRICS.backupSendFailed, 1);
      deps.metrics.publishStoredMetrics();
    }
  }
  if (errors.length > 0) await alertNotSent(request.tier, targets.length, errors, deps);

  const summary =
    errors.length === 0
      ? `sent ${commands.length} backup command(s) for tier '${request.tier}'`
      : `sent ${commands.length} of ${targets.length} backup command(s) for tier '${request.tier}'; ${errors.length} failed: ${errors.map((e) => e.target).join(', ')}`;
  return { tier: request.tier, document: { name: settings.documentName, version }, commands, errors, summary };
}


async function sendBackupCommand(target: TargetPlan, tier: string, lock: TierLock, version: string, deps: TriggerDeps): Promise<string> {
  const { settings } = deps;
  const parameters = documentParametersFor(target, tier, lock, settings.destination);
  const invalid = invalidDocumentParameters(parameters);
  if (invalid.length > 0) throw new InvalidTargetParametersError(invalid);
  const input: SendCommandCommandInput = {
    DocumentName: settings.documentName,
    DocumentVersion: version,
    ...('instanceIds' in target.instances
      ? { InstanceIds: [...target.instances.instanceIds] }
      : { Targets: [{ Key: `tag:${target.instances.tag.key}`, Values: [target.instances.tag.value] }] }),
    Parameters: parameters,
    Comment: `backup-kit ${tier} backup of ${target.name}`.slice(0, 100),
    MaxConcurrency: target.maxConcurrency,
    MaxErrors: target.maxErrors,
    TimeoutSeconds: settings.deliveryTimeoutSeconds,
    CloudWatchOutputConfig: { CloudWatchLogGroupName: settings.commandLogGroupName, CloudWatchOutputEnabled: true },
  };
  const sent = await withThrottlingRetry(() => deps.ssm.send(new SendCommandCommand(input)), backoffOptions(deps));
  const commandId = sent.Command?.CommandId;
  if (!commandId) throw new Error('SendCommand returned no command ID');
  return commandId;
}

/** A target's settings fail the document's allowedPattern; SSM would refuse the command. */
export class InvalidTargetParametersError extends Error {
  override readonly name = 'InvalidTargetParametersError';
  constructor(readonly problems: readonly string[]) {
    super(`the target's settings do not pass the document's parameter patterns: ${problems.join('; ')}`);
  }
}

/** SendCommand's quota stays exceeded for seconds when many targets go out at once: wait longer than the SDK does. */
function backoffOptions(deps: Pick<TriggerDeps, 'retry'>): RetryOptions {
  return { attempts: 6, baseDelayMs: 500, maxDelayMs: 8000, ...deps.retry };
}

function describeInstances(target: TargetPlan): string {
  return 'instanceIds' in target.instances
    ? target.instances.instanceIds.join(', ')
    : `tag:${target.instances.tag.key}=${target.instances.tag.value}`;
}

/** What an engineer does when a target could not be sent. */
export function nextStepForSendError(error: unknown): string {
  const name = (error as { name?: string } | undefined)?.name ?? '';
  if (name === 'InvalidInstanceId') {
    return 'The instance is not running, not in this region, or not managed by SSM. Check it in Fleet Manager (SSM agent online, instance role with AmazonSSMManagedInstanceCore), then run a manual backup of this target.';
  }
  if (isAccessDenied(error)) {
    return "The trigger's role may not send the backup document to these instances. Check that the instance IDs or tag in the config are the instances' real ones and that the jobs stack was deployed after the last config change.";
  }
  if (name === 'InvalidTargetParametersError' || name === 'InvalidParameters') {
    return "A setting of this target does not pass the backup document's parameter patterns. Fix the target in the config and redeploy.";
  }
  if (name === 'InvalidDocument' || name === 'InvalidDocumentVersion') {
    return 'The backup document or its pinned version is missing. Redeploy the jobs stack, then run a manual backup.';
  }
  if (isThrottling(error)) {
    return 'Systems Manager kept throttling the request. Run a manual backup of this target in a few minutes.';
  }
  return 'Read the error, fix the cause, then run a manual backup of this target.';
}

/** The e-mail an on-call engineer gets when targets could not even be sent. */
export function formatNotSentAlert(
  tier: string,
  total: number,
  errors: readonly TargetError[],
  settings: Pick<TriggerSettings, 'region' | 'functionName'>,
): { subject: string; message: string } {
  const lines = [
    `Backups NOT STARTED in tier '${tier}': ${errors.length} of ${total} target(s) could not be sent to their instances.`,
    '',
    ...errors.flatMap((failure) => [
      `Target:     ${failure.target}`,
      `Instances:  ${failure.instances}`,
      `Error:      ${redactSecrets(failure.error)}`,
      `Next step:  ${failure.nextStep}`,
      `Run again:  invoke ${settings.functionName} with {"tier":"${tier}","target":"${failure.target}"}`,
      '',
    ]),
    `Trigger function: ${consoleLinks.lambdaTest(settings.region, settings.functionName)}`,
  ];
  return { subject: `backup-kit: ${errors.length} backup(s) not started (${tier})`.slice(0, 100), message: lines.join('\n') };
}

async function alertNotSent(tier: string, total: number, errors: readonly TargetError[], deps: TriggerDeps): Promise<void> {
  const alert = formatNotSentAlert(tier, total, errors, deps.settings);
  try {
    await withThrottlingRetry(
      () => deps.sns.send(new PublishCommand({ TopicArn: deps.settings.alertTopicArn, Subject: alert.subject, Message: alert.message })),
      backoffOptions(deps),
    );
  } catch (error) {
    // The answer still lists every error; the function's log and metric keep the failure visible.
    deps.logger.error('could not publish the alert for unsent backups', { error: errorMessage(error) });
  }
}
