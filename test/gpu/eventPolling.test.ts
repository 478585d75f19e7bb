import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acquireGpu, CPU_ADAPTER_POLL_MS, type Gpu } from '../../src/gpu/device.ts';
import { dawnPollingMs, isDawnCallback, setDawnPolling } from '../../src/gpu/eventPolling.ts';

/** A kernel busy for a while (a loop per invocation), then its 64 bytes read back with `mapAsync`. */
function busyJob(device: GPUDevice): () => Promise<Uint32Array> {
  const module = device.createShaderModule({
    code: `@group(0) @binding(0) var<storage, read_write> out: array<u32>;
           @compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3u) {
             var a = g.x;
             for (var i = 0u; i < 20000u; i++) { a = a * 1664525u + 1013904223u; }
             if (g.x < 16u) { out[g.x] = a; }
           }`,
  });
  const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
  const buffer = device.createBuffer({ size: 64, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
  const read = device.createBuffer({ size: 64, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const bind = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer } }] });
  return async () => {
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bind);
    pass.dispatchWorkgroups(32);
    pass.end();
    encoder.copyBufferToBuffer(buffer, 0, read, 0, 64);
    device.queue.submit([encoder.finish()]);
    await read.mapAsync(GPUMapMode.READ);
    const out = new Uint32Array(read.getMappedRange().slice(0));
    read.unmap();
    return out;
  };
}

/** The job's words as the CPU computes them. */
function expected(): number[] {
  return Array.from({ length: 16 }, (_, x) => {
    let a = x;
    for (let i = 0; i < 20000; i++) a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
    return a;
  });
}

/** Runs `job` counting the callbacks Dawn hands to `setImmediate` meanwhile (the polls it schedules). */
async function countPolls<T>(job: () => Promise<T>): Promise<{ value: T; polls: number; ms: number }> {
  const installed = globalThis.setImmediate;
  let polls = 0;
  globalThis.setImmediate = Object.assign((fn: (...a: unknown[]) => void, ...args: unknown[]) => {
    if (isDawnCallback(fn)) polls++;
    return installed(fn, ...args);
  }, installed) as typeof setImmediate;
  try {
    const t = performance.now();
    const value = await job();
    return { value, polls, ms: performance.now() - t };
  } finally {
    globalThis.setImmediate = installed;
  }
}

describe('Dawn event polling', () => {
  let gpu: Gpu;
  let chosen: number | undefined;
  beforeAll(async () => {
    chosen = setDawnPolling(undefined);
    gpu = await acquireGpu();
  });
  afterAll(() => {
    setDawnPolling(chosen);
    gpu.destroy();
  });

  it('polls on a timer by default on a CPU adapter, and leaves Dawn spinning on GPUs', () => {
    expect(dawnPollingMs()).toBe(gpu.summary.software ? CPU_ADAPTER_POLL_MS : 0);
  });

  it('tells Dawn-shaped callbacks (native, anonymous, no parameters) from the others', () => {
    expect(isDawnCallback(Function.prototype)).toBe(true); // native, '' and 0, as Dawn's
    let resolve: (v: unknown) => void = () => {};
    void new Promise((r) => (resolve = r));
    expect(isDawnCallback(resolve)).toBe(false); // setImmediate(resolve): one parameter
    expect(isDawnCallback(() => {})).toBe(false);
    expect(isDawnCallback(function () {})).toBe(false);
    expect(isDawnCallback((() => {}).bind(null))).toBe(false); // 'bound '
    expect(isDawnCallback(Math.random)).toBe(false);
    expect(isDawnCallback(undefined)).toBe(false);
  });

  it("sends Dawn's callbacks to a timer and every other one to Node's setImmediate", () => {
    const previous = setDawnPolling(50);
    try {
      const dawnLike = setImmediate(Function.prototype as () => void);
      const other = setImmediate(() => {});
      let resolve: () => void = () => {};
      void new Promise<void>((r) => (resolve = r));
      const resolver = setImmediate(resolve);
      expect(dawnLike.constructor.name).toBe('Timeout');
      expect(other.constructor.name).toBe('Immediate');
      expect(resolver.constructor.name).toBe('Immediate');
      clearTimeout(dawnLike as unknown as NodeJS.Timeout);
      clearImmediate(other);
      clearImmediate(resolver);
    } finally {
      setDawnPolling(previous);
    }
  });

  it('waits on the GPU with a poll per interval instead of a spin, with the same results', async () => {
    const job = busyJob(gpu.device);
    const want = expected();
    const previous = setDawnPolling(5);
    try {
      await job(); // compiled
      const polled = await countPolls(job);
      expect(Array.from(polled.value)).toEqual(want);
      // setTimeout never fires early: at most one poll per interval, plus the first.
      expect(polled.polls).toBeLessThanOrEqual(polled.ms / 5 + 2);
      setDawnPolling(0);
      const spun = await countPolls(job);
      expect(Array.from(spun.value)).toEqual(want);
      expect(spun.polls).toBeGreaterThan(spun.ms / 5 + 2);
    } finally {
      setDawnPolling(previous);
    }
  });

  it('rejects an interval that is not a non-negative number, naming it', () => {
    expect(() => setDawnPolling(-1)).toThrow(/every -1 ms: give 0 .* or a positive number/);
    expect(() => setDawnPolling(Number.NaN)).toThrow(/every NaN ms/);
  });
});
