/**
 * Where a CPU forward pass spends its time, per phase (`createCpuBackend({ profile: true })`,
 * `takeProfile`; `npm run bench:batch` prints it).
 */

/** Milliseconds a pass spent per phase (each includes waiting for the worker threads' share). */
export interface CpuStepProfile {
  /** The base model's projections and lm_head. */
  matmul: number;
  /** LoRA shrink and expand, building their tasks included. */
  lora: number;
  /** RoPE, the KV store and the attention job. */
  attention: number;
  /** Embedding, norms, GLU, the rows' tables and RoPE angles. */
  other: number;
  /** What the caller does with the logits (sampling). */
  logits: number;
}

/** A profile with every phase at 0. */
export function emptyStepProfile(): CpuStepProfile {
  return { matmul: 0, lora: 0, attention: 0, other: 0, logits: 0 };
}

/** Adds the time since the last call to `phase` of `profile` (nothing without one). */
export function stopwatch(profile: CpuStepProfile | undefined): (phase: keyof CpuStepProfile) => void {
  if (!profile) return () => {};
  let last = performance.now();
  return (phase) => {
    const now = performance.now();
    profile[phase] += now - last;
    last = now;
  };
}
