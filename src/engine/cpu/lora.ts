/**
 * The CPU backend's LoRA slots in shared memory: per slot and (layer, module), A `[rank, in]` and
 * B `[out, rank]` f32 (the adapter precision rule: f16 values with `lora.dtype: f16`), so shrink and expand are f32 matmul tasks over
 * the rows of each slot's segment (SGMV), one per run of factor rows.
 *
 * Split memory: each slot is a padded buffer of `maxRank` (one run per factor). Unified memory
 * (`pages`): no slot memory; an adapter's factors are written into the pages of the KV pool it was
 * given (S-LoRA's unified pool), as runs of whole rows laid out by `src/lora/pages.ts`, and a slot
 * is the table of those runs (runs that follow each other in memory, in pages whose ids follow
 * each other, are one run).
 */
import { checkLoraWeights, slotElements } from '../../lora/checkWeights.ts';
import { loraDeviceWeights, type LoraDtype } from '../../lora/dtype.ts';
import { adapterTargets, checkPagesFit, layoutAdapterPages, rowPages, type AdapterPageRun } from '../../lora/pages.ts';
import type { ModelConfig, Projection } from '../../model/config.ts';
import type { LoraSlotPool, LoraWeights } from '../backend.ts';
import { EngineLoraWeightsError } from '../errors.ts';
import type { CpuMemory } from './memory.ts';

/** `rows` rows of a factor from `firstRow` (A: shrink outputs; B: output features), at byte `ptr`. */
export interface CpuLoraRun {
  ptr: number;
  firstRow: number;
  rows: number;
}

/** Where one module's factors of one slot live. */
export interface CpuLoraFactors {
  a: readonly CpuLoraRun[];
  b: readonly CpuLoraRun[];
}

/** The pool with the lookups the forward pass needs. */
export interface CpuWasmLoraPool extends LoraSlotPool {
  /** Rank and scale of the adapter in `slot`, or undefined (empty slot, or -1). */
  adapter(slot: number): { rank: number; scale: number; layers: LoraWeights['layers'] } | undefined;
  /** A and B of `module` at `layer` in `slot`, when the adapter targets it. */
  factors(slot: number, layer: number, module: string): CpuLoraFactors | undefined;
}

/** Parameters of {@link createCpuWasmLoraPool}. */
export interface CreateCpuWasmLoraPoolParameters {
  config: ModelConfig;
  mem: CpuMemory;
  slots: number;
  maxRank: number;
  /** Unified memory: adapters go into the pages `load` is given, `count` pages of `pageBytes` from byte `base` (the KV pool). */
  pages?: { base: number; pageBytes: number; count: number };
  /** `lora.dtype` as the backend resolved it (`resolveLoraDtype`): f16 holds A and B rounded to f16 values, as the WebGPU slots do; default f32, the values as loaded. */
  dtype?: LoraDtype;
}

