/**
 * An adapter's layout in pages of unified memory: runs of whole rows that never straddle a page,
 * every row of every factor exactly once, pages filled in order; the count the tier admits by is
 * the pages the runs use.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { kvBlockBytes } from '../../src/engine/backend.ts';
import { slotElements } from '../../src/lora/checkWeights.ts';
import { LoraPageTooSmallError } from '../../src/lora/errors.ts';
import { checkPagesFit, layoutAdapterPages, type AdapterPageRun } from '../../src/lora/pages.ts';
import { tinyConfig } from './helpers.ts';

const names = tinyConfig.modules.map((m) => m.name);

function layout(rank: number, targets: string[][], pageBytes: number) {
  const runs: AdapterPageRun[] = [];
  const pages = layoutAdapterPages({ config: tinyConfig, rank, targets, pageBytes, onRun: (r) => runs.push(r) });
  return { pages, runs };
}

describe('adapter pages', () => {
  it('runs of whole rows inside one page each, every row once, in order; the count is the pages used', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 64 }), fc.integer({ min: 1024, max: 20_000 }), fc.array(fc.subarray(names), { minLength: tinyConfig.numLayers, maxLength: tinyConfig.numLayers }), (rank, pageFloats, targets) => {
        const pageBytes = pageFloats * 4;
        const { pages, runs } = layout(rank, targets, pageBytes);
        const seen = new Map<string, number>();
        let last = { page: 0, end: 0 };
        for (const r of runs) {
          const m = tinyConfig.modules.find((x) => x.name === r.module)!;
          const cols = r.factor === 'a' ? m.in : rank;
          expect(r.offset + r.rows * cols * 4).toBeLessThanOrEqual(pageBytes); // never straddles
          expect(r.page > last.page || (r.page === last.page && r.offset === last.end)).toBe(true); // packed in order
          last = { page: r.page, end: r.offset + r.rows * cols * 4 };
          const key = `${r.layer}.${r.module}.${r.factor}`;
          expect(r.firstRow).toBe(seen.get(key) ?? 0); // rows in order, none skipped
          seen.set(key, r.firstRow + r.rows);
        }
        targets.forEach((t, l) =>
          tinyConfig.modules.forEach((m) => {
            expect(seen.get(`${l}.${m.name}.a`)).toBe(t.includes(m.name) ? rank : undefined);
            expect(seen.get(`${l}.${m.name}.b`)).toBe(t.includes(m.name) ? m.out : undefined);
          }),
        );
        expect(pages).toBe(runs.length ? runs[runs.length - 1].page + 1 : 0);
      }),
    );
  });

  it('an adapter takes pages at its own rank: rank 4 on the tiny model takes a quarter of a rank-16 padded slot', () => {
    const pageBytes = kvBlockBytes(tinyConfig);
    const all = Array.from({ length: tinyConfig.numLayers }, () => names);
    const padded = Math.ceil((slotElements(tinyConfig, 16) * 4) / pageBytes);
    expect(layout(16, all, pageBytes).pages).toBeGreaterThanOrEqual(padded);
    expect(layout(4, all, pageBytes).pages).toBeLessThanOrEqual(Math.ceil(padded / 4) + 1);
    expect(layout(8, [['q_proj'], []], pageBytes).pages).toBe(1);
  });

  it('a row larger than a page is refused, naming the factor and both sizes', () => {
    const down = tinyConfig.modules.find((m) => m.name === 'down_proj')!;
    expect(() => layout(8, [['down_proj'], []], down.in * 4 - 4)).toThrow(LoraPageTooSmallError);
    expect(() => checkPagesFit({ config: tinyConfig, maxRank: 16, pageBytes: down.in * 4 - 4 })).toThrow(/down_proj A.*1536 bytes.*1532 bytes/);
    expect(() => checkPagesFit({ config: tinyConfig, maxRank: 16, pageBytes: kvBlockBytes(tinyConfig) })).not.toThrow();
  });
});
