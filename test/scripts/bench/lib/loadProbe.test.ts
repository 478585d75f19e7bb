import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acquireGpu, type Gpu } from '../../../../src/gpu/device.ts';
import { LOAD_FORMS, createLoadProbe, expectedXor, probeData, type LoadFormName, type LoadProbe } from '../../../../scripts/bench/lib/loadProbe.ts';

// 750 rows of 6 chunks (72 KB: past the 64 KiB the resident forms wrap at), textures 256 rows per
// layer: 3 layers, the last one part-filled; 750 rows leave the last 64-wide workgroup part idle.
const ROWS = 750;
const CHUNKS = 6;
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

  it('the reference XORs what each invocation reads: one marked word shows in its row only (the 64 KiB forms: in every row wrapping onto it)', () => {
    const marked = new Uint32Array(ROWS * CHUNKS * 4);
    marked[(300 * CHUNKS + 2) * 4 + 1] = 0xdead;
    const rows = expectedXor('buffer-rows', marked, ROWS, CHUNKS);
    expect([...rows.keys()].filter((r) => rows[r] !== 0)).toEqual([300]);
    // chunk 300 · 6 + 2 = 1802 < 4096: read directly by row 300 only (its wrap would be chunk 5898, past the 4500 there are).
    const resident = expectedXor('uniform-64k-rows', marked, ROWS, CHUNKS);
    expect([...resident.keys()].filter((r) => resident[r] !== 0)).toEqual([300]);
    const early = new Uint32Array(ROWS * CHUNKS * 4);
    early[(10 * CHUNKS) * 4] = 1; // chunk 60, and chunk 60 + 4096 = 4156 (row 692) wraps onto it
    const wrapped = expectedXor('buffer-64k-rows', early, ROWS, CHUNKS);
    expect([...wrapped.keys()].filter((r) => wrapped[r] !== 0)).toEqual([10, 692]);
    const stream = expectedXor('buffer-stream', marked, ROWS, CHUNKS);
    expect([...stream.keys()].filter((g) => stream[g] !== 0)).toEqual([300 * CHUNKS + 2]);
  });

  it('refuses an odd chunk count (the paired form reads two at a time) and data smaller than 64 KiB', () => {
    expect(() => createLoadProbe({ device: gpu.device, rows: ROWS, chunks: 5, height: HEIGHT, forms })).toThrow(/even/);
    expect(() => createLoadProbe({ device: gpu.device, rows: 10, chunks: 6, height: HEIGHT, forms })).toThrow(/64|65536/);
  });
});
