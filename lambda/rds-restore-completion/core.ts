import { AddTagsToResourceCommand, type DBInstance, type RDSClient } from '@aws-sdk/client-rds';
import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import * as z from '../../contracts/zod';
import { consoleLinks } from '../../contracts/console-links';
import { parseEventWith } from '../../contracts/errors';
import { RESTORE_TAGS, isoSeconds, sourceOfRestoredInstance, type RestoreSettings } from '../../contracts/rds';
import { describeDbInstanceIfExists } from '../shared/rds-instances';
import { awsCall, type RetryOptions } from '../shared/retry';

/**
 * The part of an EventBridge "RDS DB Instance Event" this function reads. Not strict: AWS
 * adds fields to its events over time.
 */
export const rdsInstanceEventSchema = z.object({
  'detail-type': z.literal('RDS DB Instance Event'),
  source: z.literal('aws.rds'),
  region: z.string().check(z.minLength(1)),
  time: z.iso.datetime({ offset: true }),
  detail: z.object({
    SourceIdentifier: z.string().check(z.minLength(1)),
    EventID: z.optional(z.string()),
    Message: z.optional(z.string()),
  }),
});
export type RdsInstanceEvent = z.infer<typeof rdsInstanceEventSchema>;

export function parseRdsInstanceEvent(event: unknown): RdsInstanceEvent {
  return parseEventWith(rdsInstanceEventSchema, event);
}

export interface CompletionDependencies {
  readonly rds: { readonly primary: RDSClient; readonly dr: RDSClient };
  readonly sns: SNSClient;
  readonly topicArn: string;
  /** Records the measured restore time (the RTO) for the source. */
  readonly recordMinutes: (source: string, minutes: number) => void;
  readonly retry?: RetryOptions;
}

export type CompletionOutcome =
  | { readonly outcome: 'ignored'; readonly reason: string }
  | { readonly outcome: 'waiting'; readonly status: string }
  | { readonly outcome: 'reported-available'; readonly target: string; readonly minutes: number | undefined }
  | { readonly outcome: 'reported-failed'; readonly target: string; readonly status: string };

/** Statuses in which the restored instance answers on its endpoint. */
const READY = new Set(['available', 'backing-up']);

/** Statuses in which the restored instance will never become usable. */
const FAILED = new Set([
  'failed',
  'incompatible-restore',
  'incompatible-parameters',
  'incompatible-network',
  'inaccessible-encryption-credentials',
  'storage-full',
]);

/**
 * Reports a restore this app started once RDS says the instance is usable (or broken): an SNS
 * message with endpoint, port, restore point and minutes taken, and the minutes as a metric.
 * Instances not created by the restore function, or already reported, are left alone.
 */
export async function reportRestoreCompletion(
  event: RdsInstanceEvent,
  settings: RestoreSettings,
  deps: CompletionDependencies,
): Promise<CompletionOutcome> {
  const identifier = event.detail.SourceIdentifier;
  const regionRole = event.region === settings.primaryRegion ? 'primary' : event.region === settings.drRegion ? 'dr' : undefined;
  if (!regionRole) return { outcome: 'ignored', reason: `event from ${event.region}, neither the primary nor the DR region` };
  const source = sourceOfRestoredInstance(settings, identifier);
  if (!source) return { outcome: 'ignored', reason: `${identifier} is not named after an allowlisted source` };

  const client = deps.rds[regionRole];
  const instance = await describe(client, identifier, deps);
  if (!instance) return { outcome: 'ignored', reason: `${identifier} no longer exists` };
  const tag = (key: string) => instance.TagList?.find((candidate) => candidate.Key === key)?.Value;
  if (tag(RESTORE_TAGS.restoredFrom) !== source.identifier) {
    return { outcome: 'ignored', reason: `${identifier} has no ${RESTORE_TAGS.restoredFrom}=${source.identifier} tag: the restore function did not create it` };
  }
  if (tag(RESTORE_TAGS.completedAt)) {
    return { outcome: 'ignored', reason: `${identifier} was already reported at ${tag(RESTORE_TAGS.completedAt) ?? ''}` };
  }
  const status = instance.DBInstanceStatus ?? 'unknown';
  const facts = {
    target: identifier,
    region: event.region,
    source: source.identifier,
    restorePoint: tag(RESTORE_TAGS.restorePoint) ?? tag(RESTORE_TAGS.restoreTime) ?? 'unknown',
    restoreTime: tag(RESTORE_TAGS.restoreTime) ?? 'unknown',
    requestedBy: tag(RESTORE_TAGS.requestedBy) ?? 'unspecified',
    requestedAt: tag(RESTORE_TAGS.requestedAt),
    requestId: tag(RESTORE_TAGS.requestId) ?? 'unknown',
    consoleLink: consoleLinks.rdsInstance(event.region, identifier),
  };

  if (FAILED.has(status)) {
    await publish(deps, `RDS restore FAILED: ${identifier} (${status})`, failureMessage(facts, status, event));
    await markReported(client, instance, deps);
    return { outcome: 'reported-failed', target: identifier, status };
  }
  if (!READY.has(status) || !instance.Endpoint?.Address) {
    return { outcome: 'waiting', status };
  }

  const minutes = minutesTaken(facts.requestedAt, instance.InstanceCreateTime, new Date(event.time));
  await publish(
    deps,
    `RDS restore ready: ${identifier}${minutes === undefined ? '' : ` (${minutes} min)`}`,
    readyMessage(facts, instance, minutes),
  );
  if (minutes !== undefined) deps.recordMinutes(source.identifier, minutes);
  await markReported(client, instance, deps);
  return { outcome: 'reported-available', target: identifier, minutes };
}

