import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { SendCommandCommand, type SSMClient } from '@aws-sdk/client-ssm';
import { consoleLinks } from '../../contracts/console-links';
import { PermissionError, RequestRejectedError, isAccessDenied } from '../../contracts/errors';
import { rebuildComment, rebuildRecordKey, rebuildRecordSchema, type RebuildRecord, type RebuildStep } from '../../contracts/rebuild';
import { invalidRestoreParameters } from '../../contracts/restore-command';
import type { Logger } from './powertools';
import { withThrottlingRetry, type RetryOptions } from './retry';
import { runBackoff, type Alert } from './run-command-result';

/**
 * Running a rebuild's steps, shared by the restore function (which sends the first) and the
 * result function (which sends each next one and reports the end): the record in the backup
 * bucket, sending a step exactly as it was pinned, and the closing alert.
 */

export interface RebuildRunDeps {
  readonly s3: S3Client;
  readonly ssm: SSMClient;
  readonly logger: Logger;
  /** The backup bucket, which holds the records. */
  readonly bucket: string;
  readonly now: () => Date;
  readonly retry?: Pick<RetryOptions, 'sleep' | 'random' | 'attempts'>;
}

/** Writes the record; `create`: only if there is none yet (two rebuilds of a server in the same second are one too many). */
export async function writeRebuildRecord(record: RebuildRecord, deps: Pick<RebuildRunDeps, 's3' | 'bucket' | 'retry'>, options: { readonly create?: boolean } = {}): Promise<void> {
  const key = rebuildRecordKey(record.server, record.id);
  await withThrottlingRetry(
    () =>
      deps.s3.send(
        // The bucket is Object Locked: S3 refuses a write without a checksum.
        new PutObjectCommand({
          Bucket: deps.bucket,
          Key: key,
          Body: JSON.stringify(record, null, 2),
          ContentType: 'application/json',
          ChecksumAlgorithm: 'SHA256',
          ...(options.create ? { IfNoneMatch: '*' } : {}),
        }),
      ),
    runBackoff(deps),
  ).catch((error: unknown) => {
    if (isAccessDenied(error)) throw new PermissionError(`s3:PutObject on ${deps.bucket}/${key}`, error);
    if ((error as { name?: string }).name === 'PreconditionFailed') {
      throw new RequestRejectedError(`rebuild: a rebuild of '${record.server}' started at ${record.requestedAt} already (${key}); nothing more was sent`);
    }
    throw error;
  });
}

/** The record, or undefined when there is none (or it is not a record). */
export async function readRebuildRecord(server: string, id: string, deps: Pick<RebuildRunDeps, 's3' | 'bucket' | 'retry' | 'logger'>): Promise<RebuildRecord | undefined> {
  const key = rebuildRecordKey(server, id);
  let text: string;
  try {
    text = await withThrottlingRetry(async () => (await deps.s3.send(new GetObjectCommand({ Bucket: deps.bucket, Key: key }))).Body?.transformToString() ?? '', runBackoff(deps));
  } catch (error) {
    if ((error as { name?: string }).name === 'NoSuchKey') return undefined;
    if (isAccessDenied(error)) throw new PermissionError(`s3:GetObject on ${deps.bucket}/${key}`, error);
    throw error;
  }
  try {
    return rebuildRecordSchema.parse(JSON.parse(text));
  } catch (error) {
    deps.logger.error('rebuild record is not valid', { key, error: String(error).slice(0, 500) });
    return undefined;
  }
}

/**
 * Sends step `index` to the rebuild's instance with the parameters pinned at the start (checked
 * against the document's patterns again) and records it as running.
 */
