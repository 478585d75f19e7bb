/**
 * `npm run bench:linear -- --dispatch`: what a dispatch costs apart from its kernel's work. Steps of
 * N dispatches of a kernel that does next to nothing (invocation 0 of each workgroup adds one to a
 * counter), in one compute pass and one submit, waited for as a decode step waits (`mapAsync` of
 * the counter), per number of bindings, workgroups, and with one pass per dispatch, under each
 * way of waiting on Dawn (`src/gpu/eventPolling.ts`: a poll every N ms, or Dawn's spin), in
 * interleaved rounds: wall and CPU microseconds per dispatch, the main thread's part apart (on
 * lavapipe the kernels run on llvmpipe's threads; docs/engine.md "What a dispatch costs on lavapipe").
 */
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { setDawnPolling } from '../../../src/gpu/eventPolling.ts';
import { median } from './stats.ts';

/** One shape of step: `dispatches` dispatches of `workgroups` workgroups each, the kernel binding `bindings` buffers. */
export interface DispatchCase {
  dispatches: number;
  bindings: number;
  workgroups: number;
  /** One compute pass per dispatch instead of one for the step. */
  passPerDispatch: boolean;
}

/** The cases `--dispatch` times: a decode step's count of dispatches (bench-135m: 154) against one, then bindings, workgroups, passes. */
export const DISPATCH_CASES: readonly DispatchCase[] = [
  { dispatches: 1, bindings: 1, workgroups: 1, passPerDispatch: false },
  { dispatches: 150, bindings: 1, workgroups: 1, passPerDispatch: false },
  { dispatches: 150, bindings: 8, workgroups: 1, passPerDispatch: false },
  { dispatches: 150, bindings: 1, workgroups: 8, passPerDispatch: false },
  { dispatches: 150, bindings: 1, workgroups: 64, passPerDispatch: false },
  { dispatches: 150, bindings: 1, workgroups: 256, passPerDispatch: false },
  { dispatches: 150, bindings: 1, workgroups: 1, passPerDispatch: true },
];

/** Most bindings a case may ask for (the engine's kernels bind up to 10). */
export const MAX_PROBE_BINDINGS = 8;
const WORKGROUP = 64;

/** The probe's kernels (one per binding count) and counter on one device. */
export interface DispatchProbe {
  /** Runs one step of `c`; resolves to its wall milliseconds (submit to mapped) and the counter's value after it (`dispatches · workgroups`). */
  step(c: DispatchCase): Promise<{ ms: number; count: number }>;
  destroy(): void;
}

function kernelSource(bindings: number): string {
  const extra = Array.from({ length: bindings - 1 }, (_, i) => `@group(0) @binding(${i + 1}) var<storage, read> b${i + 1}: array<u32>;`).join('\n');
  const sum = Array.from({ length: bindings - 1 }, (_, i) => ` + b${i + 1}[0]`).join('');
  return `@group(0) @binding(0) var<storage, read_write> count: array<atomic<u32>>;
${extra}
@compute @workgroup_size(${WORKGROUP}) fn main(@builtin(local_invocation_index) i: u32) {
  if (i == 0u) { atomicAdd(&count[0], 1u${sum}); }
}`;
}

/** Creates the probe's pipelines for 1 to {@link MAX_PROBE_BINDINGS} bindings (the extra buffers hold zeros). */
export function createDispatchProbe(device: GPUDevice): DispatchProbe {
  const counter = device.createBuffer({ label: 'dispatchProbe.count', size: 16, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
  const zeros = device.createBuffer({ label: 'dispatchProbe.zeros', size: 16, usage: GPUBufferUsage.STORAGE });
  const read = device.createBuffer({ label: 'dispatchProbe.read', size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const kernels = new Map<number, { pipeline: GPUComputePipeline; bindGroup: GPUBindGroup }>();
  const kernel = (bindings: number) => {
    if (!Number.isInteger(bindings) || bindings < 1 || bindings > MAX_PROBE_BINDINGS) throw new RangeError(`dispatch probe: ${bindings} bindings; give 1 to ${MAX_PROBE_BINDINGS}`);
    let k = kernels.get(bindings);
    if (!k) {
      const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module: device.createShaderModule({ code: kernelSource(bindings) }), entryPoint: 'main' } });
      const entries = Array.from({ length: bindings }, (_, i) => ({ binding: i, resource: { buffer: i === 0 ? counter : zeros } }));
      k = { pipeline, bindGroup: device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries }) };
      kernels.set(bindings, k);
    }
    return k;
  };
  return {
    async step(c) {
      const { pipeline, bindGroup } = kernel(c.bindings);
      const encoder = device.createCommandEncoder();
      encoder.clearBuffer(counter);
      let pass = encoder.beginComputePass();
      for (let i = 0; i < c.dispatches; i++) {
        if (c.passPerDispatch && i > 0) {
          pass.end();
          pass = encoder.beginComputePass();
        }
        pass.setPipeline(pipeline);
        pass.setBindGroup(0, bindGroup);
        pass.dispatchWorkgroups(c.workgroups);
      }
      pass.end();
      encoder.copyBufferToBuffer(counter, 0, read, 0, 16);
      const commands = encoder.finish();
      const t = performance.now();
      device.queue.submit([commands]);
      await read.mapAsync(GPUMapMode.READ);
      const ms = performance.now() - t;
      const count = new Uint32Array(read.getMappedRange())[0];
      read.unmap();
      return { ms, count };
    },
    destroy() {
      for (const b of [counter, zeros, read]) b.destroy();
    },
  };
}

