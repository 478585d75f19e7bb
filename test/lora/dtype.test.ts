/**
 * The adapter precision rule's `lora.dtype` (src/lora/dtype.ts): f16 rounds A and B exactly as the
 * WebGPU slot image does (round to nearest even), so the CPU backends compute with the device's
 * values; a value beyond f16's range is refused naming the tensor, the value and the fix. What `auto`
 * resolves to: test/lora/dtypeAuto.test.ts.
 */
import { describe, expect, it } from 'vitest';
import type { LoraWeights } from '../../src/engine/backend.ts';
import { createCpuLoraPool } from '../../src/engine/reference/lora.ts';
import { checkLoraDtypeRange, loraDeviceWeights } from '../../src/lora/dtype.ts';
import { LoraDtypeRangeError } from '../../src/lora/errors.ts';
import { createLoraSlotImageLayout, packLoraSlotImage } from '../../src/lora/slotImage.ts';
import { f16BitsToF32 } from '../../src/model/dtype.ts';
import { tinyConfig } from './helpers.ts';

const config = tinyConfig;
/** The tiny model's fused projections, as the WebGPU slot pool lays them out (inputs are multiples of 8: no padding). */
const groups = [0, 1].flatMap((layer) => [
  { layer, inPad: 128, members: [{ module: 'q_proj', column: 0 }, { module: 'k_proj', column: 128 }, { module: 'v_proj', column: 192 }] },
  { layer, inPad: 128, members: [{ module: 'o_proj', column: 0 }] },
  { layer, inPad: 128, members: [{ module: 'gate_proj', column: 0 }, { module: 'up_proj', column: 384 }] },
  { layer, inPad: 384, members: [{ module: 'down_proj', column: 0 }] },
]);

/** Rank-4 weights on q and o with values that round every way: ties to even (down and up, 1.5 · 2^-24 up to 2^-23), subnormals, the edge of the range, and plain random values. */
function weights(): LoraWeights {
  const special = [1 + 2 ** -11, 1 + 3 * 2 ** -11, -(1 + 2 ** -11), 2 ** -20, 3 * 2 ** -25, 65504, -65504, 0.1, -0.3];
  let s = 5;
  const next = () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1;
  const fill = (n: number) => Float32Array.from({ length: n }, (_, i) => (i < special.length ? special[i] : next()));
  const layers = Array.from({ length: config.numLayers }, () => ({ q_proj: { a: fill(4 * 128), b: fill(128 * 4) }, o_proj: { a: fill(4 * 128), b: fill(128 * 4) } }));
  return { rank: 4, scale: 2, layers };
}

describe('lora.dtype', () => {
  it('f32 keeps the weights as given', () => {
    const w = weights();
    expect(loraDeviceWeights(w, 'f32')).toBe(w);
  });

  it('f16 gives exactly the values the WebGPU slot image holds (round to nearest even)', () => {
    const w = weights();
    const rounded = loraDeviceWeights(w, 'f16');
    const layout = createLoraSlotImageLayout({ config, dtype: 'f16', maxRank: 4, groups });
    const image = packLoraSlotImage({ config, layout, weights: w });
    // Rank = capacity and no padding: the image is each group's members' A then B, back to back.
    const held = Array.from(new Uint16Array(image.bytes.buffer, image.bytes.byteOffset, image.bytes.byteLength / 2), f16BitsToF32);
    const want = groups.flatMap((g) => {
      const present = g.members.map((m) => rounded.layers[g.layer][m.module as 'q_proj']).filter((t) => t !== undefined);
      return [...present.flatMap((t) => [...t.a]), ...present.flatMap((t) => [...t.b])];
    });
    expect(held).toEqual(want);
    const a = rounded.layers[0].q_proj!.a;
    expect([...a.subarray(0, 9)]).toEqual([1, 1 + 2 ** -9, -1, 2 ** -20, 2 ** -23, 65504, -65504, f16BitsToF32(0x2e66), f16BitsToF32(0xb4cd)]);
    expect(rounded.scale).toBe(2);
    expect(w.layers[0].q_proj!.a[0]).toBe(1 + 2 ** -11); // the caller's weights are not changed
  });

  it('refuses a value beyond ±65504 in f16, naming the tensor, the value and lora.dtype: f32; f32 holds it', () => {
    const w = weights();
    w.layers[1].o_proj!.b[37] = -70000;
    expect(() => checkLoraDtypeRange(w, 'f32')).not.toThrow();
    let error: unknown;
    try {
      checkLoraDtypeRange(w, 'f16');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(LoraDtypeRangeError);
    expect(error).toMatchObject({ code: 'OPENLORA_LORA_DTYPE_RANGE', meta: { tensor: 'layers.1.o_proj.lora_B', index: 37, value: -70000 } });
    expect((error as Error).message).toContain('layers.1.o_proj.lora_B holds -70000 at element 37');
    expect((error as LoraDtypeRangeError).hint).toContain('lora.dtype: f32');
    // Every path that holds factors in f16 refuses it: the slot image (the loader thread) and the CPU pools.
    const layout = createLoraSlotImageLayout({ config, dtype: 'f16', maxRank: 4, groups });
    expect(() => packLoraSlotImage({ config, layout, weights: w })).toThrow(LoraDtypeRangeError);
    const pool = createCpuLoraPool({ config, slots: 1, maxRank: 4, dtype: 'f16' });
    return expect(pool.load(0, w)).rejects.toThrow(LoraDtypeRangeError);
  });

  it('infinite and NaN values are not range errors (f16 holds them)', () => {
    const w = weights();
    w.layers[0].q_proj!.a[3] = Number.POSITIVE_INFINITY;
    w.layers[0].q_proj!.a[4] = Number.NaN;
    expect(() => checkLoraDtypeRange(w, 'f16')).not.toThrow();
    // Beside an infinity, a finite value beyond the range is still found, at its own index.
    w.layers[0].q_proj!.a[200] = 65520;
    expect(() => checkLoraDtypeRange(w, 'f16')).toThrow(expect.objectContaining({ meta: expect.objectContaining({ tensor: 'layers.0.q_proj.lora_A', index: 200, value: 65520 }) }));
  });

  it('the CPU reference pool holds f16-rounded factors with lora.dtype f16', async () => {
    const w = weights();
    const pool = createCpuLoraPool({ config, slots: 2, maxRank: 4, dtype: 'f16' });
    await pool.load(1, w);
    expect(pool.get(1)).toEqual(loraDeviceWeights(w, 'f16'));
    expect(pool.get(1)!.layers[0].q_proj!.a[0]).toBe(1);
  });
});