export async function sendRebuildStep(record: RebuildRecord, index: number, deps: RebuildRunDeps): Promise<RebuildRecord> {
  const step = record.steps[index];
  if (!step) throw new Error(`rebuild ${record.server} ${record.id} has no step ${index + 1}`);
  const invalid = invalidRestoreParameters(step.parameters);
  if (invalid.length > 0) throw new RequestRejectedError(`the restore of '${step.target}' does not pass the document's patterns: ${invalid.join('; ')}`);
  // Recorded before the send: if this function stops between the two, a retry finds the step
  // 'sending' and reports it instead of sending the restore again.
  await writeRebuildRecord(withStep(record, index, { ...step, status: 'sending' }), deps);
  const sent = await withThrottlingRetry(
    () =>
      deps.ssm.send(
        new SendCommandCommand({
          DocumentName: record.documentName,
          DocumentVersion: record.documentVersion,
          InstanceIds: [record.onto],
          Parameters: step.parameters,
          Comment: rebuildComment(record, index),
          TimeoutSeconds: record.deliveryTimeoutSeconds,
          CloudWatchOutputConfig: { CloudWatchLogGroupName: record.commandLogGroupName, CloudWatchOutputEnabled: true },
        }),
      ),
    runBackoff(deps),
  ).catch((error: unknown) => {
    if (isAccessDenied(error)) throw new PermissionError(`ssm:SendCommand of ${record.documentName} to ${record.onto}`, error);
    throw error;
  });
  const commandId = sent.Command?.CommandId;
  if (!commandId) throw new Error('SendCommand returned no command ID');
  const updated = withStep(record, index, { ...step, status: 'running', commandId, startedAt: deps.now().toISOString() });
  await writeRebuildRecord(updated, deps);
  deps.logger.info('rebuild step sent', { server: record.server, id: record.id, step: index + 1, of: record.steps.length, target: step.target, commandId });
  return updated;
}

export function withStep(record: RebuildRecord, index: number, step: RebuildStep): RebuildRecord {
  return { ...record, steps: record.steps.map((existing, at) => (at === index ? step : existing)) };
}

/** What ended a step: its run's outcome as the result function read it. */
export interface StepEnd {
  readonly succeeded: boolean;
  readonly durationSeconds?: number;
  readonly restoredTo?: string;
  readonly detail?: string;
}

/**
 * Records how step `index` ended; when it succeeded and another follows, sends that one;
 * otherwise the rebuild is over (the steps after a failure do not run).
 */
export async function advanceRebuild(record: RebuildRecord, index: number, end: StepEnd, deps: RebuildRunDeps): Promise<{ record: RebuildRecord; finished: boolean }> {
  const step = record.steps[index] as RebuildStep;
  let next = withStep(record, index, {
    ...step,
    status: end.succeeded ? 'succeeded' : 'failed',
    finishedAt: deps.now().toISOString(),
    ...(end.durationSeconds !== undefined ? { durationSeconds: end.durationSeconds } : {}),
    ...(end.restoredTo !== undefined ? { restoredTo: end.restoredTo } : {}),
    ...(end.detail !== undefined ? { detail: end.detail } : {}),
  });
  if (end.succeeded && index + 1 < record.steps.length) {
    try {
      // The finished step is recorded with the 'sending' mark of the next one (one write).
      return { record: await sendRebuildStep(next, index + 1, deps), finished: false };
    } catch (error) {
      // The next step could not be sent: the rebuild ends here, and the alert says why.
      deps.logger.error('rebuild step not sent', { server: record.server, id: record.id, step: index + 2, error: String(error) });
      next = withStep(next, index + 1, { ...(next.steps[index + 1] as RebuildStep), status: 'failed', detail: `not sent: ${error instanceof Error ? error.message : String(error)}` });
      index += 1;
    }
  }
  const finished: RebuildRecord = {
    ...next,
    steps: next.steps.map((candidate, at) => (at > index && candidate.status === 'pending' ? { ...candidate, status: 'not run', detail: 'an earlier target failed' } : candidate)),
    finishedAt: deps.now().toISOString(),
  };
  await writeRebuildRecord(finished, deps);
  return { record: finished, finished: true };
}

