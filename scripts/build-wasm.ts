/**
 * Builds the CPU backend's kernels: `npm run build:wasm` compiles wasm/kernels.ts (AssemblyScript,
 * pinned in package.json) to wasm/kernels.wasm, which is checked in so nothing compiles at install
 * or run time. test/engine/cpu/build.test.ts rebuilds it and compares bytes.
 *
 * `node scripts/build-wasm.ts [--out FILE]`
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

/** asc flags: O3, no GC runtime, SIMD + relaxed SIMD + threads, the memory imported and shared (grown by JS up to 4 GiB). */
export const ASC_FLAGS = ['-O3', '--runtime', 'stub', '--noAssert', '--enable', 'simd', '--enable', 'relaxed-simd', '--enable', 'threads', '--importMemory', '--sharedMemory', '--initialMemory', '16', '--maximumMemory', '65536', '--noExportMemory'];

/** Source and output paths. */
export const KERNELS_SOURCE = fileURLToPath(new URL('../wasm/kernels.ts', import.meta.url));
export const KERNELS_OUT = fileURLToPath(new URL('../wasm/kernels.wasm', import.meta.url));

/** Compiles the kernels to `out`. */
export function buildKernels(out: string): void {
  const asc = fileURLToPath(new URL('../node_modules/assemblyscript/bin/asc.js', import.meta.url));
  execFileSync(process.execPath, [asc, KERNELS_SOURCE, '-o', out, ...ASC_FLAGS], { stdio: 'inherit' });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { out: { type: 'string', default: KERNELS_OUT } } });
  buildKernels(values.out!);
  process.stdout.write(`wrote ${values.out}\n`);
}
