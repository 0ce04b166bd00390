import { GetCommandInvocationCommand, type GetCommandInvocationCommandOutput } from '@aws-sdk/client-ssm';
import { PREFLIGHT_RESULT_PREFIX, preflightResultSchema, type Preflight } from '../../contracts/preflight';
import { describeRestoreExitCode, parseResultLine, type RestoreTarget } from '../../contracts/restore-command';
import { PermissionError, isAccessDenied } from '../../contracts/errors';
import { backoff, pinDocumentVersion, pinnedOrder, sendRestore, type ChosenBackup, type RestoreJobDeps } from './restore-job';
import { withThrottlingRetry } from './retry';
import { errorTail } from './run-command-result';

/**
 * Before a restore onto another instance (a new server, a standby): restore.sh in check mode on
 * that instance for each target, at once, and their answers, waited for. It changes nothing
 * there; the Run Command history shows it as "backup-kit preflight of <target>".
 */

/** Statuses after which the invocation will not change. */
const FINAL = new Set(['Success', 'Failed', 'Cancelled', 'TimedOut']);
/** Seconds between two looks at the answers, and how many looks before giving up (about a minute). */
const POLL_MS = 2000;
const POLLS = 30;

/** Exit codes that mean the instance could not read what the restore needs: its IAM. */
const CANNOT_READ = new Set([3, 5]);

/** The invocation, or undefined while SSM has not made it readable yet (a moment after SendCommand). */
async function readInvocation(commandId: string, instanceId: string, deps: RestoreJobDeps): Promise<GetCommandInvocationCommandOutput | undefined> {
  try {
    return await withThrottlingRetry(() => deps.ssm.send(new GetCommandInvocationCommand({ CommandId: commandId, InstanceId: instanceId })), backoff(deps));
  } catch (error) {
    if (isAccessDenied(error)) throw new PermissionError('ssm:GetCommandInvocation', error);
    if ((error as { name?: string }).name === 'InvocationDoesNotExist') return undefined;
    throw error;
  }
}

export async function preflightOnto(
  items: readonly { readonly target: RestoreTarget; readonly backup: ChosenBackup }[],
  instanceId: string,
  deps: RestoreJobDeps,
  documentVersion?: string,
): Promise<Preflight[]> {
  const pinned = documentVersion ?? (await pinDocumentVersion(deps));
  const sent = await Promise.all(
    items.map(async ({ target, backup }) => {
      const { commandId } = await sendRestore(target, { mode: 'check', ...pinnedOrder(backup), drill: false }, instanceId, `backup-kit preflight of ${target.backup.name}`, deps, pinned);
      return { target: target.backup.name, commandId };
    }),
  );
  const answers = new Map<string, GetCommandInvocationCommandOutput>();
  const sleep = deps.retry?.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  for (let poll = 0; poll < POLLS && answers.size < sent.length; poll += 1) {
    if (poll > 0) await sleep(POLL_MS);
    for (const { commandId } of sent.filter((candidate) => !answers.has(candidate.commandId))) {
      const invocation = await readInvocation(commandId, instanceId, deps);
      if (invocation?.Status !== undefined && FINAL.has(invocation.Status)) answers.set(commandId, invocation);
    }
  }
  return sent.map(({ target, commandId }) => {
    const invocation = answers.get(commandId);
    if (!invocation) {
      return { target, status: 'no answer', checks: [], commandId, detail: `the instance did not run the check within ${(POLL_MS * POLLS) / 1000} s: is its SSM agent busy or stopped? Run again, or follow the command ${commandId}` };
    }
    const result = parseResultLine(invocation.StandardOutputContent ?? '', PREFLIGHT_RESULT_PREFIX, preflightResultSchema);
    if (invocation.Status === 'Success' && result) return { target, status: result.ready ? 'ready' : 'not ready', checks: result.checks, commandId };
    const code = invocation.ResponseCode ?? -1;
    const meaning = describeRestoreExitCode(code);
    const reason = errorTail(invocation).lines.find((line) => / ERROR: /.test(line))?.replace(/^.* ERROR: (stage \S+ failed \(exit \d+\): )?/, '') ?? meaning.meaning;
    const hint = CANNOT_READ.has(code)
      ? `the instance cannot read the target's backups or its credentials: attach the target's restore and backup policies (jobs stack outputs RestorePolicy-${target} and InstancePolicy-${target}) to its role`
      : meaning.nextStep;
    return { target, status: 'failed', checks: [], commandId, detail: `the check stopped (exit ${code}): ${reason}; ${hint}` };
  });
}
