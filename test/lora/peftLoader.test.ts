/**
 * Adapter files parsed on a worker thread (`src/lora/peftLoader.ts`): the same weights, metadata
 * and errors as `loadPeftAdapter` on the main thread, several loads at once, abort, and loads
 * after close (on the main thread).
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AbortedError } from '../../src/errors.ts';
import { createAdapter } from '../../src/lora/create.ts';
import { loadPeftAdapter } from '../../src/lora/peft.ts';
import { createPeftLoader, type PeftLoader } from '../../src/lora/peftLoader.ts';
import { createLoraSlotImageLayout } from '../../src/lora/slotImage.ts';
import { loraKey, tempDir, tinyConfig, tinyModel, writeAdapter } from './helpers.ts';

let root: string;
let model: string;
let loader: PeftLoader;
beforeAll(async () => {
  root = await tempDir();
  model = await tinyModel(root);
  loader = createPeftLoader({ threads: 2 });
});
afterAll(() => loader?.close());

describe('adapter loads on a worker thread', () => {
  it('gives what loadPeftAdapter gives, for several adapters loaded at once', async () => {
    const dirs = await Promise.all([1, 2, 3].map((seed) => createAdapter({ model, rank: 4 * seed, seed, out: join(root, `a${seed}`) }).then(() => join(root, `a${seed}`))));
    const viaThread = await Promise.all(dirs.map((dir) => loader.load({ dir, config: tinyConfig })));
    expect(loader.threadLoads).toBe(3);
    for (const [i, dir] of dirs.entries()) {
      const direct = await loadPeftAdapter({ dir, config: tinyConfig });
      expect(viaThread[i].meta).toEqual(direct.meta);
      expect(viaThread[i].weights.rank).toBe(direct.weights.rank);
      expect(viaThread[i].weights.layers[1].down_proj!.a).toEqual(direct.weights.layers[1].down_proj!.a);
      expect(viaThread[i].weights.layers[0].q_proj!.b).toEqual(direct.weights.layers[0].q_proj!.b);
    }
  });

  it('an adapter packed into an f16 slot image comes back without an f32 copy, its weights decoded from the image as on the main thread', async () => {
    const dir = (await createAdapter({ model, rank: 6, seed: 7, out: join(root, 'f16') })).dir;
    const slotImage = createLoraSlotImageLayout({ config: tinyConfig, dtype: 'f16', maxRank: 8, groups: [0, 1].map((layer) => ({ layer, inPad: 384, members: [{ module: 'down_proj', column: 0 }] })) });
    const before = loader.threadLoads;
    const viaThread = await loader.load({ dir, config: tinyConfig, slotImage });
    expect(loader.threadLoads).toBe(before + 1);
    const direct = await loadPeftAdapter({ dir, config: tinyConfig, slotImage });
    expect(viaThread.weightsFromImage).toBe(true);
    expect(viaThread.meta).toEqual(direct.meta);
    expect(viaThread.image!.bytes).toEqual(direct.image!.bytes);
    expect(viaThread.weights.layers[1].down_proj!.b).toEqual(direct.weights.layers[1].down_proj!.b);
  });

  it('posts slot images in a SharedArrayBuffer (f32 weights that are views into one share it), or transfers them with sharedImages: false', async () => {
    const dir = (await createAdapter({ model, rank: 8, seed: 8, out: join(root, 'f32') })).dir;
    const slotImage = createLoraSlotImageLayout({ config: tinyConfig, dtype: 'f32', maxRank: 8, groups: [0, 1].map((layer) => ({ layer, inPad: 384, members: [{ module: 'down_proj', column: 0 }] })) });
    const direct = await loadPeftAdapter({ dir, config: tinyConfig, slotImage });
    expect(direct.image!.bytes.buffer).toBeInstanceOf(ArrayBuffer); // on the calling thread: nothing crosses
    const shared = await loader.load({ dir, config: tinyConfig, slotImage });
    expect(shared.image!.bytes.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(shared.weights.layers[1].down_proj!.a.buffer).toBe(shared.image!.bytes.buffer);
    expect(shared.image!.bytes).toEqual(direct.image!.bytes);
    expect(shared.weights.layers[1].down_proj!.a).toEqual(direct.weights.layers[1].down_proj!.a);
    const transferring = createPeftLoader({ sharedImages: false });
    try {
      const transferred = await transferring.load({ dir, config: tinyConfig, slotImage });
      expect(transferring.threadLoads).toBe(1);
      expect(transferred.image!.bytes.buffer).toBeInstanceOf(ArrayBuffer);
      expect(transferred.image!.bytes).toEqual(direct.image!.bytes);
    } finally {
      await transferring.close();
    }
  });

  it('rejects a bad adapter with the error loadPeftAdapter throws (class, code, message)', async () => {
    const dir = await writeAdapter(join(root, 'bad'), {}, { [loraKey(0, 'q_proj', 'A')]: [4, 128], [loraKey(0, 'q_proj', 'B')]: [128, 8] });
    const direct = await loadPeftAdapter({ dir, config: tinyConfig }).then(() => undefined, (e: unknown) => e as Error & { code: string });
    const viaThread = await loader.load({ dir, config: tinyConfig }).then(() => undefined, (e: unknown) => e as Error & { code: string });
    expect(direct?.code).toBe('OPENLORA_LORA_RANK_MISMATCH');
    expect(viaThread?.constructor).toBe(direct?.constructor);
    expect(viaThread?.code).toBe(direct?.code);
    expect(viaThread?.message).toBe(direct?.message);
  });

  it('aborts a load, and loads on the main thread after close', async () => {
    const dir = join(root, 'a1');
    const controller = new AbortController();
    controller.abort(new Error('client went away'));
    await expect(loader.load({ dir, config: tinyConfig, signal: controller.signal })).rejects.toBeInstanceOf(AbortedError);
    const closed = createPeftLoader();
    await closed.close();
    const after = await closed.load({ dir, config: tinyConfig });
    expect(after.meta.rank).toBe(4);
    expect(closed.threadLoads).toBe(0);
  });
});
