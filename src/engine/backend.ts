import type { AdapterPageGeometry } from '../lora/pages.ts';
import type { LoraDtype } from '../lora/dtype.ts';
import type { LoraSlotImage, LoraSlotImageLayout } from '../lora/slotImage.ts';
import type { ModelConfig, Projection } from '../model/config.ts';
import type { DeviceDtype } from '../model/dtype.ts';

/** Called as model weights load: `done` of `total` decoder layers are in place. */
export type LoadProgress = (done: number, total: number) => void;

/** Positions per KV-cache block (vLLM/S-LoRA use 16). */
export const KV_BLOCK_SIZE = 16;

/** Bytes of one KV block over every layer, K and V (f32, each head padded to a multiple of 4 as WebGPU stores it): the page of unified memory. */
export function kvBlockBytes(config: Pick<ModelConfig, 'numLayers' | 'numKvHeads' | 'headDim'>): number {
  return config.numLayers * 2 * config.numKvHeads * KV_BLOCK_SIZE * Math.ceil(config.headDim / 4) * 4 * 4;
}

/** How the next token of a sequence is chosen. `temperature == 0` means greedy. */
export interface SamplingParams {
  /** 0 = greedy (argmax); otherwise logits are divided by it before softmax. */
  temperature: number;
  /** Keep only the k most likely tokens; 0 = off. */
  topK: number;
  /** Keep the smallest set of tokens whose probability reaches p; 1 = off. */
  topP: number;
  /** Per-request seed; with `step` it fixes the uniform draw (see `sampling.ts`). */
  seed: number;
}

/**
 * Tokens the next draw may choose from: bit `t & 31` of word `t >> 5` set = token `t` allowed
 * (a grammar's mask, `src/grammar/`). `// [ceil(vocab / 32)] u32`
 */
export type TokenMask = Uint32Array;

/**
 * Sparse additions to one row's logits before the draw (OpenAI `logit_bias`, presence and
 * frequency penalties folded into one list by `logitAdjustments` in `sampling.ts`): `ids` ascending
 * and distinct, `deltas[i]` added to logit `ids[i]`.
 */
export interface LogitAdjustments {
  ids: Uint32Array;
  deltas: Float32Array;
}

/** How one row's next token is drawn: the request's sampling plus what this step adds. */
export interface SampleRow extends SamplingParams {
  /** Index of the token being generated (0 for the first): with `seed` it fixes the draw. */
  step: number;
  /** Only these tokens may be drawn (constrained decoding); absent = every token. */
  mask?: TokenMask;
  /** Added to logits before the draw; the reported logprobs stay the model's own. */
  adjust?: LogitAdjustments;
  /** Also return the `topLogprobs` most likely tokens of the model's own distribution (0..{@link MAX_TOP_LOGPROBS}). */
  topLogprobs?: number;
}

/** Most `top_logprobs` a row may ask for (OpenAI's limit). */
export const MAX_TOP_LOGPROBS = 20;

/** One sequence's share of a step: a prompt chunk (prefill) or its last sampled token (decode). */
export interface StepSequence {
  /** Token ids to run now. Prefill: a chunk of the prompt; decode: one token. */
  tokens: ArrayLike<number>;
  /** Position of `tokens[0]`: how many tokens of this sequence are already in the KV cache. */
  startPos: number;
  /**
   * KV blocks of this sequence in order; block `i` holds positions [16 i, 16 i + 16).
   * Must cover `startPos + tokens.length` positions. Block ids index the backend's KV pool.
   */
  blockTable: ArrayLike<number>;
  /** LoRA adapter slot in the backend's slot pool, or -1 for the base model alone. */
  adapterSlot: number;
  /** Sample one token after the last row; omit for a non-final prefill chunk. */
  sample?: SampleRow;
  /**
   * Teacher forcing: `targets[i]` is the token expected after row `i`; the result then carries
   * `log p(targets[i] | tokens up to row i)` for every row (attribution, perplexity).
   */
  targets?: ArrayLike<number>;
}

/** What a step returns for one sequence, in the order of the step's sequences. */
export interface StepOutput {
  /** The sampled token (when `sample` was given). */
  token?: number;
  /** log p(token) under the model's own distribution (temperature 1, before top-k/top-p, bias, penalties and mask). */
  logprob?: number;
  /** When `sample.topLogprobs` > 0: the most likely tokens under that same distribution, most likely first (ties: lower id). */
  top?: { ids: Uint32Array; logprobs: Float32Array };
  /** When `targets` was given: log p(targets[i]) per row, f32. */
  targetLogprobs?: Float32Array;
}