/**
 * A rebuild whose step `index` is 'sending': the function that was sending it stopped before it
 * recorded the command, so whether the restore runs is unknown. Never sent again: the rebuild
 * ends here and the alert says where to look.
 */
export async function endInterruptedRebuild(record: RebuildRecord, index: number, deps: RebuildRunDeps): Promise<RebuildRecord> {
  const step = record.steps[index] as RebuildStep;
  const interrupted = withStep(record, index, {
    ...step,
    status: 'failed',
    detail: `its sending was interrupted, so it may or may not run: look in Run Command for "${rebuildComment(record, index)}" on ${record.onto}, and restore '${step.target}' by hand if it did not run`,
  });
  const finished: RebuildRecord = {
    ...interrupted,
    steps: interrupted.steps.map((candidate, at) => (at > index && candidate.status === 'pending' ? { ...candidate, status: 'not run', detail: 'an earlier target failed' } : candidate)),
    finishedAt: deps.now().toISOString(),
  };
  await writeRebuildRecord(finished, deps);
  return finished;
}

/** Seconds from the request to the end of the last step: the rebuild's measured recovery time. */
export function rebuildSeconds(record: RebuildRecord): number | undefined {
  if (record.finishedAt === undefined) return undefined;
  return Math.round((new Date(record.finishedAt).getTime() - new Date(record.requestedAt).getTime()) / 1000);
}

/** The one message of a rebuild: every target's result and the total time. */
export function rebuildAlert(record: RebuildRecord, region: string, bucket: string): Alert {
  const succeeded = record.steps.filter((step) => step.status === 'succeeded').length;
  const all = succeeded === record.steps.length;
  const seconds = rebuildSeconds(record);
  const what = record.drill ? 'rebuild drill' : 'rebuild';
  const What = record.drill ? 'Rebuild drill' : 'Rebuild';
  const took = seconds === undefined ? 'unknown' : seconds < 120 ? `${seconds} s` : `${seconds} s (${Math.round(seconds / 60)} min)`;
  const line = (step: RebuildStep, at: number) => {
    const head = `  ${at + 1}. ${step.target} (${step.kind}): ${step.status}${step.durationSeconds !== undefined ? ` in ${step.durationSeconds} s` : ''}`;
    return [
      head,
      `       backup ${step.key}`,
      ...(step.restoredTo ? [`       restored into ${step.restoredTo}`] : []),
      ...(step.detail ? [`       ${step.detail}`] : []),
      ...(step.commandId ? [`       run: ${consoleLinks.runCommandInvocation(region, step.commandId, record.onto)}`] : []),
    ];
  };
  return {
    subject: all
      ? `backup-kit ${what} done: ${record.server} onto ${record.onto} in ${took}`
      : `backup-kit ${what} FAILED: ${record.server} onto ${record.onto} (${succeeded} of ${record.steps.length} restored)`,
    message: [
      all
        ? `${What} of server ${record.server} onto ${record.onto} finished: all ${record.steps.length} targets restored (${record.drill ? 'scratch copies, checked against their manifests and removed' : record.mode}), in ${took} from the request to the last target's end.`
        : `${What} of server ${record.server} onto ${record.onto} FAILED: ${succeeded} of ${record.steps.length} targets restored (${record.mode}); the targets after the failed one were not started.${record.drill ? '' : ' Data already restored stays in place.'}`,
      '',
      ...record.steps.flatMap(line),
      '',
      `Requested:   ${record.requestedAt}${record.requestedBy ? ` by ${record.requestedBy}` : ''}`,
      `Record:      s3://${bucket}/${rebuildRecordKey(record.server, record.id)}`,
      record.drill && all
        ? 'Next step:   none; this time is the measured recovery time of the server (without launching the instance).'
        : all
        ? 'Next step:   check the service on the instance, then point DNS or the load balancer at it (docs/runbooks/lost-server.md).'
        : 'Next step:   read the failed target\'s output (its run link), fix the cause, and rebuild again (targets already restored can be left out by restoring the others one by one).',
    ].join('\n'),
  };
}
