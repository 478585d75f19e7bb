/**
 * The node's memory plan (`memoryPlan` in src/node/create.ts): in unified mode the budget is all
 * the engine allocates for KV blocks and adapters, so WebGPU's run tables (words of the info
 * buffer, per slot) come out of it; the CPU backend allocates none.
 */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.ts';
import { kvBlockBytes } from '../../src/engine/backend.ts';
import { gpuPageTableBytes } from '../../src/engine/webgpu/lora/pagePool.ts';
import { slotElements } from '../../src/lora/checkWeights.ts';
import { parseModelConfig } from '../../src/model/parseConfig.ts';
import { presetConfigJson } from '../../src/model/presets.ts';
import { memoryPlan } from '../../src/node/create.ts';

const model = parseModelConfig({ json: presetConfigJson('tiny'), file: 'tiny/config.json' });
const pageBytes = kvBlockBytes(model);
const config = (overrides: Record<string, unknown>) => loadConfig({ env: {}, overrides: { 'engine.memory.mode': 'unified', ...overrides } });

describe('memoryPlan', () => {
  it('split: the configured KV blocks, no page pool', () => {
    expect(memoryPlan(loadConfig({ env: {}, overrides: { 'engine.kvBlocks': 100 } }), model, 'webgpu')).toEqual({ kvBlocks: 100 });
  });

  it('unified on WebGPU: the run tables of lora.slots slots and the KV pages together fit the budget, with under a page left', () => {
    const c = config({ 'engine.memory.budgetMiB': 4, 'lora.slots': 64, 'lora.maxRank': 64 });
    const tables = gpuPageTableBytes(model, 64, 64);
    expect(tables).toBeGreaterThan(pageBytes); // 64 tables of rank 64 take more than a page on the tiny model
    const plan = memoryPlan(c, model, 'webgpu');
    expect(plan.kvBlocks * pageBytes + tables).toBeLessThanOrEqual(4 * 2 ** 20);
    expect(plan.kvBlocks * pageBytes + tables + pageBytes).toBeGreaterThan(4 * 2 ** 20);
    expect(plan.pages).toMatchObject({ totalPages: plan.kvBlocks, pageBytes });
  });

  it('unified on the CPU backend: every page of the budget (its tables are not engine memory)', () => {
    expect(memoryPlan(config({ 'engine.memory.budgetMiB': 4 }), model, 'cpu').kvBlocks).toBe((4 * 2 ** 20) / pageBytes);
  });

  it("unified without budgetMiB: what split would take (engine.kvBlocks blocks + lora.slots padded slots), the tables inside it on WebGPU", () => {
    const c = config({ 'engine.kvBlocks': 64, 'lora.slots': 4, 'lora.maxRank': 16 });
    const split = 64 * pageBytes + 4 * slotElements(model, 16) * 4;
    expect(memoryPlan(c, model, 'cpu').kvBlocks).toBe(Math.floor(split / pageBytes));
    expect(memoryPlan(c, model, 'webgpu').kvBlocks).toBe(Math.floor((split - gpuPageTableBytes(model, 4, 16)) / pageBytes));
  });

  it('refuses a budget that holds no page beside the tables, naming the key and what to raise it to', () => {
    expect(() => memoryPlan(config({ 'engine.memory.budgetMiB': 1, 'lora.slots': 256, 'lora.maxRank': 128 }), model, 'webgpu')).toThrow(/budget of 1\.00 MiB holds no page of \d+ bytes beside the run tables of 256 adapter slots \(1\.93 MiB\) \(engine\.memory\.budgetMiB\)/);
    // The hint's setting works.
    const error = (() => {
      try {
        memoryPlan(config({ 'engine.memory.budgetMiB': 1, 'lora.slots': 256, 'lora.maxRank': 128 }), model, 'webgpu');
      } catch (e) {
        return e as { hint?: string };
      }
    })();
    const budget = Number(/--set engine\.memory\.budgetMiB=(\d+)/.exec(error?.hint ?? '')?.[1]);
    expect(memoryPlan(config({ 'engine.memory.budgetMiB': budget, 'lora.slots': 256, 'lora.maxRank': 128 }), model, 'webgpu').kvBlocks).toBeGreaterThan(0);
  });
});
