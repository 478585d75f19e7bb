import { it, expect } from 'vitest';
import { createCpuBackend } from '../../../src/engine/cpu/backend.ts';
import { createReferenceBackend } from '../../../src/engine/reference/backend.ts';
import { loadModel } from '../../../src/model/load.ts';
import { createTinyModel } from '../../fixtures/model.ts';

it('smoke', async () => {
  for (const dtype of ['f32', 'f16'] as const) {
    const model = await loadModel({ dir: await createTinyModel({ dtype }) });
    const ref = await createReferenceBackend({ model, numKvBlocks: 8 });
    for (const threads of [1, 2]) {
      const cpu = await createCpuBackend({ model, numKvBlocks: 8, threads });
      const tokens = Array.from({ length: 40 }, (_, i) => (i * 37 + 3) % 256);
      const seq = { tokens, startPos: 0, blockTable: [0, 1, 2, 3], adapterSlot: -1 };
      const [a] = await ref.logits([seq]);
      const [b] = await cpu.logits([seq]);
      let d = 0, m = 0;
      for (let i = 0; i < a.length; i++) { d = Math.max(d, Math.abs(a[i] - b[i])); m = Math.max(m, Math.abs(a[i])); }
      console.log(dtype, threads, d / m);
      expect(d / m).toBeLessThan(1e-4);
      cpu.destroy();
    }
    await model.close();
  }
});
