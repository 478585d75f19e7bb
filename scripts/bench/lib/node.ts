/**
 * A real openlora node on the `tiny` model for benchmarks: model (and any adapters) written into a
 * temporary directory, node started in-process on a free port, everything removed on `stop()`.
 */
import type { BackendChoice } from '../../../src/engine/chooseBackend.ts';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Address } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { loadConfig } from '../../../src/config/load.ts';
import { createAdapter } from '../../../src/lora/create.ts';
import { createModel } from '../../../src/model/create.ts';
import { startNode, type NodeComponents, type OpenloraNode } from '../../../src/node/create.ts';

export interface BenchNode {
  node: OpenloraNode;
  dir: string;
  /** Base model directory. */
  modelDir: string;
  /** Adapters written for this node, by name. */
  adapters: Array<{ name: string; dir: string }>;
  stop(): Promise<void>;
}

/** Parameters of {@link startBenchNode}. */
export interface StartBenchNodeParameters {
  backend: BackendChoice;
  /** Config keys, as in `--set`. */
  overrides?: Record<string, unknown>;
  /** Random adapters to write and serve (seeded), with their on-chain owner when paid. */
  adapters?: Array<{ name: string; rank: number; seed: number; owner?: Address }>;
  /** Node key, deployment and chain clients (default: a random key, no chain). */
  components?: Partial<NodeComponents>;
}

/** Starts a node on a fresh `tiny` model. */
export async function startBenchNode(p: StartBenchNodeParameters): Promise<BenchNode> {
  const dir = await mkdtemp(join(tmpdir(), 'openlora-bench-'));
  const modelDir = join(dir, 'tiny');
  await createModel({ preset: 'tiny', seed: 1, dtype: 'f32', out: modelDir });
  const adapters = await Promise.all((p.adapters ?? []).map(async (a) => {
    const made = await createAdapter({ model: modelDir, rank: a.rank, seed: a.seed, out: join(dir, 'adapters', a.name) });
    return { name: a.name, dir: made.dir, owner: a.owner };
  }));
  const lora = adapters.length ? { 'lora.adapters': adapters.map((a) => ({ path: a.dir, name: a.name, ...(a.owner ? { owner: a.owner } : {}) })) } : {};
  const config = loadConfig({ env: {}, overrides: { dataDir: join(dir, 'data'), 'model.dir': modelDir, 'model.backend': p.backend, 'api.port': 0, ...lora, ...p.overrides } });
  const node = await startNode(config, { account: privateKeyToAccount(generatePrivateKey()), ...p.components });
  return {
    node,
    dir,
    modelDir,
    adapters: adapters.map(({ name, dir }) => ({ name, dir })),
    async stop() {
      await node.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
