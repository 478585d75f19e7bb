/**
 * A real openlora node on the `tiny` model for benchmarks: model written into a temporary
 * directory, node started in-process on a free port, everything removed on `stop()`.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { loadConfig } from '../../../src/config/load.ts';
import { createModel } from '../../../src/model/create.ts';
import { startNode, type OpenloraNode } from '../../../src/node/create.ts';

export interface BenchNode {
  node: OpenloraNode;
  dir: string;
  stop(): Promise<void>;
}

/** Starts a node on a fresh `tiny` model; `overrides` are config keys, as in `--set`. */
export async function startBenchNode(p: { backend: 'webgpu' | 'cpu'; overrides?: Record<string, unknown> }): Promise<BenchNode> {
  const dir = await mkdtemp(join(tmpdir(), 'openlora-bench-'));
  const modelDir = join(dir, 'tiny');
  await createModel({ preset: 'tiny', seed: 1, dtype: 'f32', out: modelDir });
  const config = loadConfig({ env: {}, overrides: { dataDir: join(dir, 'data'), 'model.dir': modelDir, 'model.backend': p.backend, 'api.port': 0, ...p.overrides } });
  const node = await startNode(config, { account: privateKeyToAccount(generatePrivateKey()) });
  return {
    node,
    dir,
    async stop() {
      await node.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
