/**
 * Fixed-point attribution weights. On-chain weights are integers: one unit is one micro-nat of
 * summed negative log-likelihood removed by the adapter (`floor(w_nats * 1e6)` per contribution;
 * a contributor's weight is the sum of its contributions' units). `AdapterRegistry` stores the
 * total as uint64: ~1.8e13 nats of loss removed, far beyond any Datanet.
 */

/** Weight units per nat (micro-nats). */
export const WEIGHT_UNITS_PER_NAT = 1_000_000;

/** A contribution's weight in units: `floor(max(0, nats) * 1e6)`. */
export function natsToUnits(nats: number): bigint {
  if (!Number.isFinite(nats) || nats <= 0) return 0n;
  return BigInt(Math.floor(nats * WEIGHT_UNITS_PER_NAT));
}

/** Units back to nats (for display). */
export function unitsToNats(units: bigint): number {
  return Number(units) / WEIGHT_UNITS_PER_NAT;
}

/**
 * Verification tolerance: two weights agree when `|a - b| <= max(abs, rel * max(a, b))`.
 * Defaults: on one machine the computation is bit-for-bit deterministic (tolerance unused);
 * across devices (CPU reference f32 vs WebGPU, f16 weights) per-token log-probabilities differ by
 * up to ~1e-3 relative, so 1e-3 relative plus 1000 units (1e-3 nat) absolute.
 */
export interface WeightTolerance {
  /** Relative tolerance. Default {@link DEFAULT_RELATIVE_TOLERANCE}. */
  relative: number;
  /** Absolute tolerance in units. Default {@link DEFAULT_ABSOLUTE_TOLERANCE_UNITS}. */
  absoluteUnits: bigint;
}

export const DEFAULT_RELATIVE_TOLERANCE = 1e-3;
export const DEFAULT_ABSOLUTE_TOLERANCE_UNITS = 1000n;
export const DEFAULT_WEIGHT_TOLERANCE: WeightTolerance = { relative: DEFAULT_RELATIVE_TOLERANCE, absoluteUnits: DEFAULT_ABSOLUTE_TOLERANCE_UNITS };

/** Whether two weights agree within `tolerance`. */
export function weightsAgree(a: bigint, b: bigint, tolerance: WeightTolerance = DEFAULT_WEIGHT_TOLERANCE): boolean {
  const diff = a > b ? a - b : b - a;
  const big = a > b ? a : b;
  const rel = BigInt(Math.floor(Number(big) * tolerance.relative));
  return diff <= (rel > tolerance.absoluteUnits ? rel : tolerance.absoluteUnits);
}
