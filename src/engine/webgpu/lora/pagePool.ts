/**
 * The WebGPU {@link LoraSlotPool} in unified memory (`engine.memory.mode: unified`): no slot
 * buffers; an adapter's factors are written into the pages of the KV cache the adapter tier took
 * for it (the page ids the scheduler's `PagePool` handed out), by the `kvSlices` geometry of
 * `src/lora/pages.ts`: layer l's A in its slices of layer l's K buffer, cut along `in` (a run of
 * input features k0..k0+n holds A's rank rows cut to those columns, `[rank, n]`, so each A row is
 * read contiguously as from a padded slot), its B `[out, rank]` rows in its slices of layer l's V
 * buffer, runs never straddling a slice. So a projection's shrink binds its layer's K buffer
 * where padded slots bind their A buffer, and its epilogue the V buffer where they bind B: the
 * same bindings, the same dispatches.
 *
 * A slot is its words in the `info` buffer (which both kernels bind already): the scale, the
 * ranks (as padded slots have them, `loraInfoIndex`), then the run table:
 *
 *   info[slot, tableAt + 4 (i - 1) + 0..3]  for rank word i: first run of A, A's runs, first run of B, B's runs
 *   info[slot, first + 3 j + 0..2]          run j: first input feature (A) or output feature (B), how many, f32 index in the buffer
 *
 * sized for the most runs an adapter of `maxRank` can take (`maxRunsOfFactor`).
 *
 * Reuse of pages reads nothing stale: pages change hands only between steps (the tier frees and
 * takes them while no step is in flight that uses them: a running request pins its adapter), an
 * upload is a `queue.writeBuffer` ordered after every step submitted before it and before every
 * step after it, an adapter is written whole (its run table last) before a step can name its
 * slot, and a page that held an adapter is read as KV only at positions a sequence wrote first.
 */
import type { LoraWeights } from '../../backend.ts';
import type { FusedRecipe } from '../../../model/arch/fuse.ts';
import type { ModelConfig } from '../../../model/config.ts';
import { checkLoraWeights } from '../../../lora/checkWeights.ts';
import { LoraSlotLayoutError } from '../../../lora/errors.ts';
import { adapterTargets, checkPagesFit, kvSlicePages, layoutAdapterPages, maxRunsOfFactor, type AdapterPageRun } from '../../../lora/pages.ts';
import { loraInfoIndex } from '../../../lora/slotImage.ts';
import { EngineLoraWeightsError } from '../../errors.ts';
import { webgpuRecipe } from '../fusedRecipe.ts';
import { kvSliceBytes, type GpuKvCache } from '../kvCache.ts';
import { matrixStride } from '../weights.ts';
import { checkPoolSize, createGpuSlotInfo } from './slotInfo.ts';
import type { GpuLoraGroup, GpuLoraSlotPool } from './slotPool.ts';

/** Words of a run in the table. */
const RUN_WORDS = 3;

/** Parameters of {@link createGpuLoraPagePool}. */
export interface CreateGpuLoraPagePoolParameters {
  device: GPUDevice;
  config: ModelConfig;
  /** The fused recipe the forward pass runs; default `webgpuRecipe(config)`. */
  recipe?: FusedRecipe;
  slots: number;
  /** Largest rank an adapter may have (1..128). */
  maxRank: number;
  /** The KV cache whose blocks are the pages. */
  kv: GpuKvCache;
}

/** Where a slot's words lie in `info`: the run table's headers, then its runs, and the words per slot. */
function tableLayout(config: ModelConfig, maxRank: number, sliceBytes: number): { tableAt: number; runsAt: number; maxRuns: number; infoStride: number } {
  const ranksEnd = 1 + config.numLayers * config.modules.length;
  const tableAt = ranksEnd;
  const runsAt = tableAt + 4 * (ranksEnd - 1);
  let maxRuns = 0;
  for (let l = 0; l < config.numLayers; l++) for (const m of config.modules) maxRuns += maxRunsOfFactor(m.in, maxRank, sliceBytes) + maxRunsOfFactor(m.out, maxRank, sliceBytes);
  return { tableAt, runsAt, maxRuns, infoStride: runsAt + RUN_WORDS * maxRuns };
}

/**
 * Bytes of the run tables of `slots` slots (the page pool's `bytesPerSlot · slots`), known before
 * the backend is made, so a unified budget can hold them (`memoryPlan`).
 */
export function gpuPageTableBytes(config: ModelConfig, slots: number, maxRank: number): number {
  return slots * tableLayout(config, maxRank, kvSliceBytes(config)).infoStride * 4;
}

