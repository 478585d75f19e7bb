/**
 * The one definition of token sampling: the reference and CPU backends call it on each sampled
 * row's logits (masks, logit bias, penalties and top logprobs included); the WebGPU engine ports it
 * to its sampling kernel (`shaders/sample.wgsl`).
 *
 * Algorithm for one row of raw logits `z` (length V) and a {@link SampleRow}:
 * 1. `logprob(t) = z[t] - logsumexp(z)` (temperature 1, before anything below): the reported
 *    logprob of the chosen token, and of the `topLogprobs` most likely tokens (z descending, ties
 *    by lower id) when asked.
 * 2. Adjust: `z'[t] = f32(z[t] + delta[t])` for the row's sparse `adjust` list (logit bias and
 *    penalties, see {@link logitAdjustments}); `z' = z` elsewhere. Allowed set `A`: the tokens
 *    whose `mask` bit is set (every token without a mask). Tokens outside `A` take no part below.
 * 3. `temperature == 0`: greedy, `argmax z'` over `A`, ties to the lowest id. Done.
 * 4. Otherwise `p = softmax(z' / temperature)` over `A`.
 * 5. Candidate order: probability descending, ties by lower id.
 * 6. top-k (`topK > 0`): keep the first `min(topK, |A|)` candidates.
 * 7. top-p (`topP < 1`): renormalize the kept set; walk it in candidate order accumulating
 *    probability and keep up to and including the first candidate where the sum reaches `>= topP`
 *    (at least one token is always kept).
 * 8. Inverse CDF: `u = uniform(seed, step)`, `target = u * sum(p over kept)`; walk the kept tokens
 *    in ascending id order accumulating `p`; choose the first token whose running sum is `> target`
 *    (the last kept token if rounding leaves none). Walking by id makes step 8 a prefix sum over
 *    the vocabulary on the GPU; the order only matters for which token a given `u` maps to.
 *
 * This code computes steps 4-8 in float64; a float32 GPU port agrees except when `u` lands within
 * rounding distance of a CDF boundary or a top-p cut, which tests should avoid or tolerate.
 */
import { MAX_TOP_LOGPROBS, type LogitAdjustments, type SampleRow, type SamplingParams, type StepOutput, type TokenMask } from './backend.ts';
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
  /** Sampling parameters; `mask`, `adjust` and `topLogprobs` as in {@link SampleRow}. */
  params: SamplingParams & Partial<Pick<SampleRow, 'mask' | 'adjust' | 'topLogprobs'>>;
  /** Index of the token being generated; with `params.seed` it fixes the draw. */
  step: number;
}

/** Result of {@link sampleToken}: what a backend's step reports for a sampled row: the token, its logprob (step 1) and, when asked, the top logprobs. */
export type SampleTokenReturnType = Required<Pick<StepOutput, 'token' | 'logprob'>> & Pick<StepOutput, 'top'>;

/** Chooses the next token by the algorithm in this module's header. */
export function sampleToken(p: SampleTokenParameters): SampleTokenReturnType {
  const { logits, params } = p;
  const z = params.adjust ? adjustLogits(logits, params.adjust) : logits;
  let token: number;
  let lse: number | undefined;
  if (params.temperature === 0) token = argmaxAllowed(z, params.mask);
  else if (params.topP >= 1 && (params.topK === 0 || params.topK >= allowedCount(params.mask, z.length))) {
    // Nothing is cut: step 8 straight from the exponentials, which at temperature 1 over the raw
    // logits are the log-sum-exp's own terms (the same values summed in the same order).
    const draw = drawUncut(z, params.mask, params.temperature, uniform(params.seed, p.step));
    token = draw.token;
    if (params.temperature === 1 && !params.mask && z === logits) lse = draw.max + Math.log(draw.sum);
  } else token = sampleFiltered(z, params, p.step);
  lse ??= logSumExp(logits); // once per row: a pass of exp over the vocabulary
  const out: SampleTokenReturnType = { token, logprob: logits[token] - lse };
  if (params.topLogprobs) out.top = topLogprobs(logits, params.topLogprobs, lse);
  return out;
}

/** `log softmax(logits)[token]` at temperature 1, float64. */
export function logprobOf(logits: ArrayLike<number>, token: number): number {
  return logits[token] - logSumExp(logits);
}

function logSumExp(logits: ArrayLike<number>): number {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i] > max) max = logits[i];
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i] - max);
  return max + Math.log(sum);
}

