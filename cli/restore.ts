import { errorMessage } from '../contracts/errors';
import { parseRestoreEvent, type RestoreEventInput } from '../contracts/restore-event';

/**
 * `backup-kit restore <target>`: the console's restore, from a terminal, through the same
 * function and the same guards. It always asks the function for the dry run first and shows the
 * plan; it sends the restore only after a confirmation typed on the terminal (the target's name
 * for a replace) or given with `--yes` (and `--confirm <target>` for a replace); the real run
 * names the backup and instance the plan showed, so what runs is what was shown. Then it follows
 * the Run Command until it ends and prints the measured time: the restore's RTO.
 */

/** What the restore function answers: `ok` and the plan or the command, or a refusal naming the field. */
type Answer = { readonly ok: boolean } & Record<string, unknown>;

export interface RestoreCommandDeps {
  /** Invokes the restore function with an event and returns its answer. */
  readonly invoke: (event: Record<string, unknown>) => Promise<Answer>;
  /** Reads one line typed on the terminal; undefined when there is no terminal. */
  readonly ask?: (question: string) => Promise<string>;
  /** The status of the Run Command on the instance (Pending, InProgress, Success, Failed, ...). */
  readonly commandStatus: (commandId: string, instanceId: string) => Promise<{ readonly status: string; readonly details?: string }>;
  readonly out: (text: string) => void;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly now?: () => number;
}

export interface RestoreCommandOptions {
  /** Confirmed ahead (scripts): no question is asked. */
  readonly yes: boolean;
  /** A replace's confirmation with `yes`: the target's name again. */
  readonly confirm?: string;
  /** Seconds between two looks at the command. */
  readonly pollSeconds?: number;
}

const TERMINAL = new Set(['Success', 'Failed', 'Cancelled', 'TimedOut', 'Cancelling']);

/** A plan or an answer, as indented `name: value` lines. */
export function describe(value: unknown, indent = ''): string[] {
  if (value === null || typeof value !== 'object') return [`${indent}${String(value)}`];
  if (Array.isArray(value)) return value.flatMap((item) => (item !== null && typeof item === 'object' ? describe(item, `${indent}  `) : [`${indent}- ${String(item)}`]));
  return Object.entries(value).flatMap(([name, item]) =>
    item !== null && typeof item === 'object' ? [`${indent}${name}:`, ...describe(item, `${indent}  `)] : [`${indent}${name}: ${String(item)}`],
  );
}

/**
 * Asks for `word` on the terminal, or takes `--yes` (with `--confirm <flagged>` where the restore
 * overwrites): 'confirmed', or the exit code of a refusal (2) or of no confirmation (3).
 */
export async function confirmation(expected: { readonly word: string; readonly flagged: string | undefined }, options: RestoreCommandOptions, deps: Pick<RestoreCommandDeps, 'ask' | 'out'>): Promise<'confirmed' | 2 | 3> {
  if (options.yes) {
    if (expected.flagged !== undefined && options.confirm !== expected.flagged) {
      deps.out(`refused: --confirm: replace overwrites live data; with --yes give --confirm ${expected.flagged}. Nothing was sent.`);
      return 2;
    }
    return 'confirmed';
  }
  if (!deps.ask) {
    deps.out(`Not sent: there is no terminal to confirm on. Run it again with --yes${expected.flagged !== undefined ? ` --confirm ${expected.flagged}` : ''}.`);
    return 3;
  }
  const typed = (await deps.ask(`Type ${expected.flagged !== undefined ? `the target's name (${expected.word})` : "'yes'"} to send this restore: `)).trim();
  if (typed !== expected.word) {
    deps.out('Not confirmed: nothing was sent.');
    return 3;
  }
  return 'confirmed';
}

/** Polls `look` until its status is terminal, printing each change with the elapsed time; the last status and the milliseconds it took. */
export async function follow(
  look: () => Promise<{ readonly status: string; readonly details?: string }>,
  pollSeconds: number,
  deps: Pick<RestoreCommandDeps, 'out' | 'sleep' | 'now'>,
  terminal: ReadonlySet<string> = TERMINAL,
): Promise<{ status: string; ms: number }> {
  const now = deps.now ?? Date.now;
  const sleep = deps.sleep ?? ((ms: number) => new Promise((resolve) => setTimeout(resolve, ms)));
  const begin = now();
  let last = '';
  for (;;) {
    let status: { status: string; details?: string };
    try {
      status = await look();
    } catch (error) {
      // A new command or instance takes a moment to be known.
      if (!/InvocationDoesNotExist|NotFound/.test((error as { name?: string }).name ?? '')) throw new Error(`cannot follow the restore: ${errorMessage(error)}`);
      status = { status: 'Pending' };
    }
    if (status.status !== last) {
      deps.out(`  ${minutes(now() - begin)}  ${status.status}${status.details && status.details !== status.status ? ` (${status.details})` : ''}`);
      last = status.status;
    }
    if (terminal.has(status.status)) return { status: last, ms: now() - begin };
    await sleep(pollSeconds * 1000);
  }
}

export const minutes = (ms: number) => `${Math.floor(ms / 60_000)}:${String(Math.floor((ms % 60_000) / 1000)).padStart(2, '0')}`;

export async function restoreCommand(request: RestoreEventInput, options: RestoreCommandOptions, deps: RestoreCommandDeps): Promise<number> {
  const { out } = deps;
  // A malformed request is refused here, naming the field, before anything is invoked.
  parseRestoreEvent({ ...request, dryRun: true });
  const refused = (answer: Answer) => {
    out(`refused: ${String(answer.message ?? answer.reason ?? 'no reason given')}`);
    return 2;
  };

  const plan = await deps.invoke({ ...request, dryRun: true });
  if (!plan.ok) return refused(plan);
  out('The restore would do this (dry run: nothing was sent):');
  for (const line of describe({ ...plan, ok: undefined, outcome: undefined, next: undefined })) if (!/: undefined$/.test(line)) out(`  ${line}`);

  const replace = request.mode === 'replace';
  const decision = await confirmation({ word: replace ? request.target : 'yes', flagged: replace ? request.target : undefined }, options, deps);
  if (decision !== 'confirmed') return decision;

  // What was shown is what runs: the backup and the instance the plan chose.
  const backup = (plan.backup as { key?: string } | undefined)?.key;
  const instance = (plan.instance as { instanceId?: string; onto?: boolean } | undefined) ?? {};
  const { before: _before, ...rest } = request;
  const event = {
    ...rest,
    ...(backup ? { key: backup } : {}),
    ...(instance.instanceId && !instance.onto && request.onto === undefined ? { instanceId: instance.instanceId } : {}),
    ...(replace ? { confirm: request.target } : {}),
    dryRun: false,
  };
  const started = await deps.invoke(event);
  if (!started.ok) return refused(started);
  const commandId = String(started.commandId ?? '');
  const instanceId = String((started.instance as { instanceId?: string } | undefined)?.instanceId ?? '');
  out(`Sent: command ${commandId} on ${instanceId}${started.consoleLink ? ` (${String(started.consoleLink)})` : ''}`);

  const ended = await follow(() => deps.commandStatus(commandId, instanceId), options.pollSeconds ?? 10, deps);
  if (ended.status === 'Success') {
    out(`Restored in ${minutes(ended.ms)} (min:s) from sending to the end of the command: the measured time to recover. ${String(started.next ?? '')}`.trim());
    return 0;
  }
  out(`The restore ended ${ended.status} after ${minutes(ended.ms)}: the command's output says why (${String(started.consoleLink ?? 'Run Command console')}); the alert topic has the result.`);
  return 1;
}
