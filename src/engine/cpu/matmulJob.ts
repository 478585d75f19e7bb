/**
 * The CPU backend's matmul jobs: tasks (one matrix times some rows each) written into the job
 * buffer in shared memory as `matmulJob` in wasm/kernels.ts reads them, then run on every thread
 * (each takes a share of every task's outputs).
 */
import type { CpuMemory } from './memory.ts';
import { JOB, type ThreadPool } from './threads.ts';

/** Bytes of one matmul task (`TASK_BYTES` in wasm/kernels.ts) and of the job header. */
export const TASK_BYTES = 64;
export const JOB_HEADER = 16;
/** Tasks one matmul job holds: a group of projections, or the LoRA segments of one. */
export const MAX_TASKS = 256;

/** A matmul task as the kernels read it. */
export interface Task {
  kind: number;
  x: number;
  xStride: number;
  w: number;
  y: number;
  yStride: number;
  rows: number;
  in: number;
  out: number;
  bias: number;
  acc: boolean;
  scale: number;
  xd: number;
  cap: number;
}

/**
 * Writes matmul tasks straight into the job buffer (no object per task: a step over many adapters
 * writes thousands of LoRA tasks) and runs the job on every thread each {@link MAX_TASKS} tasks
 * and at `run`.
 */
export interface MatmulJobWriter {
  push(kind: number, x: number, xStride: number, w: number, y: number, yStride: number, rows: number, inF: number, out: number, bias: number, acc: boolean, scale: number, xd: number, cap: number): void;
  /** Runs the tasks written since the last run (none: nothing). */
  run(): void;
}

/** A writer over the job buffer at `job` (the memory does not grow during a pass, so the views hold). */
export function matmulJobWriter(p: { mem: CpuMemory; pool: ThreadPool; job: number }): MatmulJobWriter {
  const i32 = p.mem.i32();
  const f32 = p.mem.f32();
  const { job } = p;
  let count = 0;
  const run = () => {
    if (count === 0) return;
    i32[job >> 2] = count;
    p.pool.run(JOB.matmul, job);
    count = 0;
  };
  return {
    push(kind, x, xStride, w, y, yStride, rows, inF, out, bias, acc, scale, xd, cap) {
      const o = (job + JOB_HEADER + count * TASK_BYTES) >> 2;
      i32[o] = kind;
      i32[o + 1] = x;
      i32[o + 2] = xStride;
      i32[o + 3] = w;
      i32[o + 4] = y;
      i32[o + 5] = yStride;
      i32[o + 6] = rows;
      i32[o + 7] = inF;
      i32[o + 8] = out;
      i32[o + 9] = bias;
      i32[o + 10] = acc ? 1 : 0;
      f32[o + 11] = scale;
      i32[o + 12] = xd;
      f32[o + 13] = cap;
      if (++count === MAX_TASKS) run();
    },
    run,
  };
}

/** Writes `tasks` as the matmul job and runs it on every thread. */
export function runMatmulJob(p: { mem: CpuMemory; pool: ThreadPool; job: number }, tasks: readonly Task[]): void {
  const writer = matmulJobWriter(p);
  for (const t of tasks) writer.push(t.kind, t.x, t.xStride, t.w, t.y, t.yStride, t.rows, t.in, t.out, t.bias, t.acc, t.scale, t.xd, t.cap);
  writer.run();
}
