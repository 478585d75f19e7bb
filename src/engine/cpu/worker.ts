/**
 * A CPU backend worker thread: instantiates the kernels against the shared memory, then runs its
 * share of each job the main thread posts through the control block (see threads.ts).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { instantiateKernels } from './kernels.ts';
import { CTRL, CTRL_SLOTS, JOB } from './threads.ts';

const { module, memory, ctrlPtr, tid } = workerData as { module: WebAssembly.Module; memory: WebAssembly.Memory; ctrlPtr: number; tid: number };
const kernels = instantiateKernels(module, memory);
const ctrl = new Int32Array(memory.buffer, ctrlPtr, CTRL_SLOTS);
const spin = ctrl[CTRL.spin];
// Read the generation before saying ready: the main thread posts the first job right after.
let seen = Atomics.load(ctrl, CTRL.gen);
parentPort!.postMessage('ready');

for (;;) {
  let g = Atomics.load(ctrl, CTRL.gen);
  for (let i = 0; i < spin && g === seen; i++) g = Atomics.load(ctrl, CTRL.gen);
  while (g === seen) {
    Atomics.wait(ctrl, CTRL.gen, seen);
    g = Atomics.load(ctrl, CTRL.gen);
  }
  seen = g;
  const kind = ctrl[CTRL.kind];
  if (kind === JOB.exit) break;
  const threads = ctrl[CTRL.threads];
  if (tid < threads) (kind === JOB.matmul ? kernels.matmulJob : kernels.attentionJob)(ctrl[CTRL.job], tid, threads);
  if (Atomics.add(ctrl, CTRL.done, 1) + 1 === threads - 1) Atomics.notify(ctrl, CTRL.done);
}
