import { consoleLinks } from '../../contracts/console-links';
import { isWithin, livePathsOf, pathsOverlap, withoutTrailingSlash } from '../../contracts/paths';
import { RequestRejectedError } from '../../contracts/errors';
import {
  defaultScratchRoot,
  scratchNameProblem,
  type RestoreOrder,
  type RestoreSite,
  type RestoreTarget,
} from '../../contracts/restore-command';
import type { RestoreRequest } from '../../contracts/restore-event';
import { chooseBackup, findTarget, pinDocumentVersion, pinnedOrder, sendRestore, type ChosenBackup, type RestoreJobDeps } from '../shared/restore-job';
import { checkInstanceOfTarget, checkOntoOfTarget, chooseInstance, chooseOntoInstance, type ChosenInstance } from '../shared/restore-instance';
import { preflightProblems, type Preflight } from '../../contracts/preflight';
import { preflightOnto } from '../shared/preflight';

/**
 * Restores one EC2 target's backup on its instance, from the Lambda console: picks the backup
 * (a given key, the newest before a time, or the newest verified one), the instance (exactly
 * one), says what would change, and sends the restore document. The instance script checks
 * the backup against its manifest before it touches anything.
 */

// ------------------------------------------------------------------ where a scratch copy may go

/** The directory a sqlite or files target's scratch copies go to. */
export function scratchRootOf(target: RestoreTarget): string {
  return withoutTrailingSlash(target.restore.scratchRoot ?? defaultScratchRoot(target.backup.name));
}

/**
 * A scratch path must lie strictly inside the target's scratch root and clear of every
 * configured target's live path (restore.sh checks it again on the instance, links resolved).
 */
function checkScratchPath(path: string, target: RestoreTarget, targets: readonly RestoreTarget[]): void {
  const root = scratchRootOf(target);
  const plain = withoutTrailingSlash(path);
  if (!isWithin(plain, root) || plain === root) {
    throw new RequestRejectedError(`scratchPath: '${path}' is not inside the scratch root ${root} of '${target.backup.name}'; scratch copies go there only (omit scratchPath for ${root}/<name>.restore-<stamp>)`);
  }
  for (const candidate of targets) {
    const live = livePathsOf(candidate.backup).find((livePath) => pathsOverlap(plain, livePath));
    if (live !== undefined) throw new RequestRejectedError(`scratchPath: '${path}' overlaps the live path ${live} of target '${candidate.backup.name}'`);
  }
}

// ------------------------------------------------------------------ what would change

type PlannedOrder = Pick<RestoreOrder, 'mode' | 'scratchName' | 'scratchPath' | 'versionId' | 'manifestVersionId'>;

export function whatWouldChange(target: RestoreTarget, site: RestoreSite, order: PlannedOrder, instance: Pick<ChosenInstance, 'instanceId' | 'onto'>): string[] {
  const changes = changesOnTheInstance(target, site, order, instance);
  if (!instance.onto) return changes;
  const live = target.backup.database ? `database ${target.backup.database.name}` : livePathsOf(target.backup).join(', ');
  return [
    ...changes,
    ...(order.mode === 'replace'
      ? [`where ${live} does not exist on ${instance.instanceId} (a rebuilt server), there is nothing to keep: no safety backup, and the restored copy is put in its place`]
      : []),
    `nothing is sent to the target's own instances: they are not touched`,
  ];
}

