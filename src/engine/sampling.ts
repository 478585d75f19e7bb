/**
 * The one definition of token sampling, shared by the CPU reference and the WebGPU engine.
 *
 * Algorithm for one row of raw logits `z` (length V) and {@link SamplingParams}:
 * 1. `logprob(t) = z[t] - logsumexp(z)` (temperature 1, before any filtering).
 * 2. `temperature == 0`: greedy, `argmax z`, ties to the lowest id. Done.
 * 3. Otherwise `p = softmax(z / temperature)`.
 * 4. Candidate order: probability descending, ties by lower id.
 * 5. top-k (`topK > 0`): keep the first `min(topK, V)` candidates.
 * 6. top-p (`topP < 1`): renormalize the kept set; walk it in candidate order accumulating
 *    probability and keep up to and including the first candidate where the sum reaches `>= topP`
 *    (at least one token is always kept).
 * 7. Inverse CDF: `u = uniform(seed, step)`, `target = u * sum(p over kept)`; walk the kept tokens
 *    in ascending id order accumulating `p`; choose the first token whose running sum is `> target`
 *    (the last kept token if rounding leaves none). Walking by id makes step 7 a prefix sum over
 *    the vocabulary on the GPU; the order only matters for which token a given `u` maps to.
 *
 * The CPU computes steps 3-7 in float64; a float32 GPU port agrees except when `u` lands within
 * rounding distance of a CDF boundary or a top-p cut, which tests should avoid or tolerate.
 */
import type { SamplingParams } from './backend.ts';
import { EngineSamplingParamsError } from './errors.ts';

/**
 * PCG-RXS-M-XS 32-bit hash (Jarzynski & Olano 2020, "Hash Functions for GPU Rendering"), all u32
 * arithmetic with wrap-around. WGSL port, bit for bit:
 * ```wgsl
 * fn pcg_hash(x: u32) -> u32 {
 *   let state = x * 747796405u + 2891336453u;
 *   let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
 *   return (word >> 22u) ^ word;
 * }
 * ```
 */
export function pcgHash(x: number): number {
  const state = (Math.imul(x >>> 0, 747796405) + 2891336453) >>> 0;
  const word = Math.imul(((state >>> ((state >>> 28) + 4)) ^ state) >>> 0, 277803737) >>> 0;
  return ((word >>> 22) ^ word) >>> 0;
}

/**
 * Counter-based uniform draw in [0, 1) with 24 random bits, fixed by `(seed, step)`:
 * `h = pcg_hash(pcg_hash(seed) ^ step); u = f32(h >> 8) / 16777216.0`.
 * `seed` and `step` are taken modulo 2^32 (their low 32 bits). WGSL:
 * ```wgsl
 * fn uniform(seed: u32, step: u32) -> f32 {
 *   return f32(pcg_hash(pcg_hash(seed) ^ step) >> 8u) / 16777216.0;
 * }
 * ```
 * The result is exactly representable in f32, so CPU and GPU get the same value.
 */
export function uniform(seed: number, step: number): number {
  const h = pcgHash((pcgHash(toU32(seed)) ^ toU32(step)) >>> 0);
  return (h >>> 8) / 16777216;
}

/** Low 32 bits of a non-negative or negative integer (numbers beyond 2^53 lose bits before this). */
function toU32(n: number): number {
  if (!Number.isFinite(n)) throw new RangeError(`sampling seed/step must be finite, got ${n}`);
  return Number(BigInt.asUintN(32, BigInt(Math.trunc(n))));
}

/** Index of the largest value, ties to the lowest index. */
export function argmax(x: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i] > x[best]) best = i;
  return best;
}

/** Parameters of {@link sampleToken}. */
export interface SampleTokenParameters {
  /** Raw logits of one row. `// [vocab] f32` */
  logits: ArrayLike<number>;
  params: SamplingParams;
  /** Index of the token being generated; with `params.seed` it fixes the draw. */
  step: number;
}

/** Result of {@link sampleToken}. */
export interface SampleTokenReturnType {
  token: number;
  /** `log softmax(logits)[token]` at temperature 1. */
  logprob: number;
}

/** Chooses the next token by the algorithm in this module's header. */
export function sampleToken(p: SampleTokenParameters): SampleTokenReturnType {
  const { logits, params } = p;
  const token = params.temperature === 0 ? argmax(logits) : sampleFiltered(logits, params, p.step);
  return { token, logprob: logprobOf(logits, token) };
}

/** `log softmax(logits)[token]` at temperature 1, float64. */
export function logprobOf(logits: ArrayLike<number>, token: number): number {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i] > max) max = logits[i];
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i] - max);
  return logits[token] - max - Math.log(sum);
}

/**
 * The kept set and probabilities after temperature, top-k and top-p (steps 3-6), for tests and
 * kernels that check their filtering. `probs` are unnormalized over the kept set.
 */
export function filterCandidates(logits: ArrayLike<number>, params: SamplingParams): { kept: Uint8Array; probs: Float64Array } {
  if (!(params.temperature > 0)) throw new RangeError(`temperature must be > 0 for sampling, got ${params.temperature}`);
  const n = logits.length;
  let max = -Infinity;
  for (let i = 0; i < n; i++) if (logits[i] > max) max = logits[i];
  const probs = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    probs[i] = Math.exp((logits[i] - max) / params.temperature);
    sum += probs[i];
  }
  for (let i = 0; i < n; i++) probs[i] /= sum;
  const kept = new Uint8Array(n);
  const topK = params.topK > 0 ? Math.min(params.topK, n) : n;
  if (topK === n && params.topP >= 1) {
    kept.fill(1);
    return { kept, probs };
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => probs[b] - probs[a] || a - b);
  let count = topK;
  if (params.topP < 1) {
    let keptMass = 0;
    for (let j = 0; j < topK; j++) keptMass += probs[order[j]];
    let acc = 0;
    count = 0;
    while (count < topK) {
      acc += probs[order[count]] / keptMass;
      count++;
      if (acc >= params.topP) break;
    }
  }
  for (let j = 0; j < count; j++) kept[order[j]] = 1;
  return { kept, probs };
}

function sampleFiltered(logits: ArrayLike<number>, params: SamplingParams, step: number): number {
  const { kept, probs } = filterCandidates(logits, params);
  let total = 0;
  for (let i = 0; i < probs.length; i++) if (kept[i]) total += probs[i];
  const target = uniform(params.seed, step) * total;
  let acc = 0;
  let last = -1;
  for (let i = 0; i < probs.length; i++) {
    if (!kept[i]) continue;
    acc += probs[i];
    last = i;
    if (acc > target) return i;
  }
  return last;
}

/** Checks sampling parameters; throws {@link EngineSamplingParamsError} naming the bad value. */
export function validateSamplingParams(params: SamplingParams): void {
  if (!(Number.isFinite(params.temperature) && params.temperature >= 0)) throw new EngineSamplingParamsError(`temperature ${params.temperature} must be >= 0`);
  if (!(Number.isInteger(params.topK) && params.topK >= 0)) throw new EngineSamplingParamsError(`topK ${params.topK} must be an integer >= 0`);
  if (!(params.topP > 0 && params.topP <= 1)) throw new EngineSamplingParamsError(`topP ${params.topP} must be in (0, 1]`);
  if (!Number.isSafeInteger(params.seed)) throw new EngineSamplingParamsError(`seed ${params.seed} must be an integer`);
}
