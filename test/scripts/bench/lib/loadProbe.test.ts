import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acquireGpu, type Gpu } from '../../../../src/gpu/device.ts';
import { LOAD_FORMS, expectedXor, probeData, type LoadFormName } from '../../../../scripts/bench/lib/loadForms.ts';
import { createLoadProbe, type LoadProbe } from '../../../../scripts/bench/lib/loadProbe.ts';

// 750 rows of 8 chunks (96 KB: past the 64 KiB the resident forms wrap at), textures 256 rows per
// layer: 3 layers, the last one part-filled; 750 rows leave the last 64-wide workgroup part idle.
const ROWS = 750;
const CHUNKS = 8;
const HEIGHT = 256;
const forms = Object.keys(LOAD_FORMS) as LoadFormName[];

let gpu: Gpu;
let probe: LoadProbe;
const data = probeData(ROWS * CHUNKS * 4);
beforeAll(async () => {
  gpu = await acquireGpu();
  probe = createLoadProbe({ device: gpu.device, rows: ROWS, chunks: CHUNKS, height: HEIGHT, forms, data });
});
afterAll(() => {
  probe?.destroy();
  gpu?.destroy();
});

describe('load-form probe (shaders/load_probe.wgsl)', () => {
  it.each(forms)('%s reads the bytes the CPU reference XORs, per invocation', async (form) => {
    const want = expectedXor(form, data, ROWS, CHUNKS);
    const got = await probe.check(form);
    expect(got.length).toBeGreaterThanOrEqual(want.length);
    expect(Array.from(got.subarray(0, want.length))).toEqual(Array.from(want));
  });

  it('refuses a chunk count that is not a multiple of 4 (the paired and 4-row forms) and data smaller than 64 KiB', () => {
    expect(() => createLoadProbe({ device: gpu.device, rows: ROWS, chunks: 6, height: HEIGHT, forms })).toThrow(/multiple of 4/);
    expect(() => createLoadProbe({ device: gpu.device, rows: 10, chunks: 8, height: HEIGHT, forms })).toThrow(/64|65536/);
  });
});
