import { describe, expect, it } from 'vitest';
import { InvalidEventError } from '../../contracts/errors';
import { parseRestoreEvent } from '../../contracts/restore-event';
import { run, UsageError } from '../../cli/main';
import { restoreCommand, type RestoreCommandDeps } from '../../cli/restore';

/**
 * `backup-kit restore`: the dry run always first, nothing sent without a confirmation, the real
 * run pinned to what the plan showed, then the command followed to its end and timed. The fake
 * function parses every event with the restore function's own contract.
 */

const KEY = 'daily/orders-db/2026/12/02/orders-db_20261202T020000Z.pgdump.gz';
const plan = { ok: true, outcome: 'dry-run', target: 'orders-db', mode: 'scratch', backup: { key: KEY, tier: 'daily', how: 'newest before the given time' }, instance: { instanceId: 'i-0123456789abcdef0', pingStatus: 'Online' }, whatWouldChange: ['creates database orders_restore_20261203'], next: 'send it' };

function harness(options: { typed?: string; statuses?: string[]; dryRunAnswer?: Record<string, unknown> } = {}) {
  const events: Record<string, unknown>[] = [];
  const printed: string[] = [];
  const statuses = [...(options.statuses ?? ['InProgress', 'InProgress', 'Success'])];
  let clock = 0;
  const deps: RestoreCommandDeps = {
    out: (text) => printed.push(text),
    invoke: async (event) => {
      parseRestoreEvent(event);
      events.push(event);
      if (event.dryRun) return (options.dryRunAnswer ?? plan) as never;
      return { ...plan, outcome: 'started', commandId: 'cmd-1', consoleLink: 'https://console/cmd-1', next: 'check the copy' };
    },
    ...(options.typed !== undefined ? { ask: async () => options.typed ?? '' } : {}),
    commandStatus: async () => {
      const status = statuses.shift() ?? 'Success';
      if (status === 'missing') throw Object.assign(new Error('no invocation yet'), { name: 'InvocationDoesNotExist' });
      return { status };
    },
    sleep: async (ms) => {
      clock += ms;
    },
    now: () => clock,
  };
  return { deps, events, printed };
}

describe('backup-kit restore', () => {
  it('GIVEN no terminal and no --yes THEN it shows the dry run and sends nothing', async () => {
    const { deps, events, printed } = harness();
    expect(await restoreCommand({ target: 'orders-db', before: '2026-12-02T12:00:00Z' }, { yes: false }, deps)).toBe(3);
    expect(events).toEqual([{ target: 'orders-db', before: '2026-12-02T12:00:00Z', dryRun: true }]);
    expect(printed.join('\n')).toContain(`key: ${KEY}`);
    expect(printed.at(-1)).toMatch(/Not sent: there is no terminal to confirm on\. Run it again with --yes\./);
  });

  it("GIVEN 'yes' typed THEN the restore runs on the backup and instance the plan showed, is followed to its end and timed", async () => {
    const { deps, events, printed } = harness({ typed: 'yes', statuses: ['missing', 'InProgress', 'InProgress', 'Success'] });
    expect(await restoreCommand({ target: 'orders-db', before: '2026-12-02T12:00:00Z' }, { yes: false, pollSeconds: 30 }, deps)).toBe(0);
    expect(events[1]).toEqual({ target: 'orders-db', key: KEY, instanceId: 'i-0123456789abcdef0', dryRun: false });
    const text = printed.join('\n');
    expect(text).toContain('Sent: command cmd-1 on i-0123456789abcdef0');
    expect(text).toMatch(/0:00 {2}Pending\n {2}0:30 {2}InProgress\n {2}1:30 {2}Success/);
    expect(printed.at(-1)).toMatch(/^Restored in 1:30 \(min:s\) from sending to the end of the command: the measured time to recover\. check the copy$/);
  });

  it('GIVEN anything else typed THEN nothing is sent', async () => {
    const { deps, events, printed } = harness({ typed: 'y' });
    expect(await restoreCommand({ target: 'orders-db' }, { yes: false }, deps)).toBe(3);
    expect(events).toHaveLength(1);
    expect(printed.at(-1)).toBe('Not confirmed: nothing was sent.');
  });

  it("GIVEN a replace THEN only the target's name confirms it, typed or with --yes --confirm", async () => {
    const typedYes = harness({ typed: 'yes' });
    expect(await restoreCommand({ target: 'orders-db', mode: 'replace' }, { yes: false }, typedYes.deps)).toBe(3);
    expect(typedYes.events).toHaveLength(1);
    const typedName = harness({ typed: 'orders-db' });
    expect(await restoreCommand({ target: 'orders-db', mode: 'replace' }, { yes: false }, typedName.deps)).toBe(0);
    expect(typedName.events[1]).toMatchObject({ mode: 'replace', confirm: 'orders-db', dryRun: false });
    const bareYes = harness();
    expect(await restoreCommand({ target: 'orders-db', mode: 'replace' }, { yes: true }, bareYes.deps)).toBe(2);
    expect(bareYes.events).toHaveLength(1);
    expect(bareYes.printed.at(-1)).toMatch(/--confirm: replace overwrites live data; with --yes give --confirm orders-db/);
    const confirmed = harness();
    expect(await restoreCommand({ target: 'orders-db', mode: 'replace' }, { yes: true, confirm: 'orders-db' }, confirmed.deps)).toBe(0);
  });

  it('GIVEN the function refuses the dry run THEN its reason is shown and nothing else is sent', async () => {
    const { deps, events, printed } = harness({ typed: 'yes', dryRunAnswer: { ok: false, field: 'target', message: "target: 'ordres-db' is not a configured target. Nothing was changed." } });
    expect(await restoreCommand({ target: 'ordres-db' }, { yes: false }, deps)).toBe(2);
    expect(events).toHaveLength(1);
    expect(printed).toEqual(["refused: target: 'ordres-db' is not a configured target. Nothing was changed."]);
  });

  it('GIVEN a command that fails THEN the exit code is 1 and it says where to look', async () => {
    const { deps, printed } = harness({ typed: 'yes', statuses: ['InProgress', 'Failed'] });
    expect(await restoreCommand({ target: 'orders-db' }, { yes: false }, deps)).toBe(1);
    expect(printed.at(-1)).toMatch(/^The restore ended Failed after 0:10: the command's output says why \(https:\/\/console\/cmd-1\)/);
  });

  it('GIVEN a malformed request THEN it is refused naming the field before the function is invoked', async () => {
    const { deps, events } = harness();
    await expect(restoreCommand({ target: 'orders-db', key: '../etc/passwd' }, { yes: true }, deps)).rejects.toThrow(InvalidEventError);
    await expect(restoreCommand({ target: 'orders-db', key: KEY, before: '2026-12-02T12:00:00Z' }, { yes: true }, deps)).rejects.toThrow(/before: give key or before, not both/);
    expect(events).toEqual([]);
  });

  it('GIVEN the command line THEN a missing target, config or mode is refused naming the flag, before any call', async () => {
    const none = (argv: string[]) => run(argv, () => undefined, {});
    await expect(none(['restore'])).rejects.toThrow(/restore: name the target/);
    await expect(none(['restore', 'orders-db'])).rejects.toThrow(UsageError);
    await expect(none(['restore', 'orders-db', '--function', 'f', '--region', 'eu-west-1', '--mode', 'overwrite'])).rejects.toThrow(/--mode: 'overwrite' is not scratch or replace/);
    await expect(none(['restore', 'orders-db', '--yes=no'])).rejects.toThrow(/--yes: takes no value \(got 'no'\)/);
  });
});