/**
 * Minutes from the request to the instance being ready: RDS's create time of the instance,
 * or the event's time when RDS gives none (or one before the request, which cannot be ours).
 */
export function minutesTaken(requestedAt: string | undefined, instanceCreateTime: Date | undefined, eventTime: Date): number | undefined {
  const requested = requestedAt ? Date.parse(requestedAt) : Number.NaN;
  if (Number.isNaN(requested)) return undefined;
  const ready = instanceCreateTime && instanceCreateTime.getTime() >= requested ? instanceCreateTime.getTime() : eventTime.getTime();
  return Math.max(0, Math.round((ready - requested) / 6_000) / 10);
}

interface Facts {
  readonly target: string;
  readonly region: string;
  readonly source: string;
  readonly restorePoint: string;
  readonly restoreTime: string;
  readonly requestedBy: string;
  readonly requestedAt: string | undefined;
  readonly requestId: string;
  readonly consoleLink: string;
}

function readyMessage(facts: Facts, instance: DBInstance, minutes: number | undefined): string {
  const point = facts.restoreTime === 'latest' ? `${facts.restorePoint} (latest restorable time when requested)` : facts.restorePoint;
  return [
    `The point-in-time restore of ${facts.source} is available.`,
    '',
    `Instance:     ${facts.target} (${facts.region})`,
    ...(instance.DBClusterIdentifier ? [`Cluster:      ${instance.DBClusterIdentifier} (connect to its writer endpoint: ${consoleLinks.rdsCluster(facts.region, instance.DBClusterIdentifier)})`] : []),
    `Endpoint:     ${instance.Endpoint?.Address ?? 'unknown'}`,
    `Port:         ${instance.Endpoint?.Port ?? 'unknown'}`,
    `Restored to:  ${point}`,
    `Requested:    ${facts.requestedAt ?? 'unknown'} by ${facts.requestedBy} (Lambda request ${facts.requestId})`,
    `Took:         ${minutes === undefined ? 'unknown (no request time tag)' : `${minutes} minutes from request to available`}`,
    `Console:      ${facts.consoleLink}`,
    '',
    'Next: log in with the source\'s credentials as they were at the restore point, check the data, then either copy',
    'the rows you need back to the source, or point the application at this endpoint (runbook',
    'docs/runbooks/rds-point-in-time.md). Deletion protection is on; the runbook says how to remove the copy.',
  ].join('\n');
}

function failureMessage(facts: Facts, status: string, event: RdsInstanceEvent): string {
  return [
    `The point-in-time restore of ${facts.source} failed: ${facts.target} is '${status}'.`,
    '',
    `Instance:     ${facts.target} (${facts.region})`,
    `RDS says:     ${event.detail.Message ?? '(no message)'} [${event.detail.EventID ?? 'no event ID'}]`,
    `Restore to:   ${facts.restorePoint}`,
    `Requested:    ${facts.requestedAt ?? 'unknown'} by ${facts.requestedBy} (Lambda request ${facts.requestId})`,
    `Console:      ${facts.consoleLink}`,
    '',
    'Next: read the instance\'s events in the console, delete the failed instance (runbook "Clean up"),',
    'and restore again, with another instance class or in the other region if the cause is capacity.',
  ].join('\n');
}

async function publish(deps: CompletionDependencies, subject: string, message: string): Promise<void> {
  // SNS subjects are limited to 100 characters.
  await awsCall('sns:Publish', () => deps.sns.send(new PublishCommand({ TopicArn: deps.topicArn, Subject: subject.slice(0, 100), Message: message })), deps.retry);
}

/** Tags the instance as reported so that later events (RDS sends several) do not report it again. */
async function markReported(client: RDSClient, instance: DBInstance, deps: CompletionDependencies): Promise<void> {
  if (!instance.DBInstanceArn) return;
  await awsCall(
    'rds:AddTagsToResource',
    () =>
      client.send(
        new AddTagsToResourceCommand({ ResourceName: instance.DBInstanceArn, Tags: [{ Key: RESTORE_TAGS.completedAt, Value: isoSeconds(new Date()) }] }),
      ),
    deps.retry,
  );
}

function describe(client: RDSClient, identifier: string, deps: CompletionDependencies): Promise<DBInstance | undefined> {
  return describeDbInstanceIfExists(client, identifier, deps.retry);
}
