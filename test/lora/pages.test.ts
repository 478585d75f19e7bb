/**
 * An adapter's layout in pages of unified memory: runs of whole rows that never straddle a page
 * (CPU) or a layer's K or V slice of it (WebGPU), every row of every factor exactly once, pages
 * filled in order; the count the tier admits by is the pages the runs use.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { kvBlockBytes } from '../../src/engine/backend.ts';
import { slotElements } from '../../src/lora/checkWeights.ts';
import { LoraPageTooSmallError } from '../../src/lora/errors.ts';
import { checkPagesFit, kvSlicePages, layoutAdapterPages, maxRunsOfFactor, rowPages, type AdapterPageGeometry, type AdapterPageRun } from '../../src/lora/pages.ts';
import { tinyConfig } from './helpers.ts';

const names = tinyConfig.modules.map((m) => m.name);

function layout(rank: number, targets: string[][], pageBytes: number | AdapterPageGeometry) {
  const runs: AdapterPageRun[] = [];
  const geometry = typeof pageBytes === 'number' ? rowPages(pageBytes) : pageBytes;
  const pages = layoutAdapterPages({ config: tinyConfig, rank, targets, geometry, onRun: (r) => runs.push(r) });
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
    expect(() => checkPagesFit({ config: tinyConfig, maxRank: 16, geometry: rowPages(down.in * 4 - 4) })).toThrow(/down_proj A.*1536 bytes.*1532 bytes/);
    expect(() => checkPagesFit({ config: tinyConfig, maxRank: 16, geometry: rowPages(kvBlockBytes(tinyConfig)) })).not.toThrow();
  });
});

describe('adapter pages on WebGPU (a page is a K and a V slice per layer)', () => {
  const slices = (sliceFloats: number) => kvSlicePages(tinyConfig.numLayers, sliceFloats * 4);

  it("layer l's A columns (rank floats each) in its K slices, B rows in its V slices, runs inside one slice, every row once; the count is the most slices any layer's K or V run takes", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 64 }), fc.integer({ min: 64, max: 4096 }), fc.array(fc.subarray(names), { minLength: tinyConfig.numLayers, maxLength: tinyConfig.numLayers }), (rank, sliceFloats, targets) => {
        const { pages, runs } = layout(rank, targets, slices(sliceFloats));
        const seen = new Map<string, number>();
        const last = new Map<string, { page: number; end: number }>();
        const runCount = new Map<string, number>();
        let most = 0;
        for (const r of runs) {
          expect(r.rowFloats).toBe(rank); // A columns and B rows are rank wide
          const end = r.offset + r.rows * rank * 4;
          expect(end).toBeLessThanOrEqual(sliceFloats * 4); // never straddles a slice
          const lane = `${r.layer}.${r.factor}`; // A in the layer's K slices, B in its V slices
          const prev = last.get(lane) ?? { page: 0, end: 0 };
          expect(r.page > prev.page || (r.page === prev.page && r.offset === prev.end)).toBe(true);
          last.set(lane, { page: r.page, end });
          most = Math.max(most, r.page + 1);
          const key = `${r.layer}.${r.module}.${r.factor}`;
          expect(r.firstRow).toBe(seen.get(key) ?? 0);
          seen.set(key, r.firstRow + r.rows);
          runCount.set(key, (runCount.get(key) ?? 0) + 1);
        }
        targets.forEach((t, l) =>
          tinyConfig.modules.forEach((m) => {
            expect(seen.get(`${l}.${m.name}.a`)).toBe(t.includes(m.name) ? m.in : undefined); // A: a unit per input feature
            expect(seen.get(`${l}.${m.name}.b`)).toBe(t.includes(m.name) ? m.out : undefined);
            if (t.includes(m.name)) {
              expect(runCount.get(`${l}.${m.name}.a`)).toBeLessThanOrEqual(maxRunsOfFactor(m.in, rank, sliceFloats * 4));
              expect(runCount.get(`${l}.${m.name}.b`)).toBeLessThanOrEqual(maxRunsOfFactor(m.out, rank, sliceFloats * 4));
            }
          }),
        );
        expect(pages).toBe(most);
      }),
    );
  });

  it('rows never exceed a slice whatever `in` is: a down_proj A row larger than a slice is no reason to refuse', () => {
    const down = tinyConfig.modules.find((m) => m.name === 'down_proj')!;
    const g = slices(down.in / 2); // a slice holds half an A row
    expect(() => checkPagesFit({ config: tinyConfig, maxRank: 64, geometry: g })).not.toThrow();
    expect(layout(16, [['down_proj'], []], g).pages).toBeGreaterThan(0);
    expect(() => checkPagesFit({ config: tinyConfig, maxRank: 64, geometry: slices(63) })).toThrow(LoraPageTooSmallError); // a 64-float row in 63
  });

  it('on the tiny model a rank-16 adapter takes at most a page more than the CPU layout of the same pages', () => {
    const all = Array.from({ length: tinyConfig.numLayers }, () => names);
    const page = kvBlockBytes(tinyConfig);
    const gpu = layout(16, all, kvSlicePages(tinyConfig.numLayers, page / (2 * tinyConfig.numLayers))).pages;
    expect(gpu).toBeGreaterThanOrEqual(layout(16, all, page).pages);
    expect(gpu).toBeLessThanOrEqual(layout(16, all, page).pages + 1);
  });
});