/** Allocates `slots` slots of `maxRank` (split memory), or a table of runs per slot (unified memory). */
export function createCpuWasmLoraPool(p: CreateCpuWasmLoraPoolParameters): CpuWasmLoraPool {
  const { config, mem, slots, maxRank, pages } = p;
  const dtype = p.dtype ?? 'f32';
  const geometry = pages && rowPages(pages.pageBytes);
  if (geometry) checkPagesFit({ config, maxRank, geometry });
  const perSlot = pages ? 0 : slotElements(config, maxRank) * 4;
  const base = slots > 0 && !pages ? mem.alloc(perSlot * slots) : 0;
  const held: (LoraWeights | undefined)[] = Array.from({ length: slots }, () => undefined);
  // Per slot, per (layer, module) at `layer · modules + module index`: its runs (looked up for every segment of every step).
  const moduleIndex = new Map(config.modules.map((m, i) => [m.name, i]));
  const at = (layer: number, module: string) => layer * config.modules.length + (moduleIndex.get(module as Projection) ?? Number.NaN);
  const where: { a: CpuLoraRun[]; b: CpuLoraRun[] }[][] = Array.from({ length: slots }, () => []);
  const checkSlot = (slot: number) => {
    if (!Number.isInteger(slot) || slot < 0 || slot >= slots) throw new EngineLoraWeightsError(`slot ${slot} is outside the pool [0, ${slots})`);
  };

  /** Padded slot: each factor whole, one after the other. */
  const writeSlot = (slot: number, weights: LoraWeights) => {
    const f32 = mem.f32();
    let ptr = base + slot * perSlot;
    weights.layers.forEach((layer, l) => {
      for (const m of config.modules) {
        const ab = layer[m.name];
        if (!ab) continue;
        f32.set(ab.a, ptr / 4);
        f32.set(ab.b, ptr / 4 + ab.a.length);
        where[slot][at(l, m.name)] = { a: [{ ptr, firstRow: 0, rows: weights.rank }], b: [{ ptr: ptr + ab.a.length * 4, firstRow: 0, rows: m.out }] };
        ptr += (ab.a.length + ab.b.length) * 4;
      }
    });
  };

  /** Unified memory: runs of rows in the adapter's pages (laid out once, checked against the pages given, then written). */
  const writePages = (slot: number, weights: LoraWeights, ids: readonly number[] | undefined) => {
    const { base: kv, pageBytes, count } = pages!;
    const runs: AdapterPageRun[] = [];
    const need = layoutAdapterPages({ config, rank: weights.rank, targets: adapterTargets(config, weights), geometry: geometry!, onRun: (run) => runs.push(run) });
    if (!ids || ids.length < need) throw new EngineLoraWeightsError(`the adapter takes ${need} pages of unified memory and was given ${ids?.length ?? 0} (load it through the slot manager, which takes them from the page pool)`);
    for (const id of ids) if (!Number.isInteger(id) || id < 0 || id >= count) throw new EngineLoraWeightsError(`page ${id} is outside the KV pool [0, ${count})`);
    const f32 = mem.f32();
    for (const run of runs) {
      const factor = weights.layers[run.layer][run.module]![run.factor];
      const cols = run.rowFloats;
      const ptr = kv + ids[run.page] * pageBytes + run.offset;
      f32.set(factor.subarray(run.firstRow * cols, (run.firstRow + run.rows) * cols), ptr / 4);
      const key = at(run.layer, run.module);
      const f = (where[slot][key] ??= { a: [], b: [] });
      // A run that continues the previous one in memory (its page follows the last in the pool)
      // joins it: one matmul task fewer per segment and layer.
      const runs = f[run.factor];
      const last = runs[runs.length - 1];
      if (last && last.ptr + last.rows * cols * 4 === ptr && last.firstRow + last.rows === run.firstRow) last.rows += run.rows;
      else runs.push({ ptr, firstRow: run.firstRow, rows: run.rows });
    }
  };

  return {
    slots,
    maxRank,
    bytesPerSlot: perSlot,
    dtype,
    inPages: pages !== undefined,
    pageGeometry: geometry,
    adapter: (slot) => (slot >= 0 && slot < slots ? held[slot] : undefined),
    factors: (slot, layer, module) => (slot >= 0 && slot < slots && held[slot] ? where[slot][at(layer, module)] : undefined),
    async load(slot, given, _image, ids) {
      checkSlot(slot);
      checkLoraWeights({ config, maxRank, weights: given, dtype });
      const weights = loraDeviceWeights(given, dtype); // the values the kernels read (a copy only for f16)
      held[slot] = undefined;
      where[slot] = [];
      if (pages) writePages(slot, weights, ids);
      else writeSlot(slot, weights);
      held[slot] = given; // rank and scale; the factors are read from memory
    },
    unload(slot) {
      checkSlot(slot);
      held[slot] = undefined;
      where[slot] = [];
    },
  };
}
