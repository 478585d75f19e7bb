/**
 * `npm run bench:linear -- --dispatch`: what a dispatch costs apart from its kernel's work. Steps of
 * N dispatches of a kernel that does next to nothing (invocation 0 of each workgroup adds one to a
 * counter), in one compute pass and one submit, waited for as a decode step waits (`mapAsync` of
 * the counter), per number of bindings, workgroups, and with one pass per dispatch, under each
 * way of waiting on Dawn (`src/gpu/eventPolling.ts`: a poll every N ms, or Dawn's spin), in
 * interleaved rounds: wall and CPU microseconds per dispatch, the main thread's part apart (on
 * lavapipe the kernels run on llvmpipe's threads; docs/engine.md "What a dispatch costs on lavapipe").
 * Cases with `work` give each workgroup that much arithmetic, one workgroup against two per
 * dispatch: whether a second thread takes the second workgroup in time ({@link parallelShares}).
 */
import { loadavg } from 'node:os';
import { setDawnPolling } from '../../../src/gpu/eventPolling.ts';
import { median } from './stats.ts';
import { threadCpuMs } from './threadCpu.ts';

/** One shape of step: `dispatches` dispatches of `workgroups` workgroups each, the kernel binding `bindings` buffers. */
export interface DispatchCase {
  dispatches: number;
  bindings: number;
  workgroups: number;
  /** One compute pass per dispatch instead of one for the step. */
  passPerDispatch: boolean;
  /** Iterations of integer arithmetic each workgroup's first invocation runs before counting (default 0: next to nothing). */
  work?: number;
}

/** Iterations of the work cases: ~0.1 ms of one CPU thread per workgroup on lavapipe (a 2-core AMD EPYC: 164 us per dispatch of one such workgroup, ~40 of them the dispatch's own), about a batch-1 projection's share of a thread. */
export const PROBE_WORK = 32_000;

/** The cases `--dispatch` times: a decode step's count of dispatches (bench-135m: 154) against one, then bindings, workgroups, passes. */
export const DISPATCH_CASES: readonly DispatchCase[] = [
  { dispatches: 1, bindings: 1, workgroups: 1, passPerDispatch: false },
  { dispatches: 150, bindings: 1, workgroups: 1, passPerDispatch: false },
  { dispatches: 150, bindings: 8, workgroups: 1, passPerDispatch: false },
  { dispatches: 150, bindings: 1, workgroups: 8, passPerDispatch: false },
  { dispatches: 150, bindings: 1, workgroups: 64, passPerDispatch: false },
  { dispatches: 150, bindings: 1, workgroups: 256, passPerDispatch: false },
  { dispatches: 150, bindings: 1, workgroups: 1, passPerDispatch: true },
  { dispatches: 150, bindings: 1, workgroups: 1, passPerDispatch: false, work: PROBE_WORK },
  { dispatches: 150, bindings: 1, workgroups: 2, passPerDispatch: false, work: PROBE_WORK },
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

function kernelSource(bindings: number, work: number): string {
  const extra = Array.from({ length: bindings - 1 }, (_, i) => `@group(0) @binding(${i + 1}) var<storage, read> b${i + 1}: array<u32>;`).join('\n');
  const sum = Array.from({ length: bindings - 1 }, (_, i) => ` + b${i + 1}[0]`).join('');
  // The work's result is kept by a write it never makes in practice (count[1], not the counted word).
  return `@group(0) @binding(0) var<storage, read_write> count: array<atomic<u32>>;
${extra}
@compute @workgroup_size(${WORKGROUP}) fn main(@builtin(local_invocation_index) i: u32, @builtin(workgroup_id) wg: vec3<u32>) {
  if (i == 0u) {
    var s = wg.x + 1u;
    for (var k = 0u; k < ${work}u; k++) { s = s * 1664525u + 1013904223u; }
    if (s == 0x9e3779b9u) { atomicAdd(&count[1], 1u); }
    atomicAdd(&count[0], 1u${sum});
  }
}`;
}

/** Creates the probe's pipelines for 1 to {@link MAX_PROBE_BINDINGS} bindings (the extra buffers hold zeros). */
export function createDispatchProbe(device: GPUDevice): DispatchProbe {
  const counter = device.createBuffer({ label: 'dispatchProbe.count', size: 16, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
  const zeros = device.createBuffer({ label: 'dispatchProbe.zeros', size: 16, usage: GPUBufferUsage.STORAGE });
  const read = device.createBuffer({ label: 'dispatchProbe.read', size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const kernels = new Map<string, { pipeline: GPUComputePipeline; bindGroup: GPUBindGroup }>();
  const kernel = (bindings: number, work: number) => {
    if (!Number.isInteger(bindings) || bindings < 1 || bindings > MAX_PROBE_BINDINGS) throw new RangeError(`dispatch probe: ${bindings} bindings; give 1 to ${MAX_PROBE_BINDINGS}`);
    if (!Number.isInteger(work) || work < 0) throw new RangeError(`dispatch probe: work ${work}; give a whole number of iterations, 0 or more`);
    const key = `${bindings}:${work}`;
    let k = kernels.get(key);
    if (!k) {
      const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module: device.createShaderModule({ code: kernelSource(bindings, work) }), entryPoint: 'main' } });
      const entries = Array.from({ length: bindings }, (_, i) => ({ binding: i, resource: { buffer: i === 0 ? counter : zeros } }));
      k = { pipeline, bindGroup: device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries }) };
      kernels.set(key, k);
    }
    return k;
  };
  return {
    async step(c) {
      const { pipeline, bindGroup } = kernel(c.bindings, c.work ?? 0);
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
        const main0 = threadCpuMs();
        for (let s = 0; s < steps; s++) walls.push((await p.probe.step(run.c)).ms);
        const cpu = process.cpuUsage(cpu0);
        const main1 = threadCpuMs();
        const per = steps * run.c.dispatches;
        run.wall.push((median(walls) * 1000) / run.c.dispatches);
        run.cpu.push((cpu.user + cpu.system) / per);
        if (main0 !== undefined && main1 !== undefined) run.main.push(((main1 - main0) * 1000) / per);
      }
    }
  } finally {
    setDawnPolling(previous);
  }
  const figures = runs.map((run) => ({ case: run.c, pollMs: run.pollMs, wallUsPerDispatch: median(run.wall), cpuUsPerDispatch: median(run.cpu), mainCpuUsPerDispatch: run.main.length ? median(run.main) : undefined }));
  return { figures, loadAverage: loadavg()[0] };
}

