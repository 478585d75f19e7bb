/**
 * Rotary position embedding tables: model math, shared by every backend (the CPU reference
 * rotates with {@link ropeInvFreq}; the GPU uploads {@link ropeTable}, computed the same way).
 */
import type { ModelConfig, RopeScaling } from '../config.ts';
import type { ConfigReader } from './configReader.ts';

/** Parameters of {@link ropeInvFreq}. */
export interface RopeInvFreqParameters {
  /** Elements of a head that rotate (`partial_rotary_factor` × head_dim). */
  rotaryDim: number;
  /** `rope_theta`. */
  theta: number;
  /** Frequency scaling; omit for plain RoPE. */
  scaling?: RopeScaling;
}

/**
 * RoPE inverse frequencies `inv_freq[i] = theta^(-2i/rotaryDim)` with the scaling applied: HF
 * `_compute_linear_scaling_rope_parameters` (divided by `factor`) or
 * `_compute_llama3_parameters` (long wavelengths divided by `factor`, short ones kept, a smooth
 * blend between). Returns `// [rotaryDim / 2] f32`.
 */
export function ropeInvFreq(p: RopeInvFreqParameters): Float32Array {
  const half = p.rotaryDim / 2;
  const inv = new Float32Array(half);
  for (let i = 0; i < half; i++) inv[i] = 1 / Math.pow(p.theta, (2 * i) / p.rotaryDim);
  const s = p.scaling;
  if (!s) return inv;
  if (s.type === 'linear') {
    for (let i = 0; i < half; i++) inv[i] = inv[i] / s.factor;
    return inv;
  }
  const lowFreqWavelen = s.originalMaxPositionEmbeddings / s.lowFreqFactor;
  const highFreqWavelen = s.originalMaxPositionEmbeddings / s.highFreqFactor;
  for (let i = 0; i < half; i++) {
    const f = inv[i];
    const wavelen = (2 * Math.PI) / f;
    if (wavelen > lowFreqWavelen) {
      inv[i] = f / s.factor;
    } else if (wavelen >= highFreqWavelen) {
      const smooth = (s.originalMaxPositionEmbeddings / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
      inv[i] = (1 - smooth) * (f / s.factor) + smooth * f;
    }
  }
  return inv;
}

/** The model's inverse frequencies. `// [rotaryDim / 2] f32` */
export function modelInvFreq(config: ModelConfig): Float32Array {
  return ropeInvFreq({ rotaryDim: config.rotaryDim, theta: config.ropeTheta, scaling: config.ropeScaling });
}

/**
 * `[positions, rotaryDim / 2]` (cos, sin) pairs in f32, `angle = f32(pos · inv_freq[i])` exactly
 * as the reference's `rope` computes them.
 */
export function ropeTable(config: ModelConfig, positions: number): Float32Array {
  const inv = modelInvFreq(config);
  const half = inv.length;
  const table = new Float32Array(positions * half * 2);
  for (let pos = 0; pos < positions; pos++) {
    for (let i = 0; i < half; i++) {
      const angle = Math.fround(pos * inv[i]);
      table[(pos * half + i) * 2] = Math.cos(angle);
      table[(pos * half + i) * 2 + 1] = Math.sin(angle);
    }
  }
  return table;
}

/** What {@link readRope} returns. */
export interface RopeFields {
  ropeTheta: number;
  ropeScaling?: RopeScaling;
  rotaryDim: number;
}

/**
 * `rope_theta`, `rope_scaling` (or the transformers v5 `rope_parameters` holding both) and
 * `partial_rotary_factor`. Scalings that depend on the sequence length (dynamic NTK, LongRoPE) or
 * rescale attention (YaRN) are refused. `partial` says whether the architecture rotates part of a
 * head (Phi-3); elsewhere a factor other than 1 is refused, as HF's modules cannot run it.
 */
export function readRope(r: ConfigReader, p: { headDim: number; defaultTheta: number; partial: boolean }): RopeFields {
  const params = r.raw('rope_parameters');
  const legacy = r.raw('rope_scaling');
  let scalingKey = 'rope_scaling';
  let source: Record<string, unknown> | undefined;
  if (params !== undefined && params !== null) {
    if (typeof params !== 'object' || Array.isArray(params)) r.invalid('rope_parameters', 'must be an object');
    source = params as Record<string, unknown>;
    scalingKey = 'rope_parameters';
  }
  if (legacy !== undefined && legacy !== null) {
    if (typeof legacy !== 'object' || Array.isArray(legacy)) r.invalid('rope_scaling', 'must be an object');
    source = { ...source, ...(legacy as Record<string, unknown>) };
    scalingKey = 'rope_scaling';
  }
  const thetaValue = source?.rope_theta ?? (r.has('rope_theta') ? r.raw('rope_theta') : p.defaultTheta);
  r.raw('rope_theta');
  if (typeof thetaValue !== 'number' || !Number.isFinite(thetaValue) || thetaValue <= 0) r.invalid(source?.rope_theta !== undefined ? scalingKey : 'rope_theta', 'must hold a positive rope_theta');
  const factorValue = source?.partial_rotary_factor ?? (r.has('partial_rotary_factor') ? r.raw('partial_rotary_factor') : 1);
  r.raw('partial_rotary_factor');
  if (typeof factorValue !== 'number' || !(factorValue > 0 && factorValue <= 1)) r.invalid('partial_rotary_factor', 'must be a number in (0, 1]');
  const rotaryDim = Math.floor(p.headDim * factorValue);
  if (factorValue !== 1 && !p.partial) r.refuse('partial_rotary_factor', 'this architecture rotates whole heads');
  if (rotaryDim < 2 || rotaryDim % 2 !== 0) r.invalid('partial_rotary_factor', `must give an even rotary size (head_dim ${p.headDim} × factor = ${rotaryDim})`);
  const type = source?.rope_type ?? source?.type ?? 'default';
  const hint = 'openlora implements plain RoPE and the "linear" and "llama3" scalings.';
  const field = (key: string): number => {
    const v = source?.[key];
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) r.invalid(scalingKey, `.${key} must be a positive number`);
    return v;
  };
  let ropeScaling: RopeScaling | undefined;
  if (type === 'default') ropeScaling = undefined;
  else if (type === 'linear') ropeScaling = { type: 'linear', factor: field('factor') };
  else if (type === 'llama3') {
    ropeScaling = {
      type: 'llama3',
      factor: field('factor'),
      lowFreqFactor: field('low_freq_factor'),
      highFreqFactor: field('high_freq_factor'),
      originalMaxPositionEmbeddings: field('original_max_position_embeddings'),
    };
    if (ropeScaling.highFreqFactor <= ropeScaling.lowFreqFactor) r.invalid(scalingKey, `.high_freq_factor must exceed low_freq_factor`);
  } else r.refuse(scalingKey, `rope type ${JSON.stringify(type)} is not implemented`, hint);
  return { ropeTheta: thetaValue, ropeScaling, rotaryDim };
}