/** CPU nanoseconds of the process's main thread (Linux `schedstat`); undefined elsewhere. */
function mainThreadNs(): number | undefined {
  try {
    return Number(readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ')[0]);
  } catch {
    return undefined;
  }
}

/** A case under one way of waiting: medians over the rounds, per dispatch. */
export interface DispatchFigure {
  case: DispatchCase;
  /** Milliseconds between Dawn's polls (0: Dawn's spin). */
  pollMs: number;
  wallUsPerDispatch: number;
  cpuUsPerDispatch: number;
  mainCpuUsPerDispatch?: number;
}

/** Times every case under every polling interval, `stepsPerRound` steps each per round, the order reversed every other round. */
export async function runDispatchProbe(p: { probe: DispatchProbe; cases: readonly DispatchCase[]; pollMs: readonly number[]; rounds: number; stepsPerRound?: number }): Promise<{ figures: DispatchFigure[]; loadAverage: number }> {
  const steps = p.stepsPerRound ?? 9;
  const runs = p.cases.flatMap((c) => p.pollMs.map((pollMs) => ({ c, pollMs, wall: [] as number[], cpu: [] as number[], main: [] as number[] })));
  const previous = setDawnPolling(undefined);
  try {
    for (const run of runs) {
      setDawnPolling(run.pollMs);
      await p.probe.step(run.c); // compiled and warm
    }
    for (let r = 0; r < p.rounds; r++) {
      for (const run of r % 2 ? [...runs].reverse() : runs) {
        setDawnPolling(run.pollMs);
        const walls: number[] = [];
        const cpu0 = process.cpuUsage();
        const main0 = mainThreadNs();
        for (let s = 0; s < steps; s++) walls.push((await p.probe.step(run.c)).ms);
        const cpu = process.cpuUsage(cpu0);
        const main1 = mainThreadNs();
        const per = steps * run.c.dispatches;
        run.wall.push((median(walls) * 1000) / run.c.dispatches);
        run.cpu.push((cpu.user + cpu.system) / per);
        if (main0 !== undefined && main1 !== undefined) run.main.push((main1 - main0) / 1000 / per);
      }
    }
  } finally {
    setDawnPolling(previous);
  }
  const figures = runs.map((run) => ({ case: run.c, pollMs: run.pollMs, wallUsPerDispatch: median(run.wall), cpuUsPerDispatch: median(run.cpu), mainCpuUsPerDispatch: run.main.length ? median(run.main) : undefined }));
  return { figures, loadAverage: loadavg()[0] };
}

/** One line per case and way of waiting. */
export function dispatchProbeLines(r: { figures: DispatchFigure[]; loadAverage: number }): string[] {
  const f = (n: number | undefined) => (n === undefined ? '-' : n.toFixed(1));
  return [
    `dispatch probe: microseconds per dispatch (medians of rounds; a step = the dispatches, one submit, one mapAsync), load average ${r.loadAverage.toFixed(2)}`,
    ...r.figures.map((x) => {
      const c = x.case;
      const what = `${String(c.dispatches).padStart(3)} x ${String(c.workgroups).padStart(3)} workgroups, ${c.bindings} binding${c.bindings > 1 ? 's' : ''}, ${c.passPerDispatch ? 'a pass each' : 'one pass'}`;
      return `  ${what.padEnd(48)} ${(x.pollMs ? `poll ${x.pollMs} ms` : 'Dawn spin').padEnd(10)} wall ${f(x.wallUsPerDispatch).padStart(7)}  CPU ${f(x.cpuUsPerDispatch).padStart(7)} (main thread ${f(x.mainCpuUsPerDispatch)})`;
    }),
  ];
}
