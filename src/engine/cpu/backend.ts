/**
 * The CPU backend: the model in WebAssembly with 128-bit SIMD (`wasm/kernels.ts`), weights, paged
 * KV cache, activations and LoRA slots in one shared memory (in unified memory, adapters in pages
 * of the KV pool: `pageBytes`), matmuls and attention split across
 * worker threads (default: every core). A step batches every sequence's rows into passes of up to
 * `maxRows` rows as the WebGPU engine does. What a machine without a GPU runs; the plain
 * TypeScript reference (`src/engine/reference/`) stays the oracle it is tested against.
 */
import type { LoadedModel } from '../../model/load.ts';
import { modelInvFreq } from '../../model/arch/rope.ts';
import { KV_BLOCK_SIZE, type Backend, type LoadProgress, type StepOutput, type StepSequence } from '../backend.ts';
import { checkStepSequence } from '../checkStep.ts';
import { EngineUnsupportedError } from '../errors.ts';
import { logprobOf, sampleToken } from '../sampling.ts';
import { allocPassBuffers, forwardPass, type CpuForwardContext, type PassSegment } from './forward.ts';
import { emptyStepProfile, type CpuStepProfile } from './stepProfile.ts';
import { instantiateKernels, kernelModule } from './kernels.ts';
import { createCpuWasmLoraPool } from './lora.ts';
import { createCpuMemory } from './memory.ts';
import { createThreadPool, defaultThreads } from './threads.ts';
import { loadCpuWeights } from './weights.ts';
import { resolveLoraDtype, type LoraDtypeSetting } from '../../lora/dtype.ts';

/** Rows one pass holds unless told otherwise (a prefill chunk of 256 tokens runs as one pass). */
export const DEFAULT_CPU_MAX_ROWS = 256;
/** Rows lm_head runs at once (teacher-forced sequences run in chunks of this many). */
const MAX_LOGIT_ROWS = 64;

/** Parameters of {@link createCpuBackend}. */
export interface CreateCpuBackendParameters {
  model: LoadedModel;
  /** KV blocks in the pool (each holds {@link KV_BLOCK_SIZE} positions of every layer); in unified memory, the budget's pages. */
  numKvBlocks: number;
  /**
   * Unified memory (`engine.memory.mode: unified`, `src/scheduler/memory.ts`): the KV pool is
   * `numKvBlocks` pages of this many bytes (`kvBlockBytes`: at least one KV block) that KV blocks
   * and adapters share by page id; adapters are written into the pages the slot manager gives them
   * and no slot memory is allocated. Default: split memory (the pool and `loraSlots` padded slots).
   */
  pageBytes?: number;
  /** LoRA adapter slots; default 4. */
  loraSlots?: number;
  /** Largest adapter rank; default 64. */
  maxLoraRank?: number;
  /** `lora.dtype` (`src/lora/dtype.ts`): f16 computes with A and B rounded to f16, as the WebGPU slots hold them; default auto, the base model's (`resolveLoraDtype`). */
  loraDtype?: LoraDtypeSetting;
  /** Threads running the kernels (this one included); default every core (`os.availableParallelism()`). */
  threads?: number;
  /** Rows per pass; default {@link DEFAULT_CPU_MAX_ROWS}. */
  maxRows?: number;
  /** Times each pass's phases (`takeProfile`); default off. */
  profile?: boolean;
  onProgress?: LoadProgress;
  signal?: AbortSignal;
}

/** The CPU backend, with what it was created with. */
export interface CpuBackend extends Backend {
  readonly kind: 'cpu';
  readonly threads: number;
  /** Bytes of shared memory it holds (weights, KV cache, activations, slots). */
  readonly memoryBytes: number;
  /** Bytes of the KV pool (in unified memory, the whole page budget: KV blocks and adapters). */
  readonly kvBytes: number;
  /** With `profile`: milliseconds per phase of the passes run since the last call (then reset); else undefined. */
  takeProfile(): CpuStepProfile | undefined;
}

