import { describe, expect, it } from 'vitest';
import { parseRestoreEvent } from '../../contracts/rds-restore-event';
import { rdsRestoreCommand, type RdsRestoreCommandDeps } from '../../cli/rds-restore';

/** `backup-kit rds-restore`: the dry run first, a typed yes, the copy's name and point pinned, the copy followed until available. */

const plan = { ok: true, outcome: 'dry-run', summary: 'would restore orders-db to 2026-12-03T09:59:00Z', target: 'orders-db-pitr-202612030959', region: 'eu-west-1', restorePoint: '2026-12-03T09:59:00Z', window: { earliest: '2026-11-26T10:00:00Z' }, plan: { DBInstanceClass: 'db.r6g.large' }, warnings: [] };

function harness(options: { typed?: string; statuses?: string[]; dryRunAnswer?: Record<string, unknown> } = {}) {
  const events: Record<string, unknown>[] = [];
  const printed: string[] = [];
  const looked: string[] = [];
  const statuses = [...(options.statuses ?? ['creating', 'backing-up', 'available'])];
  let clock = 0;
  const deps: RdsRestoreCommandDeps = {
    out: (text) => printed.push(text),
    invoke: async (event) => {
      parseRestoreEvent(event);
      events.push(event);
      return event.dryRun ? (options.dryRunAnswer ?? plan) : { ...plan, outcome: 'started', consoleLink: 'https://console/rds' };
    },
    ...(options.typed !== undefined ? { ask: async () => options.typed ?? '' } : {}),
    copyStatus: async (name, region) => {
      looked.push(`${name}@${region}`);
      return { status: statuses.shift() ?? 'available' };
    },
    sleep: async (ms) => {
      clock += ms;
    },
    now: () => clock,
  };
  return { deps, events, printed, looked };
}

describe('backup-kit rds-restore', () => {
  it("GIVEN 'yes' typed THEN the copy the plan named is created at the point the plan resolved, and followed until available", async () => {
    const { deps, events, printed, looked } = harness({ typed: 'yes' });
    expect(await rdsRestoreCommand({ source: 'orders-db', restoreTime: 'latest', requestedBy: 'jane' }, { yes: false }, deps)).toBe(0);
    expect(events).toEqual([
      { source: 'orders-db', restoreTime: 'latest', requestedBy: 'jane', dryRun: true },
      { source: 'orders-db', restoreTime: '2026-12-03T09:59:00Z', requestedBy: 'jane', target: 'orders-db-pitr-202612030959', dryRun: false },
    ]);
    expect(looked.every((entry) => entry === 'orders-db-pitr-202612030959@eu-west-1')).toBe(true);
    expect(printed.join('\n')).toMatch(/0:00 {2}creating\n {2}0:30 {2}backing-up\n {2}1:00 {2}available/);
    expect(printed.at(-1)).toMatch(/^orders-db-pitr-202612030959 is available after 1:00 \(min:s\): the measured time to recover/);
  });

  it('GIVEN no confirmation THEN nothing is created; GIVEN a refused dry run THEN its reason is shown', async () => {
    const none = harness();
    expect(await rdsRestoreCommand({ source: 'orders-db', restoreTime: 'latest' }, { yes: false }, none.deps)).toBe(3);
    expect(none.events).toHaveLength(1);
    const refused = harness({ typed: 'yes', dryRunAnswer: { ok: false, message: 'restoreTime: 2026-10-01T00:00:00Z is before the earliest restorable time. Nothing was changed.' } });
    expect(await rdsRestoreCommand({ source: 'orders-db', restoreTime: '2026-10-01T00:00:00Z' }, { yes: false }, refused.deps)).toBe(2);
    expect(refused.printed).toEqual(['refused: restoreTime: 2026-10-01T00:00:00Z is before the earliest restorable time. Nothing was changed.']);
  });

  it('GIVEN a copy that settles in a state needing an engineer THEN the exit code is 1 and it says where to look', async () => {
    const { deps, printed } = harness({ statuses: ['creating', 'incompatible-network'] });
    expect(await rdsRestoreCommand({ source: 'orders-db', restoreTime: 'latest' }, { yes: true }, deps)).toBe(1);
    expect(printed.at(-1)).toMatch(/is incompatible-network after 0:30: its events in the RDS console say why/);
  });

  it('GIVEN a malformed request THEN it is refused naming the field before anything is invoked', async () => {
    const { deps, events } = harness();
    await expect(rdsRestoreCommand({ source: 'orders-db', restoreTime: 'yesterday' }, { yes: true }, deps)).rejects.toThrow(/restoreTime/);
    await expect(rdsRestoreCommand({ source: 'orders-db', restoreTime: 'latest', target: 'prod-db' }, { yes: true }, deps)).rejects.toThrow(/target: must start with 'orders-db-/);
    expect(events).toEqual([]);
  });
});
