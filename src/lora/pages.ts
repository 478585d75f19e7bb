/**
 * How an adapter lies in pages of unified memory (S-LoRA's unified pool): each factor, per layer
 * and targeted module in the model's module order, A `[rank, in]` then B `[out, rank]` f32, is
 * stored as runs of whole rows, a run never straddling a page, so a backend runs each run as one
 * matmul over the rows it holds (shrink: outputs `firstRow..`, expand: output features `firstRow..`).
 * The adapter tier counts an adapter's pages with it (admission) and the CPU backend packs with it:
 * the one place that says how many pages an adapter takes at its own rank.
 */
import type { LoraWeights } from '../engine/backend.ts';
import type { ModelConfig, Projection } from '../model/config.ts';
import { LoraPageTooSmallError } from './errors.ts';

/** Per layer, the modules an adapter carries weights for, in the model's module order. */
export type AdapterTargets = readonly (readonly Projection[])[];

/** One run: `rows` rows of a factor from `firstRow`, at byte `offset` of the adapter's `page`-th page. */
export interface AdapterPageRun {
  layer: number;
  module: Projection;
  factor: 'a' | 'b';
  firstRow: number;
  rows: number;
  /** Index into the adapter's pages (not a page id). */
  page: number;
  /** Bytes from the page's start (a multiple of 4). */
  offset: number;
}

/** Parameters of {@link layoutAdapterPages}. */
export interface LayoutAdapterPagesParameters {
  config: Pick<ModelConfig, 'modules'>;
  rank: number;
  targets: AdapterTargets;
  /** Bytes of one page (one KV block: `kvBlockBytes`). */
  pageBytes: number;
  /** Called with each run, in packing order. */
  onRun?: (run: AdapterPageRun) => void;
}

/**
 * Lays the adapter's factors out in pages of `pageBytes`, filling each page before the next;
 * returns how many pages it takes. Throws {@link LoraPageTooSmallError} when one row does not fit
 * a page.
 */
export function layoutAdapterPages(p: LayoutAdapterPagesParameters): number {
  const { rank, pageBytes } = p;
  let page = 0;
  let offset = 0;
  p.targets.forEach((targets, layer) => {
    for (const m of p.config.modules) {
      if (!targets.includes(m.name)) continue;
      for (const [factor, rows, cols] of [['a', rank, m.in], ['b', m.out, rank]] as const) {
        const rowBytes = cols * 4;
        if (rowBytes > pageBytes) throw new LoraPageTooSmallError(`${m.name} ${factor.toUpperCase()}`, rowBytes, pageBytes);
        for (let firstRow = 0; firstRow < rows; ) {
          const fit = Math.floor((pageBytes - offset) / rowBytes);
          if (fit === 0) {
            page++;
            offset = 0;
            continue;
          }
          const n = Math.min(fit, rows - firstRow);
          p.onRun?.({ layer, module: m.name, factor, firstRow, rows: n, page, offset });
          firstRow += n;
          offset += n * rowBytes;
        }
      }
    }
  });
  return offset > 0 ? page + 1 : page;
}

/** The modules each layer of `weights` carries, in the model's module order. */
export function adapterTargets(config: Pick<ModelConfig, 'modules'>, weights: Pick<LoraWeights, 'layers'>): Projection[][] {
  return weights.layers.map((layer) => config.modules.filter((m) => layer[m.name]).map((m) => m.name));
}

/** Throws {@link LoraPageTooSmallError} unless every row of an adapter up to `maxRank` fits a page of `pageBytes`. */
export function checkPagesFit(p: { config: Pick<ModelConfig, 'modules'>; maxRank: number; pageBytes: number }): void {
  for (const m of p.config.modules) {
    for (const [factor, cols] of [['A', m.in], ['B', p.maxRank]] as const) if (cols * 4 > p.pageBytes) throw new LoraPageTooSmallError(`${m.name} ${factor}`, cols * 4, p.pageBytes);
  }
}
