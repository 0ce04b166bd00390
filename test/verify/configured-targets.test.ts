import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeConfiguredTargets, encodeConfiguredTargets } from '../../contracts/configured-targets';

describe('configured targets in the environment', () => {
  it("GIVEN any list of targets and tiers WHEN encoded and decoded THEN the same pairs come back, and 600 of them fit Lambda's 4 KB environment", () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.record({ tier: fc.constantFrom('daily', 'weekly', 'monthly'), target: fc.stringMatching(/^[a-z][a-z0-9-]{0,30}$/) }), { selector: (pair) => `${pair.tier}/${pair.target}` }), (pairs) => {
        expect(new Set(decodeConfiguredTargets(encodeConfiguredTargets(pairs)).map((pair) => `${pair.tier}/${pair.target}`))).toEqual(new Set(pairs.map((pair) => `${pair.tier}/${pair.target}`)));
      }),
    );
    const many = ['daily', 'weekly', 'monthly'].flatMap((tier) => Array.from({ length: 200 }, (_, i) => ({ tier, target: `service-${i}-db` })));
    expect(encodeConfiguredTargets(many).length).toBeLessThan(3000);
  });

  it('GIVEN a malformed value WHEN decoded THEN it throws naming the variable', () => {
    expect(() => decodeConfiguredTargets('{"daily": "app"}')).toThrow(/CONFIGURED_TARGETS is invalid/);
  });
});
