/**
 * The bytes distinct adapters add to a decode step (scripts/bench/lib/loraBytes.ts), checked
 * against the shapes of bench-135m and bench-1b worked out by hand.
 */
import { describe, expect, it } from 'vitest';
import { adapterReadShare } from '../../../../scripts/bench/lib/loraBytes.ts';
import { parseModelConfig } from '../../../../src/model/parseConfig.ts';
import { presetConfigJson } from '../../../../src/model/presets.ts';

const config = (preset: 'bench-135m' | 'bench-1b') => parseModelConfig({ json: presetConfigJson(preset), file: `${preset}/config.json` });
const ALL = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'];

describe('adapterReadShare', () => {
  it('bench-135m, rank 16 on all seven projections: 32 adapters read more than the base weights', () => {
    // Per layer: q and o 16 x (576 + 576), k and v 16 x (576 + 192), gate, up and down 16 x (576 + 1536).
    const perLayer = 2 * 16 * 1152 + 2 * 16 * 768 + 3 * 16 * 2112;
    const share = adapterReadShare({ config: config('bench-135m'), rank: 16, distinct: 32, targets: ALL, dtype: 'f16', baseBytes: 269e6 });
    expect(share.elementsPerAdapter).toBe(30 * perLayer);
    expect(share.adapterBytes).toBe(32 * 30 * perLayer * 2);
    expect(share.boundOfBase).toBeCloseTo(269e6 / (269e6 + 32 * 30 * perLayer * 2), 12);
    expect(share.boundOfBase).toBeLessThan(0.5);
    const f32 = adapterReadShare({ config: config('bench-135m'), rank: 16, distinct: 32, targets: ALL, dtype: 'f32', baseBytes: 269e6 });
    expect(f32.adapterBytes).toBe(2 * share.adapterBytes);
  });

  it('only the targeted modules count, and no adapters keep the whole rate', () => {
    const c = config('bench-1b');
    const qv = adapterReadShare({ config: c, rank: 16, distinct: 32, targets: ['q_proj', 'v_proj'], dtype: 'f16', baseBytes: 2.47e9 });
    expect(qv.elementsPerAdapter).toBe(16 * 16 * (2048 + 2048 + 2048 + 512));
    expect(qv.boundOfBase).toBeGreaterThan(0.95);
    expect(adapterReadShare({ config: c, rank: 16, distinct: 0, targets: ALL, dtype: 'f16', baseBytes: 2.47e9 }).boundOfBase).toBe(1);
  });
});
