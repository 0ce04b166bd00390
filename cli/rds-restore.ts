import { parseRestoreEvent, type RestoreEventInput } from '../contracts/rds-restore-event';
import { confirmation, describe, follow, minutes, type RestoreCommandOptions } from './restore';

/**
 * `backup-kit rds-restore <source> --time <when>`: the RDS point-in-time restore from a terminal,
 * through the RDS restore function: its dry run first, a typed `yes` (or `--yes`), the restore
 * pinned to the plan's copy name and restore point, then the copy followed until it is
 * available, and the measured time. It only ever creates a new instance or cluster.
 */

type Answer = { readonly ok?: boolean } & Record<string, unknown>;

export interface RdsRestoreCommandDeps {
  readonly invoke: (event: Record<string, unknown>) => Promise<Answer>;
  readonly ask?: (question: string) => Promise<string>;
  /** The copy's status in its region: an instance's, or a cluster's (`available` when done). */
  readonly copyStatus: (name: string, region: string) => Promise<{ readonly status: string }>;
  readonly out: (text: string) => void;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly now?: () => number;
}

/** States after which waiting says nothing more: done, or a copy that needs an engineer. */
const SETTLED = new Set(['available', 'failed', 'incompatible-restore', 'incompatible-parameters', 'incompatible-network', 'storage-full', 'inaccessible-encryption-credentials']);

export async function rdsRestoreCommand(request: RestoreEventInput, options: RestoreCommandOptions, deps: RdsRestoreCommandDeps): Promise<number> {
  const { out } = deps;
  parseRestoreEvent({ ...request, dryRun: true });
  const refusal = (answer: Answer) => {
    out(`refused: ${String(answer.message ?? answer.reason ?? answer.summary ?? 'no reason given')}`);
    return 2;
  };
  const plan = await deps.invoke({ ...request, dryRun: true });
  if (plan.ok === false) return refusal(plan);
  out('The restore would do this (dry run: nothing was created):');
  for (const line of describe({ summary: plan.summary, target: plan.target, region: plan.region, restorePoint: plan.restorePoint, window: plan.window, plan: plan.plan, warnings: plan.warnings })) {
    if (!/: undefined$/.test(line)) out(`  ${line}`);
  }
  const decision = await confirmation({ word: 'yes', flagged: undefined }, options, deps);
  if (decision !== 'confirmed') return decision;

  // What was shown is what runs: the copy's name and the point the plan resolved `latest` to.
  const event = { ...request, ...(typeof plan.target === 'string' ? { target: plan.target } : {}), ...(typeof plan.restorePoint === 'string' ? { restoreTime: plan.restorePoint } : {}), dryRun: false };
  const started = await deps.invoke(event);
  if (started.ok === false) return refusal(started);
  const name = String(started.target ?? '');
  const region = String(started.region ?? '');
  out(`Restoring into ${name} in ${region}${started.consoleLink ? ` (${String(started.consoleLink)})` : ''}`);
  const ended = await follow(() => deps.copyStatus(name, region), options.pollSeconds ?? 30, deps, SETTLED);
  if (ended.status === 'available') {
    out(`${name} is available after ${minutes(ended.ms)} (min:s): the measured time to recover. Connect to it, check the data, then point the application at it or copy back what you need.`);
    return 0;
  }
  out(`${name} is ${ended.status} after ${minutes(ended.ms)}: its events in the RDS console say why (docs/runbooks/rds-point-in-time.md).`);
  return 1;
}
