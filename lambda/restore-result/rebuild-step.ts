import type { ExitCodeMeaning } from '../../contracts/backup-command';
import { parseRebuildComment, type RebuildRecord } from '../../contracts/rebuild';
import type { RestoreScriptResult } from '../../contracts/restore-command';
import { advanceRebuild, endInterruptedRebuild, readRebuildRecord, rebuildAlert, type RebuildRunDeps } from '../shared/rebuild-run';
import { publishAlert } from '../shared/run-command-result';
import type { RestoreResultDeps, RunFacts } from './core';

/**
 * A finished restore that is a step of a rebuild (its comment names the rebuild): recorded in
 * the rebuild's record; the next target is sent when this one succeeded; one alert at the end.
 */

export interface RebuildStepOutcome {
  readonly server: string;
  readonly id: string;
  readonly step: number;
  readonly finished: boolean;
  readonly alertMessageId?: string;
  /** Why the event changed nothing (no record, or not the command the record expects). */
  readonly ignored?: string;
}

/** How long to wait for the record to name a command that finished within moments of being sent. */
const RECORD_READS = 4;

export function isRebuildStep(facts: Pick<RunFacts, 'comment'>): boolean {
  return parseRebuildComment(facts.comment) !== undefined;
}

export async function recordRebuildStep(
  facts: RunFacts,
  succeeded: boolean,
  result: RestoreScriptResult | undefined,
  meaning: ExitCodeMeaning | undefined,
  deps: RestoreResultDeps,
): Promise<RebuildStepOutcome> {
  const named = parseRebuildComment(facts.comment);
  if (!named) throw new Error(`not a rebuild step: ${facts.comment}`);
  const { server, id, index } = named;
  const outcome = { server, id, step: index + 1 };
  const runDeps: RebuildRunDeps = { ...deps, bucket: deps.settings.bucket };
  const sleep = deps.retry?.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  let record: RebuildRecord | undefined;
  for (let read = 1; read <= RECORD_READS; read += 1) {
    record = await readRebuildRecord(server, id, runDeps);
    // The restore function records the command ID just after SendCommand returns.
    if (record?.steps[index]?.commandId === facts.commandId || read === RECORD_READS) break;
    await sleep(1000 * read);
  }
  const step = record?.steps[index];
  // Only the command the record sent advances it: a comment alone (anyone may write one) does not.
  const ignored = !record
    ? 'no rebuild record'
    : step?.commandId !== facts.commandId
      ? `step ${index + 1} of the record is command ${step?.commandId ?? 'none'}, not ${facts.commandId}`
      : record.onto !== facts.instanceId
        ? `the record rebuilds onto ${record.onto}, not ${facts.instanceId}`
        : step.status !== 'running'
          ? `step ${index + 1} is already ${step.status}`
          : undefined;
  if (ignored || !record) {
    // A retry of this event after the function stopped while sending the next step: end it, never resend.
    const nextIndex = index + 1;
    if (record && step?.commandId === facts.commandId && step.status === 'succeeded' && record.steps[nextIndex]?.status === 'sending') {
      const ended = await endInterruptedRebuild(record, nextIndex, runDeps);
      const alertMessageId = await publishAlert(deps, deps.settings.alertTopicArn, rebuildAlert(ended, deps.settings.region, deps.settings.bucket));
      deps.logger.error('rebuild ended: a step was being sent when the function stopped', { ...outcome, interruptedStep: nextIndex + 1 });
      return { ...outcome, finished: true, ...(alertMessageId ? { alertMessageId } : {}) };
    }
    deps.logger.error('rebuild step not recorded', { ...outcome, commandId: facts.commandId, reason: ignored });
    return { ...outcome, finished: false, ignored: ignored ?? 'no rebuild record' };
  }
  const detail = succeeded
    ? undefined
    : `${facts.status}, exit code ${facts.exitCode ?? 'none'}${meaning ? ` - ${meaning.meaning}` : ''}${meaning?.nextStep ? `. ${meaning.nextStep}` : ''}`;
  const advanced = await advanceRebuild(
    record,
    index,
    {
      succeeded,
      ...(facts.durationSeconds !== undefined ? { durationSeconds: facts.durationSeconds } : {}),
      ...(result?.restoredTo !== undefined ? { restoredTo: result.restoredTo } : {}),
      ...(detail !== undefined ? { detail } : {}),
    },
    runDeps,
  );
  if (!advanced.finished) return { ...outcome, finished: false };
  const alertMessageId = await publishAlert(deps, deps.settings.alertTopicArn, rebuildAlert(advanced.record, deps.settings.region, deps.settings.bucket));
  deps.logger.info('rebuild finished', { server, id, steps: advanced.record.steps.map((candidate) => ({ target: candidate.target, status: candidate.status, durationSeconds: candidate.durationSeconds })) });
  return { ...outcome, finished: true, ...(alertMessageId ? { alertMessageId } : {}) };
}