/** One adapter's LoRA weights, ready to upload into a slot (f32; the backend converts). */
export interface LoraWeights {
  /** Rank r (<= the pool's `maxRank`). */
  rank: number;
  /** alpha / r, or alpha / sqrt(r) with rsLoRA. */
  scale: number;
  /** Per layer, per targeted module (`config.modules` names): A [r, in] and B [out, r], row-major. Untargeted modules are absent. */
  layers: Array<Partial<Record<Projection, { a: Float32Array; b: Float32Array }>>>;
}

/**
 * The backend's adapter slots: `StepSequence.adapterSlot` indexes them. LoRA runs unmerged,
 * `y = W x + scale * B (A x)` (shrink then expand), only for rows whose slot is >= 0.
 */
export interface LoraSlotPool {
  /** Number of slots (0: this backend was created without LoRA). */
  readonly slots: number;
  /** Largest rank a slot holds. */
  readonly maxRank: number;
  /** Device bytes one slot takes (0 when adapters live in pages of the KV pool: `inPages`). */
  readonly bytesPerSlot: number;
  /** The dtype factors are held in: `lora.dtype` as the backend resolved it (`src/lora/dtype.ts`, `resolveLoraDtype`). */
  readonly dtype: LoraDtype;
  /**
   * Unified memory on the device: an adapter's factors are written into the pages of the KV pool
   * `load` is given (page ids of the scheduler's `PagePool`, laid out by `src/lora/pages.ts`), and a
   * slot is a small table of where they are; no padded slot memory is allocated.
   */
  readonly inPages?: boolean;
  /** How an `inPages` pool cuts a page (`src/lora/pages.ts`): the adapter tier counts an adapter's pages by it. */
  readonly pageGeometry?: AdapterPageGeometry;
  /**
   * The layout a slot holds on the device, where the pool can take adapters packed for it
   * (`src/lora/slotImage.ts`): the host tier then keeps them packed, so a warm load is a plain copy.
   */
  readonly imageLayout?: LoraSlotImageLayout;
  /**
   * Uploads an adapter into a slot, replacing what was there; `image`, when packed for
   * `imageLayout`, is copied as it is; `pages` (unified memory): the page ids the adapter holds,
   * which an `inPages` pool writes its factors into (others ignore them). Must not be called for a
   * slot used by the step in flight. Resolves once the upload is ordered before any later submitted
   * step (not once the device ran it).
   */
  load(slot: number, weights: LoraWeights, image?: LoraSlotImage, pages?: readonly number[]): Promise<void>;
  /** Clears a slot (rows pointing at it then get no LoRA delta). */
  unload(slot: number): void;
}

/** The engines: WebGPU, the WebAssembly CPU backend, and the plain TypeScript reference (the oracle). */
export type BackendKind = 'webgpu' | 'cpu' | 'reference';

/**
 * A model backend: the WebGPU engine, the CPU backend or the reference. Both run the same model files and
 * must agree (greedy tokens identical on f32 models; logits within the tolerances in the tests).
 * The caller (scheduler) owns KV block allocation; the backend owns the KV memory.
 */
export interface Backend {
  readonly kind: BackendKind;
  readonly config: ModelConfig;
  /** Dtype weight matrices are held in (`src/model/deviceTensor.ts`; f16 tensors out of range stay f32). */
  readonly dtype: DeviceDtype;
  /** KV blocks allocated at creation (ids 0 .. numKvBlocks-1). */
  readonly numKvBlocks: number;
  /** Bytes of the KV pool on the device (unified memory on the CPU backend: every page, adapters' included); absent on the reference. */
  readonly kvBytes?: number;
  /** Adapter slots (see `LoraSlotPool`). */
  readonly lora: LoraSlotPool;
  /** Runs one forward step over all sequences' rows at once. */
  step(sequences: readonly StepSequence[], signal?: AbortSignal): Promise<StepOutput[]>;
  /** Full-vocabulary logits of the last row of each sequence (tests and tools, not the hot path). */
  logits(sequences: readonly StepSequence[]): Promise<Float32Array[]>;
  /** Frees device memory. Idempotent. */
  destroy(): void;
}
