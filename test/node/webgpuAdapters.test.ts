import { afterAll, describe, expect, it } from 'vitest';
import { generate } from '../../src/engine/generate.ts';
import { createReferenceBackend } from '../../src/engine/reference/backend.ts';
import type { GpuLoraSlotPool } from '../../src/engine/webgpu/lora/slotPool.ts';
import { loadPeftAdapter } from '../../src/lora/peft.ts';
import { startNode, type OpenloraNode } from '../../src/node/create.ts';
import { startTestNode } from '../fixtures/node.ts';

const greedy = { temperature: 0, topK: 0, topP: 1, seed: 0 };
const prompt = [5, 17, 42, 9, 77, 3];
const running: OpenloraNode[] = [];
afterAll(async () => {
  for (const node of running) await node.stop().catch(() => {});
});

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
    const reference = await createReferenceBackend({ model: t.node.model, numKvBlocks: 16, loraSlots: t.adapters.length, maxLoraRank: 16 });
    const want: number[][] = [];
    for (const [i, a] of t.adapters.entries()) {
      await reference.lora.load(i, (await loadPeftAdapter({ dir: a.dir, config: t.node.model.config })).weights);
      want.push((await generate({ backend: reference, promptTokens: prompt, maxTokens: 6, sampling: greedy, adapterSlot: i })).tokens);
    }
    reference.destroy();
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
});
