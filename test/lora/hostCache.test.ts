/**
 * The host cache's byte count (src/lora/hostCache.ts) with adapters whose only copy is an f16 slot
 * image: the f32 weights decoded from it on first use are charged then, evicting older entries.
 */
import { join } from 'node:path';
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { beforeAll, describe, expect, it } from 'vitest';
import { createAdapter } from '../../src/lora/create.ts';
import { createHostCache } from '../../src/lora/hostCache.ts';
import type { PeftAdapter } from '../../src/lora/peft.ts';
import type { AdapterId } from '../../src/lora/id.ts';
import { isLoraLazyWeights } from '../../src/lora/slotImage.ts';
import { createAdapterStore, type AdapterStore } from '../../src/lora/store.ts';
import { tempDir, tinyConfig, tinyF16Layout, tinyModel } from './helpers.ts';

const layout = tinyF16Layout(8);

let store: AdapterStore;
const ids: AdapterId[] = [];

beforeAll(async () => {
  const root = await tempDir();
  const model = await tinyModel(root);
  store = createAdapterStore({ dir: join(root, 'store'), config: tinyConfig, maxRank: 8, slotImage: layout });
  for (let i = 0; i < 3; i++) {
    const out = join(root, 'store', `a${i}`);
    await createAdapter({ model, rank: 8, seed: 10 + i, out });
    ids.push((await store.register({ path: out })).id);
  }
});

describe('host cache: weights decoded from an f16 image', () => {
  it('charges the decoded f32 weights once they are read, evicting the least recently used other entries', async () => {
    const image = (await store.load(ids[0])).image!.bytes.byteLength; // what an entry is charged at first (all three have the same shapes)
    const cache = createHostCache({ budgetBytes: 3 * image + image / 2, load: (id) => store.load(id) });
    const first = await cache.get(ids[0]);
    await cache.get(ids[1]);
    expect(first.weightsFromImage).toBe(true);
    expect(cache.stats().bytes).toBe(2 * image); // the images alone
    const lazy = first.weights;
    if (!isLoraLazyWeights(lazy)) throw new Error('expected weights decoded from the image');
    expect(lazy.decodedBytes).toBe(0);
    void first.weights.layers; // a CPU backend's pool reads them
    const decoded = lazy.decodedBytes;
    expect(decoded).toBe(2 * image); // f32 of every f16 value (no padding in this layout at rank 8)
    expect(cache.ids()).toEqual([ids[0]]); // adapter 1 made room, though 0 was the older
    expect(cache.stats()).toMatchObject({ bytes: image + decoded, evictions: 1 });
    void first.weights.layers; // read again: charged once
    expect(cache.stats().bytes).toBe(image + decoded);
    expect(cache.delete(ids[0])).toBe(true);
    expect(cache.stats()).toMatchObject({ bytes: 0, entries: 0 });
  });

  it('drops an entry whose decoded weights no longer fit the whole budget; one decoded before it came is charged on insert', async () => {
    const image = (await store.load(ids[2])).image!.bytes.byteLength;
    const small = createHostCache({ budgetBytes: image + 1, load: (id) => store.load(id) });
    const a = await small.get(ids[2]);
    void a.weights.layers;
    expect(small.ids()).toEqual([]);
    expect(small.stats()).toMatchObject({ bytes: 0, evictions: 1 });
    const big = createHostCache({ budgetBytes: 100 * image, load: async () => a });
    await big.get(ids[2]);
    expect(big.stats().bytes).toBe(image + (isLoraLazyWeights(a.weights) ? a.weights.decodedBytes : Number.NaN));
  });
});

describe('host cache: images in a SharedArrayBuffer', () => {
  it("counts a dropped shared image as V8 external memory, which a kept one is not", async () => {
    const external = () => (getHeapStatistics() as { external_memory: number }).external_memory;
    const size = 256 * 2 ** 20; // untouched pages: address space, not memory; large beside other tests' garbage
    const adapter = (id: string): PeftAdapter => ({ ...({} as PeftAdapter), weights: { rank: 4, scale: 1, layers: [] }, image: { layoutKey: '', rank: 4, bytes: new Uint8Array(new SharedArrayBuffer(size)), copies: new Uint32Array(0), info: new Uint32Array(0) }, meta: { id, bytes: size } as PeftAdapter['meta'] });
    const cache = createHostCache({ budgetBytes: 2 * size, load: async (id) => adapter(id) });
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    gc(); // earlier tests' garbage out of the baseline (V8 frees backing stores after the collection returns)
    await new Promise((resolve) => setTimeout(resolve, 10));
    const before = external();
    await cache.get('0x01');
    await cache.get('0x02');
    expect(external() - before).toBeLessThan(size / 4); // kept: not counted
    await cache.get('0x03'); // evicts 0x01
    expect(cache.ids()).toEqual(['0x02', '0x03']);
    expect(external() - before).toBeGreaterThan((3 * size) / 4); // dropped: counted until collected
    // A collection frees the dropped image, the registry's callback (a task V8 posts, later on a
    // busy machine) lets its stand-in go, and the next collection frees that: polled, not timed.
    for (let i = 0; i < 500 && external() - before >= size / 4; i++) {
      gc();
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(external() - before).toBeLessThan(size / 4);
  });
});