/** The `k` largest logits (ties: lower id first) as temperature-1 log-probabilities, most likely first; `lse`: the logits' log-sum-exp when already known. */
export function topLogprobs(logits: ArrayLike<number>, k: number, lse = logSumExp(logits)): { ids: Uint32Array; logprobs: Float32Array } {
  const n = Math.min(k, logits.length);
  // Keep a sorted window of the best n while scanning once: k <= 20, so insertion is cheap.
  const best: number[] = [];
  const before = (a: number, b: number) => logits[a] > logits[b] || (logits[a] === logits[b] && a < b);
  for (let i = 0; i < logits.length; i++) {
    if (best.length === n && !before(i, best[n - 1])) continue;
    let at = best.length < n ? best.length : n - 1;
    if (best.length < n) best.push(i);
    while (at > 0 && before(i, best[at - 1])) {
      best[at] = best[at - 1];
      at--;
    }
    best[at] = i;
  }
  return { ids: Uint32Array.from(best), logprobs: Float32Array.from(best, (i) => logits[i] - lse) };
}

/** Whether `mask` allows token `t` (no mask: every token). */
export function maskAllows(mask: TokenMask | undefined, t: number): boolean {
  return mask === undefined || ((mask[t >>> 5] >>> (t & 31)) & 1) === 1;
}

/** A mask allowing exactly `tokens`, for a vocabulary of `vocab` ids. */
export function maskOf(vocab: number, tokens: Iterable<number>): TokenMask {
  const mask = new Uint32Array(Math.ceil(vocab / 32));
  for (const t of tokens) mask[t >>> 5] |= 1 << (t & 31);
  return mask;
}

/** Step 2's `z'`: a float32 copy of `logits` with `adjust` added. */
export function adjustLogits(logits: ArrayLike<number>, adjust: LogitAdjustments): Float32Array {
  const z = Float32Array.from(logits);
  for (let i = 0; i < adjust.ids.length; i++) z[adjust.ids[i]] = z[adjust.ids[i]] + adjust.deltas[i];
  return z;
}

/** Parameters of {@link logitAdjustments}. */
export interface LogitAdjustmentsParameters {
  /** OpenAI `logit_bias`: token id → bias added to its logit (-100..100). */
  logitBias?: ReadonlyMap<number, number>;
  /** OpenAI `presence_penalty`: subtracted once from every token already generated. */
  presencePenalty?: number;
  /** OpenAI `frequency_penalty`: subtracted per time a token was generated. */
  frequencyPenalty?: number;
  /** How often each token was generated so far in this completion. */
  counts?: ReadonlyMap<number, number>;
}

/**
 * The sparse logit additions of one row (OpenAI's formula):
 * `delta[t] = bias[t] - count[t] * frequency_penalty - (count[t] > 0) * presence_penalty`,
 * rounded once to f32; undefined when nothing is added.
 */
export function logitAdjustments(p: LogitAdjustmentsParameters): LogitAdjustments | undefined {
  const delta = new Map<number, number>();
  for (const [t, b] of p.logitBias ?? []) if (b !== 0) delta.set(t, b);
  const presence = p.presencePenalty ?? 0;
  const frequency = p.frequencyPenalty ?? 0;
  if (presence !== 0 || frequency !== 0) {
    for (const [t, c] of p.counts ?? []) if (c > 0) delta.set(t, (delta.get(t) ?? 0) - c * frequency - presence);
  }
  const ids = Uint32Array.from([...delta.keys()].filter((t) => delta.get(t) !== 0)).sort();
  if (ids.length === 0) return undefined;
  return { ids, deltas: Float32Array.from(ids, (t) => delta.get(t)!) };
}

function argmaxAllowed(z: ArrayLike<number>, mask: TokenMask | undefined): number {
  if (!mask) return argmax(z);
  let best = -1;
  for (let i = 0; i < z.length; i++) if (maskAllows(mask, i) && (best < 0 || z[i] > z[best])) best = i;
  return best;
}

/**
 * The kept set and probabilities after mask, temperature, top-k and top-p (steps 3-7), for tests
 * and kernels that check their filtering. `logits` are already adjusted (`z'`); `probs` are
 * unnormalized over the kept set, 0 outside the allowed set.
 */
export function filterCandidates(logits: ArrayLike<number>, params: SamplingParams & { mask?: TokenMask }): { kept: Uint8Array; probs: Float64Array } {
  if (!(params.temperature > 0)) throw new RangeError(`temperature must be > 0 for sampling, got ${params.temperature}`);
  const n = logits.length;
  const { mask } = params;
  let max = -Infinity;
  let allowed = 0;
  for (let i = 0; i < n; i++) {
    if (!maskAllows(mask, i)) continue;
    allowed++;
    if (logits[i] > max) max = logits[i];
  }
  const probs = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    if (!maskAllows(mask, i)) continue;
    probs[i] = Math.exp((logits[i] - max) / params.temperature);
    sum += probs[i];
  }
  for (let i = 0; i < n; i++) probs[i] /= sum;
  const kept = new Uint8Array(n);
  const topK = params.topK > 0 ? Math.min(params.topK, allowed) : allowed;
  if (topK === allowed && params.topP >= 1) {
    for (let i = 0; i < n; i++) kept[i] = maskAllows(mask, i) ? 1 : 0;
    return { kept, probs };
  }
  const order = Array.from({ length: n }, (_, i) => i)
    .filter((i) => maskAllows(mask, i))
    .sort((a, b) => probs[b] - probs[a] || a - b);
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

