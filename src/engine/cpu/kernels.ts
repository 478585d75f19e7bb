/**
 * The compiled kernels (`wasm/kernels.ts` built to `wasm/kernels.wasm` by `npm run build:wasm`):
 * compiled once per process, instantiated per thread against one shared memory.
 */
import { readFileSync } from 'node:fs';

/** What `wasm/kernels.ts` exports (pointers are byte offsets; see that file for each kernel). */
export interface KernelExports {
  TASK_BYTES: WebAssembly.Global;
  prescale(x: number, xStride: number, rows: number, inF: number, dst: number): void;
  quantizeRows(x: number, xStride: number, rows: number, inF: number, q: number, d: number): void;
  matmulJob(job: number, tid: number, nthreads: number): void;
  attentionJob(job: number, tid: number, nthreads: number): void;
  rmsnorm(x: number, xs: number, w: number, y: number, ys: number, rows: number, n: number, eps: number, offset: number, add: number): void;
  rope(x: number, xs: number, y: number, ys: number, rows: number, heads: number, hd: number, half: number, cs: number): void;
  kvStore(src: number, ss: number, cache: number, blockFloats: number, layer: number, kv: number, rowFloats: number, rows: number, pos: number, btOff: number, tables: number): void;
  glu(g: number, gs: number, u: number, us: number, rows: number, n: number, act: number): void;
  embed(table: number, kind: number, cols: number, vocab: number, tokens: number, rows: number, y: number, ys: number, scale: number): void;
}

/** Path of the compiled kernels. */
export const KERNELS_WASM = new URL('../../../wasm/kernels.wasm', import.meta.url);

let compiled: WebAssembly.Module | undefined;

/** The compiled module (compiled on first use). */
export function kernelModule(): WebAssembly.Module {
  compiled ??= new WebAssembly.Module(readFileSync(KERNELS_WASM));
  return compiled;
}

/** Instantiates the kernels against `memory` (shared). */
export function instantiateKernels(module: WebAssembly.Module, memory: WebAssembly.Memory): KernelExports {
  const abort = () => {
    throw new Error('wasm kernel abort');
  };
  const instance = new WebAssembly.Instance(module, { env: { memory, abort } });
  return instance.exports as unknown as KernelExports;
}
