import { createServer } from 'node:net';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { freePort } from '../support/processes';

/** The test servers' ports: none a client or another worker can take between the check and the bind. */
describe('freePort', () => {
  const ephemeralFrom = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);

  it('GIVEN concurrent calls THEN each gets its own port, below the ephemeral range, in the block of this worker slot', async () => {
    const ports = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
    expect(new Set(ports).size).toBe(4);
    const slot = Number(process.env.VITEST_POOL_ID);
    for (const port of ports) {
      expect(port).toBeLessThan(ephemeralFrom);
      expect(Math.floor((port - 20_000) / 500)).toBe(slot);
    }
  });

  it('GIVEN the next port of the block already listened on THEN it is passed over', async () => {
    const taken = (await freePort()) + 1;
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(taken, '127.0.0.1', resolve));
    try {
      const port = await freePort();
      expect(port).not.toBe(taken);
      expect(port).toBe(taken + 1);
    } finally {
      await new Promise((resolve) => holder.close(resolve));
    }
  });
});
