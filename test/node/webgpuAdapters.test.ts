import { afterAll, describe, expect, it } from 'vitest';
import type { NodeStatus } from '../../src/api/statusSchemas.ts';
import { slotElements } from '../../src/lora/checkWeights.ts';
import { generate } from '../../src/engine/generate.ts';
import { createReferenceBackend } from '../../src/engine/reference/backend.ts';
import type { GpuLoraSlotPool } from '../../src/engine/webgpu/lora/slotPool.ts';
import { loadPeftAdapter } from '../../src/lora/peft.ts';
import type { LoraDtype } from '../../src/lora/dtype.ts';
import { startNode, type OpenloraNode } from '../../src/node/create.ts';
import { startTestNode } from '../fixtures/node.ts';

const greedy = { temperature: 0, topK: 0, topP: 1, seed: 0 };
const prompt = [5, 17, 42, 9, 77, 3];
const running: OpenloraNode[] = [];
afterAll(async () => {
  for (const node of running) await node.stop().catch(() => {});
});

/** The reference's greedy tokens with each of `t`'s adapters. */
async function referenceTokens(t: Awaited<ReturnType<typeof startTestNode>>, loraDtype: LoraDtype = 'f32'): Promise<number[][]> {
  const reference = await createReferenceBackend({ model: t.node.model, numKvBlocks: 16, loraSlots: t.adapters.length, maxLoraRank: 16, loraDtype });
  const want: number[][] = [];
  for (const [i, a] of t.adapters.entries()) {
    await reference.lora.load(i, (await loadPeftAdapter({ dir: a.dir, config: t.node.model.config })).weights);
    want.push((await generate({ backend: reference, promptTokens: prompt, maxTokens: 6, sampling: greedy, adapterSlot: i })).tokens);
  }
  reference.destroy();
  return want;
}

async function tokensOf(node: OpenloraNode, adapterId: `0x${string}`): Promise<number[]> {
  const tokens: number[] = [];
  for await (const event of node.scheduler.submit({ promptIds: prompt, maxTokens: 6, sampling: greedy, adapterId })) if (event.type === 'token') tokens.push(event.token);
  return tokens;
}

describe('WebGPU node adapter switches', () => {
  it('three adapters over two slots: every switch (warm reloads from host memory included) and a restarted node give the reference tokens', async () => {
    const t = await startTestNode({ overrides: { 'model.backend': 'webgpu', 'lora.slots': 2 } });
    running.push(t.node);
    expect(t.node.backend.kind).toBe('webgpu');
    const want = await referenceTokens(t);
    const pool = t.node.backend.lora as GpuLoraSlotPool;
    for (const [k, i] of [0, 1, 2, 0, 1, 2, 2, 0].entries()) {
      expect(await tokensOf(t.node, t.adapters[i].id), `request ${k}: ${t.adapters[i].name}`).toEqual(want[i]);
      expect(pool.lastUpload?.packMs, 'adapters arrive packed from the loader thread').toBe(0);
    }
    await t.node.stop();
    const again = await startNode(t.config, { account: t.account });
    running.push(again);
    for (const i of [1, 0, 2]) expect(await tokensOf(again, t.adapters[i].id), `after restart: ${t.adapters[i].name}`).toEqual(want[i]);
  });

  it('lora.dtype f16 (node start --lora-dtype f16): f16 slots, packed on the loader thread, give the reference\'s tokens with f16-rounded factors', async () => {
    const t = await startTestNode({ overrides: { 'model.backend': 'webgpu', 'lora.slots': 2, 'lora.dtype': 'f16' } });
    running.push(t.node);
    const pool = t.node.backend.lora as GpuLoraSlotPool;
    expect(pool.dtype).toBe('f16');
    const want = await referenceTokens(t, 'f16');
    for (const i of [0, 1, 2, 0]) {
      expect(await tokensOf(t.node, t.adapters[i].id), t.adapters[i].name).toEqual(want[i]);
      expect(pool.lastUpload?.packMs, 'packed in f16 on the loader thread').toBe(0);
    }
    await t.node.stop();
  });

  it("unified memory: adapters in pages of the KV cache, switched over two slots in a 1 MiB budget (evicted adapters' pages going back to the pool KV blocks take from), give the reference tokens; status shows no slot buffers, and KV pages and run tables within the budget", async () => {
    const t = await startTestNode({ overrides: { 'model.backend': 'webgpu', 'lora.slots': 2, 'engine.memory.mode': 'unified', 'engine.memory.budgetMiB': 1 } });
    running.push(t.node);
    const want = await referenceTokens(t);
    for (const [k, i] of [0, 1, 2, 0, 1, 2, 2, 0].entries()) expect(await tokensOf(t.node, t.adapters[i].id), `request ${k}: ${t.adapters[i].name}`).toEqual(want[i]);
    const pool = t.node.backend.lora as GpuLoraSlotPool;
    const status = (await (await fetch(`${t.node.url}/v1/node/status`)).json()) as NodeStatus;
    const { page_bytes: pageBytes, budget_pages: pages } = status.engine.memory;
    expect(status.engine.backend).toBe('webgpu');
    // The budget's pages are the whole KV cache; the slots are their run tables (no padded slot
    // buffers), held inside the budget: KV pages and tables together are all it allocates.
    const tables = 2 * pool.infoStride * 4;
    expect(pages).toBe(Math.floor((2 ** 20 - tables) / pageBytes!));
    expect(status.engine.memory).toMatchObject({ mode: 'unified', kv_cache_bytes: pages! * pageBytes!, lora_slots_bytes: tables, adapters_in_pages: true });
    expect(status.engine.memory.kv_cache_bytes! + status.engine.memory.lora_slots_bytes!).toBeLessThanOrEqual(2 ** 20);
    expect(status.engine.memory.lora_slots_bytes! * 100).toBeLessThan(2 * slotElements(t.node.model.config, pool.maxRank) * 4); // under 1% of padded slots of lora.maxRank
    await t.node.stop();
  });
});