function changesOnTheInstance(target: RestoreTarget, site: RestoreSite, order: PlannedOrder, instance: Pick<ChosenInstance, 'instanceId' | 'onto'>): string[] {
  const plan = target.backup;
  const stamp = '<UTC stamp of the run>';
  const where = instance.onto ? `on ${instance.instanceId} (not one of the target's own instances: an instance it may be restored onto)` : `on ${instance.instanceId}`;
  const safetyOf = (what: string) => `takes a safety backup of ${what} through the backup script, in tier '${site.safetyTier}' (kept ${site.safetyRetentionDays} days); if it fails, nothing else happens`;
  const safety = safetyOf('the live data');
  const check = `downloads version ${order.versionId} of the backup and version ${order.manifestVersionId} of its manifest (never a later one written over them), and checks SHA-256 and size before touching anything; a mismatch stops the restore`;
  if (plan.database) {
    const live = `${plan.database.name} on ${plan.database.host}:${plan.database.port}`;
    if (order.mode === 'scratch') {
      return [check, `creates a new database ${order.scratchName ?? `${plan.database.name}_restore_${stamp}`} ${where} and loads the backup into it`, `the live database ${live} is not touched`];
    }
    const swap =
      plan.kind === 'postgres'
        ? `ends the sessions on ${plan.database.name} and, in one transaction, renames ${plan.database.name} to ${plan.database.name}_pre_restore_${stamp} and the new database to ${plan.database.name}`
        : `moves every table of ${plan.database.name} into ${plan.database.name}_pre_restore_${stamp} and the restored tables into ${plan.database.name} with one RENAME TABLE statement (all or none)`;
    return [check, safety, `restores into a new database ${plan.database.name}_rs_${stamp}; live ${live} keeps serving meanwhile`, swap, 'the previous data is kept, never dropped: drop it yourself once the restore is confirmed'];
  }
  if (plan.paths) return pathSetChanges(target, order, where, check, safetyOf('those of the paths that exist'), plan.paths);
  const path = plan.path ?? '';
  if (order.mode === 'scratch') {
    const root = scratchRootOf(target);
    const destination = order.scratchPath ?? `${root}/${path.split('/').pop() ?? ''}.restore-${stamp}`;
    return [check, `writes the restored ${plan.kind === 'sqlite' ? 'file' : 'directory'} to ${destination} ${where}, readable by root only (scratch root ${root}, created 0700 if missing)`, `${path} is not touched`];
  }
  return [
    check,
    safety,
    `restores into a temporary ${plan.kind === 'sqlite' ? 'file' : 'directory'} beside ${path} (same file system)${plan.kind === 'sqlite' ? '; refuses if a process has the database open' : ''}`,
    `swaps it in with an atomic rename and keeps the previous one as ${path}.pre-restore-${stamp}`,
  ];
}

/** A files target with several paths: extracted once and checked, then each put in its own place. */
function pathSetChanges(target: RestoreTarget, order: PlannedOrder, where: string, check: string, safety: string, paths: readonly string[]): string[] {
  const stamp = '<UTC stamp of the run>';
  if (order.mode === 'scratch') {
    const root = scratchRootOf(target);
    const destination = order.scratchPath ?? `${root}/${target.backup.name}.restore-${stamp}`;
    return [check, `writes the restored paths below ${destination} ${where} (each at ${destination}/<its path>), readable by root only (scratch root ${root}, created 0700 if missing)`, `${paths.join(', ')} are not touched`];
  }
  return [
    check,
    safety,
    `extracts the backup into the private work directory and checks it against the manifest; a backup that lacks one of the paths stops the restore before anything changes`,
    `then, one path after another, moves it beside its place (creating missing directories above it, root's and 0755) and swaps it in with an atomic rename, keeping the previous one as <path>.pre-restore-${stamp}: ${paths.join(', ')}`,
    'only these paths are written: anything else the archive holds stays in the work directory, which is removed',
  ];
}

// ------------------------------------------------------------------ the job

export interface RestorePlan {
  readonly target: string;
  readonly kind: string;
  readonly mode: 'scratch' | 'replace';
  readonly backup: ChosenBackup;
  readonly instance: ChosenInstance;
  readonly whatWouldChange: readonly string[];
  readonly document: string;
  /** Onto another instance: what restore.sh's read-only check found there (tools, database server, directories, space). */
  readonly preflight?: Preflight;
}

export type RestoreAnswer =
  | ({ readonly outcome: 'dry-run'; readonly next: string } & RestorePlan)
  | ({ readonly outcome: 'started'; readonly commandId: string; readonly documentVersion: string; readonly consoleLink: string; readonly next: string } & RestorePlan);

