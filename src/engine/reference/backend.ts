/**
 * The reference backend: the model in plain float32 TypeScript, a paged KV cache in one
 * `Float32Array` indexed by block id, LoRA slots, and the shared sampling. Slow but obviously
 * right: the oracle the WebGPU engine and the WebAssembly CPU backend (`src/engine/cpu/`) are
 * tested against (`--backend reference`).
 */
import type { LoadedModel } from '../../model/load.ts';
import { KV_BLOCK_SIZE, type Backend, type LoadProgress, type StepOutput, type StepSequence } from '../backend.ts';
import { EngineUnsupportedError } from '../errors.ts';
import { checkStepSequence } from '../checkStep.ts';
import { logprobOf, sampleToken } from '../sampling.ts';
import { forwardHidden, lmHead } from './forward.ts';
import { createCpuLoraPool } from './lora.ts';
import { kvBlockFloats, type KvLayout } from './ops.ts';
import { modelInvFreq } from '../../model/arch/rope.ts';
import { loadCpuWeights } from './weights.ts';
import { resolveLoraDtype, type LoraDtypeSetting } from '../../lora/dtype.ts';

/** Parameters of {@link createReferenceBackend}. */
export interface CreateReferenceBackendParameters {
  model: LoadedModel;
  /** KV blocks in the pool (each holds {@link KV_BLOCK_SIZE} positions of every layer). */
  numKvBlocks: number;
  /** LoRA adapter slots; default 4. */
  loraSlots?: number;
  /** Largest adapter rank; default 64. */
  maxLoraRank?: number;
  /** `lora.dtype` (`src/lora/dtype.ts`): f16 computes with A and B rounded to f16, as the WebGPU slots hold them; default auto, the base model's (`resolveLoraDtype`). */
  loraDtype?: LoraDtypeSetting;
  /** Weight loading progress, per decoder layer. */
  onProgress?: LoadProgress;
  signal?: AbortSignal;
}

/** Loads the weights (f32; f16-rounded when `model.dtype` is f16) and allocates the KV pool. */
export async function createReferenceBackend(p: CreateReferenceBackendParameters): Promise<Backend> {
  const { model, numKvBlocks } = p;
  const config = model.config;
  let weights: Awaited<ReturnType<typeof loadCpuWeights>> | undefined = await loadCpuWeights({ model, onProgress: p.onProgress, signal: p.signal });
  const layout: KvLayout = { numLayers: config.numLayers, numKvHeads: config.numKvHeads, headDim: config.headDim, blockSize: KV_BLOCK_SIZE };
  let cache: Float32Array | undefined = new Float32Array(numKvBlocks * kvBlockFloats(layout)); // [numKvBlocks, layers, 2, 16, kvHeads, headDim]
  const invFreq = modelInvFreq(config);
  const lora = createCpuLoraPool({ config, slots: p.loraSlots ?? 4, maxRank: p.maxLoraRank ?? 64, dtype: resolveLoraDtype({ setting: p.loraDtype, model }) });

  const check = (seq: StepSequence): void => checkStepSequence({ config, numKvBlocks, seq });

  const run = (seq: StepSequence, signal?: AbortSignal): Float32Array => {
    if (!weights || !cache) throw new EngineUnsupportedError('A step after destroy()', 'Create a new backend with createReferenceBackend.');
    return forwardHidden({ config, weights, invFreq, cache, layout, tokens: seq.tokens, startPos: seq.startPos, blockTable: seq.blockTable, adapter: lora.get(seq.adapterSlot), signal });
  };

  return {
    kind: 'reference',
    config,
    dtype: model.dtype,
    numKvBlocks,
    lora,
    async step(sequences, signal) {
      sequences.forEach(check);
      const outputs: StepOutput[] = [];
      for (const seq of sequences) {
        signal?.throwIfAborted();
        const hidden = run(seq, signal); // [rows, hidden]
        const n = seq.tokens.length;
        const out: StepOutput = {};
        if (seq.targets) {
          const logits = lmHead({ config, weights: weights!, hidden, rowIndices: Array.from({ length: n }, (_, i) => i) }); // [n, vocab]
          out.targetLogprobs = new Float32Array(n);
          for (let i = 0; i < n; i++) out.targetLogprobs[i] = logprobOf(logits.subarray(i * config.vocabSize, (i + 1) * config.vocabSize), seq.targets[i]);
        }
        if (seq.sample) {
          const logits = lmHead({ config, weights: weights!, hidden, rowIndices: [n - 1] }); // [1, vocab]
          Object.assign(out, sampleToken({ logits, params: seq.sample, step: seq.sample.step }));
        }
        outputs.push(out);
      }
      return outputs;
    },
    async logits(sequences) {
      sequences.forEach(check);
      return sequences.map((seq) => lmHead({ config, weights: weights!, hidden: run(seq), rowIndices: [seq.tokens.length - 1] }));
    },
    destroy() {
      weights = undefined;
      cache = undefined;
    },
  };
}
