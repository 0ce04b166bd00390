import { consoleLinks } from '../../contracts/console-links';
import { RequestRejectedError } from '../../contracts/errors';
import { rebuildId, rebuildOrder, rebuildRecordKey, type RebuildRecord, type RebuildRequest } from '../../contracts/rebuild';
import { invalidRestoreParameters, restoreParametersFor, type RestoreOrder, type RestoreTarget } from '../../contracts/restore-command';
import { preflightProblems, type Preflight } from '../../contracts/preflight';
import { preflightOnto } from '../shared/preflight';
import { sendRebuildStep, writeRebuildRecord } from '../shared/rebuild-run';
import { checkOntoOfTarget, chooseOntoInstance, type ChosenInstance } from '../shared/restore-instance';
import { chooseBackup, findTarget, pinDocumentVersion, pinnedOrder, type ChosenBackup, type RestoreJobDeps } from '../shared/restore-job';
import { whatWouldChange } from './core';

/**
 * Rebuilds a lost server from the console: every target of a configured server restored onto
 * one instance, databases first, each from its newest verified backup (or `before` a time, or a
 * given key), pinned to the versions chosen now. The dry run shows each target's backup and what
 * would change; the real run records the plan and sends the first target (the result function
 * sends the rest one after another).
 */

export interface RebuildPlanStep {
  readonly target: string;
  readonly kind: string;
  readonly backup: Pick<ChosenBackup, 'key' | 'how' | 'tier' | 'takenAt' | 'verification' | 'pinned'> & { readonly bytes: number; readonly ageHours: number };
  readonly whatWouldChange: readonly string[];
  /** What restore.sh's read-only check found on the instance for this target. */
  readonly preflight?: Preflight;
}

export interface RebuildPlan {
  readonly server: string;
  readonly mode: 'scratch' | 'replace';
  readonly onto: ChosenInstance;
  /** In the order they run. */
  readonly steps: readonly RebuildPlanStep[];
  /** What all the backups add up to, compressed. */
  readonly totalBytes: number;
  readonly document: string;
}

export type RebuildAnswer =
  | ({ readonly outcome: 'dry-run'; readonly next: string } & RebuildPlan)
  | ({ readonly outcome: 'started'; readonly rebuildId: string; readonly record: string; readonly firstCommandId: string; readonly consoleLink: string; readonly next: string } & RebuildPlan);

/** A refusal about one target, naming the event field that chooses its backup (keys.<target>) when it names none. */
async function forTarget<T>(name: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (!(error instanceof RequestRejectedError)) throw error;
    const match = /^([A-Za-z][\w.]*): (.+)$/s.exec(error.message);
    const field = match?.[1] === undefined || match[1] === 'key' ? `keys.${name}` : match[1];
    throw new RequestRejectedError(`${field}: target '${name}': ${match?.[2] ?? error.message}`);
  }
}