/** Creates the run tables (every slot empty); the adapters' weights go into the KV cache's pages. */
export function createGpuLoraPagePool(p: CreateGpuLoraPagePoolParameters): GpuLoraSlotPool {
  const { device, config, slots, maxRank, kv } = p;
  checkPoolSize(slots, maxRank);
  const geometry = kvSlicePages(config.numLayers, kv.sliceBytes);
  checkPagesFit({ config, maxRank, geometry });
  const rank4 = Math.ceil(maxRank / 4) * 4;
  const { tableAt, runsAt, maxRuns, infoStride } = tableLayout(config, maxRank, kv.sliceBytes);
  const slotInfo = createGpuSlotInfo({ device, slots, infoStride });
  const groups = new Map<string, GpuLoraGroup>();
  for (const op of (p.recipe ?? webgpuRecipe(config)).layers.flat()) {
    if (op.op !== 'linear') continue;
    const { k, v } = kv.layers[op.layer];
    groups.set(op.key, { op, a: k, b: v, inPad: matrixStride(op.cols), rankWords: op.members.map((m) => loraInfoIndex(config, op.layer, m.module.name)) });
  }
  let destroyed = false;

  /** Writes the factors into the pages `ids` (a write per stretch of consecutive runs) and returns the slot's info words. */
  const writePages = (weights: LoraWeights, ids: readonly number[] | undefined): Uint32Array => {
    const words = new Uint32Array(infoStride);
    new Float32Array(words.buffer, 0, 1)[0] = weights.scale;
    let pending: { buffer: GPUBuffer; byte: number; parts: Float32Array[]; end: number } | undefined;
    const flush = () => {
      if (!pending) return;
      const data = new Float32Array((pending.end - pending.byte) / 4);
      let at = 0;
      for (const part of pending.parts) {
        data.set(part, at);
        at += part.length;
      }
      device.queue.writeBuffer(pending.buffer, pending.byte, data);
      pending = undefined;
    };
    let run = 0;
    const inOf = new Map(config.modules.map((m) => [m.name, m.in]));
    const runs: AdapterPageRun[] = [];
    const need = layoutAdapterPages({ config, rank: weights.rank, targets: adapterTargets(config, weights), geometry, onRun: (r) => runs.push(r) });
    if (!ids || ids.length < need) throw new EngineLoraWeightsError(`the adapter takes ${need} pages of unified memory and was given ${ids?.length ?? 0} (load it through the slot manager, which takes them from the page pool)`);
    for (const id of ids) if (!Number.isSafeInteger(id) || id < 0 || id >= kv.blocks) throw new EngineLoraWeightsError(`page ${id} is outside the KV cache [0, ${kv.blocks})`);
    if (runs.length > maxRuns) throw new LoraSlotLayoutError(`the adapter takes ${runs.length} runs, more than the ${maxRuns} a slot's table holds`);
    const r = weights.rank;
    for (const x of runs) {
      const rankWord = loraInfoIndex(config, x.layer, x.module);
      words[rankWord] = r;
      const header = tableAt + 4 * (rankWord - 1) + (x.factor === 'a' ? 0 : 2);
      if (words[header + 1] === 0) words[header] = runsAt + RUN_WORDS * run;
      words[header + 1]++;
      const byte = ids[x.page] * kv.sliceBytes + x.offset;
      words.set([x.firstRow, x.rows, byte / 4], runsAt + RUN_WORDS * run++);
      const { a, b } = weights.layers[x.layer][x.module]!;
      let part: Float32Array;
      if (x.factor === 'b') part = b.subarray(x.firstRow * r, (x.firstRow + x.rows) * r);
      else {
        // Input features firstRow.. of A [r, in]: its r rows cut to those columns, [r, rows].
        const inF = inOf.get(x.module)!;
        part = new Float32Array(x.rows * r);
        for (let t = 0; t < r; t++) part.set(a.subarray(t * inF + x.firstRow, t * inF + x.firstRow + x.rows), t * x.rows);
      }
      const buffer = x.factor === 'a' ? kv.layers[x.layer].k : kv.layers[x.layer].v;
      if (pending && (pending.buffer !== buffer || pending.end !== byte)) flush();
      pending ??= { buffer, byte, parts: [], end: byte };
      pending.parts.push(part);
      pending.end += part.length * 4;
    }
    flush();
    return words;
  };

  return {
    slots,
    maxRank,
    rank4,
    bAlign: 4,
    rankB: rank4,
    bytesPerSlot: infoStride * 4,
    inPages: true,
    pageGeometry: geometry,
    tableAt,
    config,
    dtype: 'f32',
    info: slotInfo.info,
    infoStride,
    group(op) {
      const g = groups.get(op.key);
      if (!g) throw new LoraSlotLayoutError(`no pages for projection ${op.key}`);
      return g;
    },
    rankOf: slotInfo.rankOf,
    rankAt: slotInfo.wordAt,
    lastUpload: undefined,
    async load(slot, weights, _image, ids) {
      slotInfo.check(slot);
      checkLoraWeights({ config, maxRank, weights });
      slotInfo.write(slot, writePages(weights, ids), weights.rank); // after the factors: a step sees the table only with its runs written
    },
    unload: slotInfo.clear,
    destroy() {
      if (destroyed) return;
      destroyed = true;
      slotInfo.info.destroy(); // the pages are the KV cache's
    },
  };
}
