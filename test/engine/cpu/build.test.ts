/**
 * wasm/kernels.wasm is what `npm run build:wasm` makes from wasm/kernels.ts with the pinned
 * AssemblyScript: rebuilt here and compared byte for byte.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { buildKernels, KERNELS_OUT } from '../../../scripts/build-wasm.ts';
import { makeTempDir } from '../../fixtures/model.ts';

it('the checked-in kernels.wasm rebuilds byte for byte from wasm/kernels.ts', async () => {
  const out = join(await makeTempDir('openlora-wasm-'), 'kernels.wasm');
  buildKernels(out);
  expect(Buffer.compare(await readFile(out), await readFile(KERNELS_OUT))).toBe(0);
});
