import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { splitPayment } from '../../src/chain/split.ts';

describe('splitPayment', () => {
  it('conserves the payment, rounds every share down and gives the dust to the treasury', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 2n ** 96n - 1n }), fc.integer({ min: 0, max: 1000 }), fc.integer({ min: 0, max: 5000 }), fc.integer({ min: 0, max: 10_000 }), fc.boolean(), (paid, fee, royalty, contributor, hasRoot) => {
        const s = splitPayment({ paid, protocolFeeBps: fee, royaltyBps: royalty, contributorBps: contributor, hasRoot });
        expect(s.node + s.owner + s.contributors + s.treasury).toBe(paid);
        expect(s.treasury).toBeGreaterThanOrEqual((paid * BigInt(fee)) / 10_000n);
        expect(s.node).toBe((paid * BigInt(10_000 - fee - royalty)) / 10_000n);
        if (!hasRoot) expect(s.contributors).toBe(0n);
      }),
      { seed: 42, numRuns: 500 },
    );
  });

  it('matches a worked example', () => {
    // 1,000,003 at 2% fee, 15% royalty of which 40% to contributors.
    expect(splitPayment({ paid: 1_000_003n, protocolFeeBps: 200, royaltyBps: 1500, contributorBps: 4000, hasRoot: true })).toEqual({
      node: 830_002n, owner: 90_000n, contributors: 60_000n, treasury: 20_001n, // fee 20,000 + dust 1
    });
  });
});
