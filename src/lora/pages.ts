/**
 * How an adapter lies in pages of unified memory (S-LoRA's unified pool): per layer and targeted
 * module in the model's module order, each factor is stored as runs of whole rows of f32, a run
 * never straddling the unit a page is cut into, so a backend runs each run as one piece of the
 * matmul over the rows it holds. The backend says how (its {@link AdapterPageGeometry}); the
 * adapter tier counts an adapter's pages by the same geometry (admission) and the backend packs
 * by it: the one place that says how many pages an adapter takes at its own rank.
 *
 * - `rows` (the CPU backend: a page is one span of `pageBytes`): A `[rank, in]` then B `[out, rank]`,
 *   every factor of every layer filling each page before the next (shrink: a run's A rows are
 *   outputs `firstRow..` of the rank-wide intermediate; expand: its B rows are output features).
 * - `kvSlices` (WebGPU: one K and one V buffer per layer, so a page is `2 · layers` slices of
 *   `sliceBytes`, one in each buffer): layer l's factors lie only in layer l's slices of the
 *   adapter's pages, A cut along `in` (the unit is one input feature's column of A, `rank`
 *   floats, so it never exceeds a slice whatever `in` is; a run of input features `firstRow..`
 *   holds A's rank rows cut to those columns, `[rank, rows]`) in the K buffer's slices,
 *   B `[out, rank]` in the V buffer's (the shrink binds the layer's K buffer, the expand its V
 *   buffer: one binding each, as the padded slots' A and B). Each layer fills its K slices and its
 *   V slices page after page; the adapter takes the most pages any layer's K or V run reaches.
 */
import type { ModelConfig, Projection } from '../model/config.ts';
import { LoraPageTooSmallError } from './errors.ts';

/** Per layer, the modules an adapter carries weights for, in the model's module order. */
export type AdapterTargets = readonly (readonly Projection[])[];

/** How a backend cuts a page (see the file comment). */
export type AdapterPageGeometry = { kind: 'rows'; pageBytes: number } | { kind: 'kvSlices'; pageBytes: number; sliceBytes: number };

/** The CPU backend's geometry: a page is one span. */
export function rowPages(pageBytes: number): AdapterPageGeometry {
  return { kind: 'rows', pageBytes };
}

/** WebGPU's geometry: a page is a K and a V slice of `sliceBytes` per layer. */
export function kvSlicePages(layers: number, sliceBytes: number): AdapterPageGeometry {
  return { kind: 'kvSlices', pageBytes: 2 * layers * sliceBytes, sliceBytes };
}

/** One run: `rows` rows of a stored factor from `firstRow`, at byte `offset` of the adapter's `page`-th page (`kvSlices`: of that page's slice in the layer's K buffer for A, V buffer for B). */
export interface AdapterPageRun {
  layer: number;
  module: Projection;
  factor: 'a' | 'b';
  /** First row of the stored matrix: A's rows (outputs) with `rows`, input features (A's columns) with `kvSlices`; B's output features. */
  firstRow: number;
  rows: number;
  /** f32 elements per row. */
  rowFloats: number;
  /** Index into the adapter's pages (not a page id). */
  page: number;
  /** Bytes from the page's (slice's) start (a multiple of 4). */
  offset: number;
}

/** Parameters of {@link layoutAdapterPages}. */
export interface LayoutAdapterPagesParameters {
  config: Pick<ModelConfig, 'modules'>;
  rank: number;
  targets: AdapterTargets;
  geometry: AdapterPageGeometry;
  /** Called with each run, in packing order. */
  onRun?: (run: AdapterPageRun) => void;
}

/** Bytes of the unit a run may not straddle. */
const unitBytes = (g: AdapterPageGeometry) => (g.kind === 'rows' ? g.pageBytes : g.sliceBytes);

/** Rows and row width of each stored factor of module `m` at `rank`. */
function storedFactors(m: { in: number; out: number }, rank: number, g: AdapterPageGeometry) {
  return [
    { factor: 'a', rows: g.kind === 'rows' ? rank : m.in, cols: g.kind === 'rows' ? m.in : rank },
    { factor: 'b', rows: m.out, cols: rank },
  ] as const;
}

/**
 * Lays the adapter's factors out by `geometry` (see the file comment); returns how many pages it
 * takes. Throws {@link LoraPageTooSmallError} when one row does not fit the unit.
 */
export function layoutAdapterPages(p: LayoutAdapterPagesParameters): number {
  const { rank, geometry } = p;
  const unit = unitBytes(geometry);
  // One cursor (rows), or one per layer and buffer (kvSlices).
  const cursors = new Map<string, { page: number; offset: number }>();
  let pages = 0;
  p.targets.forEach((targets, layer) => {
    for (const m of p.config.modules) {
      if (!targets.includes(m.name)) continue;
      for (const { factor, rows, cols } of storedFactors(m, rank, geometry)) {
        const rowBytes = cols * 4;
        if (rowBytes > unit) throw new LoraPageTooSmallError(`${m.name} ${factor.toUpperCase()}`, rowBytes, unit);
        const key = geometry.kind === 'rows' ? '' : `${layer}.${factor}`;
        let at = cursors.get(key);
        if (!at) cursors.set(key, (at = { page: 0, offset: 0 }));
        for (let firstRow = 0; firstRow < rows; ) {
          const fit = Math.floor((unit - at.offset) / rowBytes);
          if (fit === 0) {
            at.page++;
            at.offset = 0;
            continue;
          }
          const n = Math.min(fit, rows - firstRow);
          p.onRun?.({ layer, module: m.name, factor, firstRow, rows: n, rowFloats: cols, page: at.page, offset: at.offset });
          firstRow += n;
          at.offset += n * rowBytes;
        }
        pages = Math.max(pages, at.offset > 0 ? at.page + 1 : at.page);
      }
    }
  });
  return pages;
}

/**
 * Most runs one stored factor of `rows` rows of `rowFloats` floats can be cut into: every run but
 * the last fills what was left of its unit, so it touches at most one unit more than its rows need.
 */
export function maxRunsOfFactor(rows: number, rowFloats: number, unitBytes: number): number {
  return Math.ceil(rows / Math.floor(unitBytes / (rowFloats * 4))) + 1;
}

/** The modules each layer of `weights` carries, in the model's module order. */
export function adapterTargets(config: Pick<ModelConfig, 'modules'>, weights: { layers: ReadonlyArray<Partial<Record<Projection, unknown>>> }): Projection[][] {
  return weights.layers.map((layer) => config.modules.filter((m) => layer[m.name]).map((m) => m.name));
}

/** Throws {@link LoraPageTooSmallError} unless every row of an adapter up to `maxRank` fits the unit of `geometry`. */
export function checkPagesFit(p: { config: Pick<ModelConfig, 'modules'>; maxRank: number; geometry: AdapterPageGeometry }): void {
  const unit = unitBytes(p.geometry);
  for (const m of p.config.modules) {
    for (const { factor, cols } of storedFactors(m, p.maxRank, p.geometry)) if (cols * 4 > unit) throw new LoraPageTooSmallError(`${m.name} ${factor.toUpperCase()}`, cols * 4, unit);
  }
}