export async function startRebuild(request: RebuildRequest, deps: RestoreJobDeps): Promise<RebuildAnswer> {
  const { settings } = deps;
  const names = settings.servers[request.rebuild];
  if (!names) {
    const known = Object.keys(settings.servers);
    throw new RequestRejectedError(`rebuild: '${request.rebuild}' is not a configured server (restore.servers: ${known.join(', ') || 'none'})`, { known });
  }
  for (const name of Object.keys(request.keys ?? {})) {
    if (!names.includes(name)) throw new RequestRejectedError(`keys.${name}: '${name}' is not a target of server '${request.rebuild}' (${names.join(', ')})`);
  }
  const targets: RestoreTarget[] = rebuildOrder(names.map((name) => findTarget(settings, name)));
  for (const target of targets) checkOntoOfTarget(target, request.onto);
  if (request.mode === 'replace' && settings.site.safetyRetentionDays === 0) {
    throw new RequestRejectedError(
      `mode: replace needs its safety backup tier '${settings.site.safetyTier}', which the config does not define (restore.safetyTier); rebuild in 'scratch' mode, or add the tier and deploy`,
    );
  }
  // Each target's restore settings allow the instance (by ID, or its tag as SSM sees it now): asked once per distinct setting.
  const found = new Map<string, ChosenInstance>();
  for (const target of targets) {
    const setting = JSON.stringify(target.restore.onto);
    if (!found.has(setting)) found.set(setting, await forTarget(target.backup.name, () => chooseOntoInstance(target, request.onto, deps)));
  }
  const onto = [...found.values()][0] as ChosenInstance;

  const now = deps.now();
  const chosen: { target: RestoreTarget; backup: ChosenBackup; order: RestoreOrder }[] = [];
  for (const target of targets) {
    const name = target.backup.name;
    const backup = await forTarget(name, () => chooseBackup(target, { key: request.keys?.[name], before: request.before }, deps));
    // A newer backup that failed verification is a larger data loss than the plan would show: an engineer decides.
    const failed = backup.newerFailed?.[0];
    if (failed && request.keys?.[name] === undefined && request.before === undefined) {
      throw new RequestRejectedError(
        `keys.${name}: the newest backup of '${name}', ${failed.key}, failed verification (${failed.reasons.slice(0, 2).join('; ')}); the newest verified one is ${backup.key}. To rebuild from it, give "keys": { "${name}": "${backup.key}" }`,
      );
    }
    const order: RestoreOrder = { mode: request.mode, ...pinnedOrder(backup), drill: request.drill, ...(request.mode === 'replace' ? { confirm: name } : {}) };
    chosen.push({ target, backup, order });
  }
  // What the new instance lacks is found first, by checks that change nothing there; the checks
  // and the steps use one pinned version of the document.
  const documentVersion = onto.pingStatus === 'Online' ? await pinDocumentVersion(deps) : undefined;
  const preflights = documentVersion !== undefined ? await preflightOnto(chosen, onto.instanceId, deps, documentVersion) : [];
  const plan: RebuildPlan = {
    server: request.rebuild,
    mode: request.mode,
    onto,
    steps: chosen.map(({ target, backup, order }, index) => ({
      target: target.backup.name,
      kind: target.backup.kind,
      backup: {
        key: backup.key,
        how: backup.how,
        tier: backup.tier,
        takenAt: backup.takenAt,
        verification: backup.verification,
        pinned: backup.pinned,
        bytes: backup.manifest.bytes,
        ageHours: Math.round((now.getTime() - new Date(backup.takenAt).getTime()) / 360_000) / 10,
      },
      whatWouldChange: whatWouldChange(target, settings.site, order, onto),
      ...(preflights[index] ? { preflight: preflights[index] } : {}),
    })),
    totalBytes: chosen.reduce((sum, { backup }) => sum + backup.manifest.bytes, 0),
    document: settings.documentName,
  };
  const parameters = chosen.map(({ target, order }) => restoreParametersFor(target, settings.site, order, settings.targets));
  parameters.forEach((values, index) => {
    const invalid = invalidRestoreParameters(values);
    const name = chosen[index]?.target.backup.name ?? '';
    if (invalid.length > 0) throw new RequestRejectedError(`rebuild: the restore settings of '${name}' do not pass the document's patterns: ${invalid.join('; ')}`);
  });
  const missing = preflights.filter((preflight) => preflight.status !== 'ready').map((preflight) => `${preflight.target}: ${preflightProblems(preflight).join(', ')}`);
  if (request.dryRun) {
    const run = request.mode === 'replace' ? `"dryRun": false, "confirm": "${request.rebuild}"` : '"dryRun": false';
    const pins = chosen.filter(({ target }) => request.keys?.[target.backup.name] === undefined).map(({ target, backup }) => `"${target.backup.name}": "${backup.key}"`);
    const pin = pins.length > 0 ? ` and "keys": { ${pins.join(', ')} } (so that a newer backup cannot slip in)` : '';
    const fix = missing.length > 0 ? `First fix on ${onto.instanceId}: ${missing.join('; ')}. Then to` : 'To';
    const sent = preflights.length > 0 ? 'Nothing was changed (only the read-only checks ran on the instance).' : 'Nothing was sent.';
    return { outcome: 'dry-run', ...plan, next: `${sent} ${fix} rebuild, invoke again with ${run}${pin}.` };
  }
  if (onto.pingStatus !== 'Online') {
    throw new RequestRejectedError(`onto: ${onto.instanceId} is ${onto.pingStatus} in SSM; start it (or its agent) and run again`);
  }
  if (missing.length > 0) {
    throw new RequestRejectedError(`onto: ${onto.instanceId} is not ready: ${missing.join('; ')}. Only the read-only checks ran; nothing was restored`);
  }

  const record: RebuildRecord = {
    server: request.rebuild,
    id: rebuildId(now),
    onto: onto.instanceId,
    mode: request.mode,
    drill: request.drill,
    ...(request.requestedBy !== undefined ? { requestedBy: request.requestedBy } : {}),
    requestedAt: now.toISOString(),
    documentName: settings.documentName,
    documentVersion: documentVersion ?? (await pinDocumentVersion(deps)),
    deliveryTimeoutSeconds: settings.deliveryTimeoutSeconds,
    commandLogGroupName: settings.commandLogGroupName,
    steps: chosen.map(({ target, backup }, index) => ({ target: target.backup.name, kind: target.backup.kind, key: backup.key, parameters: parameters[index] ?? {}, status: 'pending' })),
  };
  const runDeps = { ...deps, bucket: settings.site.bucket };
  await writeRebuildRecord(record, runDeps, { create: true });
  const started = await sendRebuildStep(record, 0, runDeps);
  const firstCommandId = started.steps[0]?.commandId ?? '';
  deps.logger.info('rebuild started', { server: record.server, id: record.id, onto: record.onto, mode: record.mode, targets: names, requestedBy: request.requestedBy });
  return {
    outcome: 'started',
    ...plan,
    rebuildId: record.id,
    record: `s3://${settings.site.bucket}/${rebuildRecordKey(record.server, record.id)}`,
    firstCommandId,
    consoleLink: consoleLinks.runCommandInvocation(settings.region, firstCommandId, onto.instanceId),
    next: `The targets are restored one after another (${plan.steps.map((step) => step.target).join(', ')}); each next one starts when the one before succeeds. The alert topic gets one message with every target's result and the total time.`,
  };
}