/** Loads the weights into shared memory, allocates the KV pool and starts the threads. */
export async function createCpuBackend(p: CreateCpuBackendParameters): Promise<CpuBackend> {
  const { model, numKvBlocks } = p;
  const config = model.config;
  const threads = p.threads ?? defaultThreads();
  const maxRows = p.maxRows ?? DEFAULT_CPU_MAX_ROWS;
  const mem = createCpuMemory();
  const module = kernelModule();
  const kernels = instantiateKernels(module, mem.memory);
  const weights = await loadCpuWeights({ model, mem, onProgress: p.onProgress, signal: p.signal });
  const blockBytes = config.numLayers * 2 * KV_BLOCK_SIZE * config.numKvHeads * config.headDim * 4;
  const pageBytes = p.pageBytes ?? blockBytes;
  if (pageBytes < blockBytes || pageBytes % 4 !== 0) throw new EngineUnsupportedError(`A page of ${p.pageBytes} bytes for KV blocks of ${blockBytes} bytes`, 'Pages of unified memory are kvBlockBytes(config) bytes (src/engine/backend.ts).');
  const cache = mem.alloc(numKvBlocks * pageBytes); // [numKvBlocks, layers, 2, 16, kvHeads, headDim] f32, blocks a page apart
  const lora = createCpuWasmLoraPool({ config, mem, slots: p.loraSlots ?? 4, maxRank: p.maxLoraRank ?? 64, dtype: resolveLoraDtype({ setting: p.loraDtype, model, unified: p.pageBytes !== undefined }), pages: p.pageBytes === undefined ? undefined : { base: cache, pageBytes, count: numKvBlocks } });
  const maxContext = Math.min(config.maxPositionEmbeddings, numKvBlocks * KV_BLOCK_SIZE);
  const buffers = allocPassBuffers({ mem, config, acts: weights.recipe.acts, maxRows, maxLogitRows: MAX_LOGIT_ROWS, maxRank: lora.maxRank, threads, maxContext, numKvBlocks });
  const pool = await createThreadPool({ threads, memory: mem, module, kernels });
  const ctx: CpuForwardContext = { config, weights, kernels, mem, pool, lora, buffers, cache, blockFloats: pageBytes / 4, invFreq: modelInvFreq(config), profile: p.profile ? emptyStepProfile() : undefined };
  let destroyed = false;

  const check = (seq: StepSequence) => checkStepSequence({ config, numKvBlocks, seq });

  /** Runs the sequences' rows in passes; `wants(seq)` says which of a piece's rows get logits. */
  const run = (sequences: readonly StepSequence[], onRow: (seq: number, row: number, logits: Float32Array) => void, wants: (seq: number, first: number, count: number) => number[], signal?: AbortSignal) => {
    if (destroyed) throw new EngineUnsupportedError('A step after destroy()', 'Create a new backend with createCpuBackend.');
    let pass: (PassSegment & { seq: number; first: number })[] = [];
    let rows = 0;
    let tables = 0;
    const flush = () => {
      if (!pass.length) return;
      const logitRows: number[] = [];
      const owners: [number, number][] = [];
      let at = 0;
      for (const piece of pass) {
        for (const r of wants(piece.seq, piece.first, piece.tokens.length)) {
          logitRows.push(at + r - piece.first);
          owners.push([piece.seq, r]);
        }
        at += piece.tokens.length;
      }
      let next = 0;
      forwardPass({
        ctx,
        segments: pass,
        logitRows,
        signal,
        onLogits: (chunk, logits) => {
          for (let j = 0; j < chunk.length; j++, next++) onRow(owners[next][0], owners[next][1], logits.subarray(j * config.vocabSize, (j + 1) * config.vocabSize));
        },
      });
      pass = [];
      rows = 0;
      tables = 0;
    };
    sequences.forEach((seq, s) => {
      for (let first = 0; first < seq.tokens.length; first += maxRows) {
        const count = Math.min(maxRows, seq.tokens.length - first);
        const startPos = seq.startPos + first;
        const blocks = Math.ceil((startPos + count) / KV_BLOCK_SIZE);
        if (rows + count > maxRows || tables + blocks > buffers.maxTables) flush();
        const tokens = Array.from({ length: count }, (_, i) => seq.tokens[first + i]);
        pass.push({ tokens, startPos, blockTable: Array.from({ length: blocks }, (_, i) => seq.blockTable[i]), adapterSlot: seq.adapterSlot, seq: s, first });
        rows += count;
        tables += blocks;
      }
    });
    flush();
  };

  return {
    kind: 'cpu',
    config,
    dtype: model.dtype,
    numKvBlocks,
    lora,
    threads: pool.threads,
    memoryBytes: mem.used,
    kvBytes: numKvBlocks * pageBytes,
    takeProfile() {
      const taken = ctx.profile;
      if (taken) ctx.profile = emptyStepProfile();
      return taken;
    },
    async step(sequences, signal) {
      sequences.forEach(check);
      const outputs: StepOutput[] = sequences.map((seq) => (seq.targets ? { targetLogprobs: new Float32Array(seq.tokens.length) } : {}));
      run(
        sequences,
        (s, r, logits) => {
          const seq = sequences[s];
          if (seq.targets) outputs[s].targetLogprobs![r] = logprobOf(logits, seq.targets[r]);
          if (seq.sample && r === seq.tokens.length - 1) Object.assign(outputs[s], sampleToken({ logits, params: seq.sample, step: seq.sample.step }));
        },
        (s, first, count) => {
          const seq = sequences[s];
          if (seq.targets) return Array.from({ length: count }, (_, i) => first + i);
          return seq.sample && first + count === seq.tokens.length ? [seq.tokens.length - 1] : [];
        },
        signal,
      );
      return outputs;
    },
    async logits(sequences) {
      sequences.forEach(check);
      const out: Float32Array[] = [];
      run(
        sequences,
        (s, _r, logits) => (out[s] = logits.slice()),
        (s, first, count) => (first + count === sequences[s].tokens.length ? [sequences[s].tokens.length - 1] : []),
      );
      return out;
    },
    destroy() {
      if (destroyed) return;
      destroyed = true;
      void pool.close();
    },
  };
}
