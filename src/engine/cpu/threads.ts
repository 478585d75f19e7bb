/**
 * Worker threads that run the parallel kernels (matmul and attention jobs) over the shared memory.
 * The main thread writes a job, bumps a generation counter and wakes the workers (Atomics.notify),
 * does its own share, then waits until every worker has counted itself done: one barrier per job.
 * Workers spin briefly on the counter before sleeping (Atomics.wait), so back-to-back jobs of a
 * decode step do not pay a futex wake each.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { KernelExports } from './kernels.ts';
import type { CpuMemory } from './memory.ts';

/** Control block slots (i32): generation, workers done, job kind, job pointer, threads. */
export const CTRL = { gen: 0, done: 1, kind: 2, job: 3, threads: 4, spin: 5 } as const;
export const CTRL_SLOTS = 8;

/** Job kinds: which exported kernel the threads run. */
export const JOB = { exit: -1, matmul: 0, attention: 1 } as const;

/** Spin iterations before a thread sleeps on the counter. */
export const DEFAULT_SPIN = 2_000;

/** Threads the CPU backend uses unless told otherwise: every core Node reports. */
export function defaultThreads(): number {
  return availableParallelism();
}

/**
 * A worker's script, run from source (`eval`: no entry file, so it runs the same from a checkout
 * and from the single binary): instantiate the kernels on the shared memory, then run this
 * thread's share of each job. It reads the job generation before saying ready, since the main
 * thread posts the first job right after.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { module, memory, ctrlPtr, tid } = workerData;
const abort = () => { throw new Error('wasm kernel abort'); };
const k = new WebAssembly.Instance(module, { env: { memory, abort } }).exports;
const ctrl = new Int32Array(memory.buffer, ctrlPtr, ${CTRL_SLOTS});
const spin = ctrl[${CTRL.spin}];
let seen = Atomics.load(ctrl, ${CTRL.gen});
parentPort.postMessage('ready');
for (;;) {
  let g = Atomics.load(ctrl, ${CTRL.gen});
  for (let i = 0; i < spin && g === seen; i++) g = Atomics.load(ctrl, ${CTRL.gen});
  while (g === seen) {
    Atomics.wait(ctrl, ${CTRL.gen}, seen);
    g = Atomics.load(ctrl, ${CTRL.gen});
  }
  seen = g;
  const kind = ctrl[${CTRL.kind}];
  if (kind === ${JOB.exit}) break;
  const threads = ctrl[${CTRL.threads}];
  if (tid < threads) (kind === ${JOB.matmul} ? k.matmulJob : k.attentionJob)(ctrl[${CTRL.job}], tid, threads);
  if (Atomics.add(ctrl, ${CTRL.done}, 1) + 1 === threads - 1) Atomics.notify(ctrl, ${CTRL.done});
}
`;

/** A pool of `threads - 1` workers plus the calling thread. */
export interface ThreadPool {
  readonly threads: number;
  /** Runs job `kind` at `job` on every thread (the caller does share 0) and returns when all are done. */
  run(kind: number, job: number): void;
  /** Stops the workers. Idempotent. */
  close(): Promise<void>;
}

/** Parameters of {@link createThreadPool}. */
export interface CreateThreadPoolParameters {
  threads: number;
  memory: CpuMemory;
  module: WebAssembly.Module;
  kernels: KernelExports;
  spin?: number;
}

/** Starts the workers and waits until each has instantiated the kernels. */
export async function createThreadPool(p: CreateThreadPoolParameters): Promise<ThreadPool> {
  const threads = Math.max(1, Math.floor(p.threads));
  const ctrlPtr = p.memory.alloc(CTRL_SLOTS * 4);
  const ctrl = new Int32Array(p.memory.memory.buffer, ctrlPtr, CTRL_SLOTS);
  ctrl[CTRL.spin] = p.spin ?? DEFAULT_SPIN;
  const workers: Worker[] = [];
  for (let tid = 1; tid < threads; tid++) {
    const w = new Worker(WORKER_SOURCE, { eval: true, workerData: { module: p.module, memory: p.memory.memory, ctrlPtr, tid } });
    w.unref();
    workers.push(w);
  }
  await Promise.all(workers.map((w) => new Promise<void>((resolve, reject) => {
    w.once('message', () => resolve());
    w.once('error', reject);
  })));
  const kernels = p.kernels;
  let closed = false;
  const spin = ctrl[CTRL.spin];
  return {
    threads,
    run(kind, job) {
      if (threads === 1) {
        (kind === JOB.matmul ? kernels.matmulJob : kernels.attentionJob)(job, 0, 1);
        return;
      }
      ctrl[CTRL.kind] = kind;
      ctrl[CTRL.job] = job;
      ctrl[CTRL.threads] = threads;
      Atomics.store(ctrl, CTRL.done, 0);
      Atomics.add(ctrl, CTRL.gen, 1);
      Atomics.notify(ctrl, CTRL.gen);
      (kind === JOB.matmul ? kernels.matmulJob : kernels.attentionJob)(job, 0, threads);
      const want = threads - 1;
      for (let i = 0; i < spin && Atomics.load(ctrl, CTRL.done) !== want; i++);
      for (let d = Atomics.load(ctrl, CTRL.done); d !== want; d = Atomics.load(ctrl, CTRL.done)) Atomics.wait(ctrl, CTRL.done, d, 1000);
    },
    async close() {
      if (closed) return;
      closed = true;
      if (threads > 1) {
        ctrl[CTRL.kind] = JOB.exit;
        Atomics.add(ctrl, CTRL.gen, 1);
        Atomics.notify(ctrl, CTRL.gen);
      }
      await Promise.all(workers.map((w) => w.terminate()));
    },
  };
}
