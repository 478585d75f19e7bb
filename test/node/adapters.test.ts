import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createCpuLoraPool } from '../../src/engine/reference/lora.ts';
import type { Logger } from '../../src/log.ts';
import { createAdapter } from '../../src/lora/create.ts';
import { createHostCache } from '../../src/lora/hostCache.ts';
import { createSlotManager } from '../../src/lora/slots.ts';
import { createAdapterStore } from '../../src/lora/store.ts';
import { createNodeAdapters } from '../../src/node/adapters.ts';
import { tempDir, tinyConfig, tinyModel } from '../lora/helpers.ts';

describe('node adapters', () => {
  it('serves an adapter made for another base model of the same shapes, with a warning naming both', async () => {
    const root = await tempDir();
    const model = await tinyModel(root);
    const mine = await createAdapter({ model, rank: 4, seed: 1, out: join(root, 'mine') });
    const foreign = await createAdapter({ model, rank: 4, seed: 2, out: join(root, 'foreign'), baseModel: 'Qwen/Qwen2-0.5B' });
    const store = createAdapterStore({ dir: join(root, 'store'), config: tinyConfig, maxRank: 16 });
    const hostCache = createHostCache({ load: (id, signal) => store.load(id, signal) });
    const slots = createSlotManager({ pool: createCpuLoraPool({ config: tinyConfig, slots: 1, maxRank: 16 }), store, hostCache });
    const warnings: Array<[Record<string, unknown>, string]> = [];
    const log = { warn: (fields: Record<string, unknown>, message: string) => warnings.push([fields, message]) } as unknown as Logger;
    const adapters = createNodeAdapters({ store, hostCache, slots, defaultPrice: { inputPer1k: 1n, outputPer1k: 1n }, modelDir: model, log });
    await adapters.register({ path: mine.dir, name: 'mine' });
    expect(warnings).toEqual([]);
    const listed = await adapters.register({ path: foreign.dir, name: 'foreign' });
    expect(listed.name).toBe('foreign');
    expect(warnings).toHaveLength(1);
    expect(warnings[0][0]).toMatchObject({ adapter: 'foreign', adapterBaseModel: 'Qwen/Qwen2-0.5B', model });
    expect(warnings[0][1]).toContain('another base model');
  });
});
