import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acquireGpu, type Gpu } from '../../../src/gpu/device.ts';
import { createPassTimer } from '../../../src/engine/webgpu/passTimer.ts';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await acquireGpu();
});
afterAll(() => gpu?.destroy());

describe('pass timer', () => {
  it.each([false, true])('times an empty compute pass (timestamps %s): a non-negative time, timestamp writes only when asked', async (timestamps) => {
    if (timestamps && !gpu.hasTimestamps) return;
    const timer = createPassTimer(gpu.device, timestamps);
    expect('timestampWrites' in timer.writes).toBe(timestamps);
    for (let i = 0; i < 2; i++) {
      // twice: the readback buffer is mapped and unmapped once per time()
      const encoder = gpu.device.createCommandEncoder();
      encoder.beginComputePass(timer.writes).end();
      const ms = await timer.time(encoder);
      expect(ms).toBeGreaterThanOrEqual(0);
      expect(Number.isFinite(ms)).toBe(true);
    }
    timer.destroy();
  });
});