/**
 * Per way of waiting and amount of work: the wall time per dispatch of one workgroup and of two,
 * and the share of the second workgroup another thread ran meanwhile, `(2 · one − two) / one`: 1
 * when the two ran side by side, 0 when one after the other (a second thread woken too late to
 * take its workgroup; the first thread then runs it too).
 */
export function parallelShares(figures: readonly DispatchFigure[]): { work: number; pollMs: number; oneUs: number; twoUs: number; share: number }[] {
  const out = [];
  for (const two of figures) {
    const work = two.case.work ?? 0;
    if (!work || two.case.workgroups !== 2) continue;
    const one = figures.find((f) => f.pollMs === two.pollMs && f.case.workgroups === 1 && (f.case.work ?? 0) === work && f.case.dispatches === two.case.dispatches && f.case.bindings === two.case.bindings && f.case.passPerDispatch === two.case.passPerDispatch);
    if (!one) continue;
    out.push({ work, pollMs: two.pollMs, oneUs: one.wallUsPerDispatch, twoUs: two.wallUsPerDispatch, share: (2 * one.wallUsPerDispatch - two.wallUsPerDispatch) / one.wallUsPerDispatch });
  }
  return out;
}

/** One line per case and way of waiting, then one per pair of work cases ({@link parallelShares}). */
export function dispatchProbeLines(r: { figures: DispatchFigure[]; loadAverage: number }): string[] {
  const f = (n: number | undefined) => (n === undefined ? '-' : n.toFixed(1));
  const poll = (ms: number) => (ms ? `poll ${ms} ms` : 'Dawn spin');
  return [
    `dispatch probe: microseconds per dispatch (medians of rounds; a step = the dispatches, one submit, one mapAsync), load average ${r.loadAverage.toFixed(2)}`,
    ...r.figures.map((x) => {
      const c = x.case;
      const what = `${String(c.dispatches).padStart(3)} x ${String(c.workgroups).padStart(3)} workgroups, ${c.bindings} binding${c.bindings > 1 ? 's' : ''}, ${c.passPerDispatch ? 'a pass each' : 'one pass'}${c.work ? `, work ${c.work}` : ''}`;
      return `  ${what.padEnd(48)} ${poll(x.pollMs).padEnd(10)} wall ${f(x.wallUsPerDispatch).padStart(7)}  CPU ${f(x.cpuUsPerDispatch).padStart(7)} (main thread ${f(x.mainCpuUsPerDispatch)})`;
    }),
    ...parallelShares(r.figures).map(
      (p) => `  2 workgroups of work ${p.work} (${poll(p.pollMs)}): ${f(p.twoUs)} us per dispatch against ${f(p.oneUs)} for 1: a second thread ran ${(100 * p.share).toFixed(0)}% of the second workgroup's time beside the first (100%: side by side, 0%: one after the other)`,
    ),
  ];
}