/** Tokens `mask` allows among the first `n` ids. */
function allowedCount(mask: TokenMask | undefined, n: number): number {
  if (!mask) return n;
  let count = 0;
  for (let w of mask) {
    w = w - ((w >>> 1) & 0x55555555);
    w = (w & 0x33333333) + ((w >>> 2) & 0x33333333);
    count += (((w + (w >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
  }
  return count;
}

/**
 * Steps 4 and 8 when top-k and top-p keep every allowed token: what {@link sampleFiltered} draws,
 * with the same arithmetic in the same order, without building the kept set; also the largest
 * allowed logit and the sum of the unnormalized probabilities.
 */
function drawUncut(z: ArrayLike<number>, mask: TokenMask | undefined, temperature: number, u: number): { token: number; max: number; sum: number } {
  const n = z.length;
  let max = -Infinity;
  for (let i = 0; i < n; i++) if (maskAllows(mask, i) && z[i] > max) max = z[i];
  const e = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    if (!maskAllows(mask, i)) continue;
    e[i] = Math.exp((z[i] - max) / temperature);
    sum += e[i];
  }
  return { token: drawInverseCdf(e, (i) => maskAllows(mask, i), sum, u), max, sum };
}

/**
 * Step 8: the inverse-CDF draw with `u` over the tokens `keep` accepts, walked in id order, token
 * `i` weighing `weights[i] / scale`.
 */
export function drawInverseCdf(weights: Float64Array, keep: (i: number) => boolean, scale: number, u: number): number {
  let total = 0;
  for (let i = 0; i < weights.length; i++) if (keep(i)) total += weights[i] / scale;
  const target = u * total;
  let acc = 0;
  let last = -1;
  for (let i = 0; i < weights.length; i++) {
    if (!keep(i)) continue;
    acc += weights[i] / scale;
    last = i;
    if (acc > target) return i;
  }
  return last;
}

function sampleFiltered(logits: ArrayLike<number>, params: SamplingParams & { mask?: TokenMask }, step: number): number {
  const { kept, probs } = filterCandidates(logits, params);
  return drawInverseCdf(probs, (i) => kept[i] === 1, 1, uniform(params.seed, step));
}

/** Checks sampling parameters (and, given the vocabulary size, a row's mask and adjustments); throws {@link EngineSamplingParamsError} naming the bad value. */
export function validateSamplingParams(params: SamplingParams & Partial<Pick<SampleRow, 'mask' | 'adjust' | 'topLogprobs'>>, vocab?: number): void {
  if (!(Number.isFinite(params.temperature) && params.temperature >= 0)) throw new EngineSamplingParamsError(`temperature ${params.temperature} must be >= 0`);
  if (!(Number.isInteger(params.topK) && params.topK >= 0)) throw new EngineSamplingParamsError(`topK ${params.topK} must be an integer >= 0`);
  if (!(params.topP > 0 && params.topP <= 1)) throw new EngineSamplingParamsError(`topP ${params.topP} must be in (0, 1]`);
  if (!Number.isSafeInteger(params.seed)) throw new EngineSamplingParamsError(`seed ${params.seed} must be an integer`);
  const k = params.topLogprobs ?? 0;
  if (!(Number.isInteger(k) && k >= 0 && k <= MAX_TOP_LOGPROBS)) throw new EngineSamplingParamsError(`topLogprobs ${k} must be an integer in [0, ${MAX_TOP_LOGPROBS}]`);
  if (vocab === undefined) return;
  const { mask, adjust } = params;
  if (mask) {
    if (mask.length !== Math.ceil(vocab / 32)) throw new EngineSamplingParamsError(`a mask of ${mask.length} words does not cover a vocabulary of ${vocab} (${Math.ceil(vocab / 32)} words)`);
    if (vocab % 32 !== 0 && mask[mask.length - 1] >>> (vocab % 32) !== 0) throw new EngineSamplingParamsError(`the mask allows ids at or above the vocabulary size ${vocab}`);
    if (mask.every((w) => w === 0)) throw new EngineSamplingParamsError('the mask allows no token');
  }
  if (adjust) {
    if (adjust.ids.length !== adjust.deltas.length) throw new EngineSamplingParamsError(`adjust has ${adjust.ids.length} ids and ${adjust.deltas.length} deltas`);
    for (let i = 0; i < adjust.ids.length; i++) {
      if (adjust.ids[i] >= vocab || (i > 0 && adjust.ids[i] <= adjust.ids[i - 1])) throw new EngineSamplingParamsError(`adjust ids must be ascending, distinct and below ${vocab} (index ${i}: ${adjust.ids[i]})`);
      if (!Number.isFinite(adjust.deltas[i])) throw new EngineSamplingParamsError(`adjust delta ${adjust.deltas[i]} for token ${adjust.ids[i]} must be finite`);
    }
  }
}