export async function startRestore(request: RestoreRequest, deps: RestoreJobDeps): Promise<RestoreAnswer> {
  const { settings } = deps;
  const target = findTarget(settings, request.target);
  const database = target.backup.database !== undefined;
  if (request.scratchName !== undefined && !database) {
    throw new RequestRejectedError(`scratchName: '${target.backup.name}' is ${target.backup.kind}; use scratchPath`);
  }
  if (request.scratchPath !== undefined && database) {
    throw new RequestRejectedError(`scratchPath: '${target.backup.name}' is ${target.backup.kind}; use scratchName`);
  }
  if (request.scratchName !== undefined) {
    const problem = scratchNameProblem(request.scratchName, target, settings.targets);
    if (problem) throw new RequestRejectedError(`scratchName: ${problem}; a scratch restore only creates a new database`);
  }
  if (request.scratchPath !== undefined) checkScratchPath(request.scratchPath, target, settings.targets);
  checkInstanceOfTarget(target, request.instanceId);
  checkOntoOfTarget(target, request.onto);
  if (request.mode === 'replace' && settings.site.safetyRetentionDays === 0) {
    throw new RequestRejectedError(
      `mode: replace needs its safety backup tier '${settings.site.safetyTier}', which the config does not define (restore.safetyTier); restore in 'scratch' mode, or add the tier and deploy`,
    );
  }
  const backup = await chooseBackup(target, request, deps);
  const instance = request.onto !== undefined ? await chooseOntoInstance(target, request.onto, deps) : await chooseInstance(target, request.instanceId, deps);
  const order: RestoreOrder = {
    mode: request.mode,
    ...pinnedOrder(backup),
    drill: false,
    ...(request.scratchName !== undefined ? { scratchName: request.scratchName } : {}),
    ...(request.scratchPath !== undefined ? { scratchPath: request.scratchPath } : {}),
    ...(request.mode === 'replace' ? { confirm: request.target } : {}),
  };
  // Onto another instance, what it lacks is found first, by a check that changes nothing there.
  const documentVersion = instance.onto && instance.pingStatus === 'Online' ? await pinDocumentVersion(deps) : undefined;
  const preflight = documentVersion !== undefined ? (await preflightOnto([{ target, backup }], instance.instanceId, deps, documentVersion))[0] : undefined;
  const plan: RestorePlan = {
    target: target.backup.name,
    kind: target.backup.kind,
    mode: request.mode,
    backup,
    instance,
    whatWouldChange: whatWouldChange(target, settings.site, order, instance),
    document: settings.documentName,
    ...(preflight ? { preflight } : {}),
  };
  if (request.dryRun) {
    const run = request.mode === 'replace' ? `"dryRun": false, "confirm": "${target.backup.name}"` : '"dryRun": false';
    const pin = request.key === undefined ? ` and "key": "${backup.key}" (so that a newer backup cannot slip in)` : '';
    const fix = preflight && preflight.status !== 'ready' ? `First fix on ${instance.instanceId}: ${preflightProblems(preflight).join('; ')}. Then ` : '';
    const sent = preflight ? 'Nothing was changed (only the read-only check ran on the instance).' : 'Nothing was sent.';
    return { outcome: 'dry-run', ...plan, next: `${sent} ${fix}${fix ? 'to' : 'To'} run this restore, invoke again with ${run}${pin}.` };
  }
  if (instance.pingStatus !== 'Online') {
    throw new RequestRejectedError(`${instance.onto ? 'onto' : 'instanceId'}: ${instance.instanceId} is ${instance.pingStatus} in SSM; start it (or its agent) and run again`);
  }
  if (preflight && preflight.status !== 'ready') {
    throw new RequestRejectedError(`onto: ${instance.instanceId} is not ready for '${target.backup.name}': ${preflightProblems(preflight).join('; ')}. Only the read-only check ran; nothing was restored`);
  }
  const comment = `backup-kit ${request.mode} restore of ${target.backup.name}${instance.onto ? ` onto ${instance.instanceId}` : ''}${request.requestedBy ? ` by ${request.requestedBy}` : ''}`;
  const sent = await sendRestore(target, order, instance.instanceId, comment, deps, documentVersion);
  const { commandId } = sent;
  deps.logger.info('restore sent', { target: target.backup.name, mode: request.mode, key: backup.key, instanceId: instance.instanceId, commandId, documentVersion: sent.documentVersion, requestedBy: request.requestedBy });
  return {
    outcome: 'started',
    ...plan,
    commandId,
    documentVersion: sent.documentVersion,
    consoleLink: consoleLinks.runCommandInvocation(settings.region, commandId, instance.instanceId),
    next: 'The restore runs on the instance; the alert topic gets a message with the outcome and its duration when it finishes. Follow it live with the console link.',
  };
}
