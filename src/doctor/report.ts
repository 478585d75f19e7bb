import { statfs } from 'node:fs/promises';
import { availableParallelism, freemem, totalmem } from 'node:os';
import { resolve } from 'node:path';
import { createPublicClient, http } from 'viem';
import type { Config } from '../config/schema.ts';
import { MIN_NODE_MAJOR } from '../constants.ts';
import { probeAdapter, type GpuAdapterSummary } from '../gpu/device.ts';
import { chooseBackend } from '../engine/chooseBackend.ts';
import type { BackendKind } from '../engine/backend.ts';

/** One thing that is wrong, how bad, and what to do. */
export interface DoctorProblem {
  code: string;
  /** `error`: the node cannot run; `warning`: it runs, degraded. */
  severity: 'error' | 'warning';
  message: string;
  hint: string;
}

/** The stable `doctor --json` object. Fields are only ever added, never renamed. */
export interface DoctorReport {
  ok: boolean;
  node: { version: string; major: number; platform: string; arch: string };
  webgpu: { available: boolean; adapter: GpuAdapterSummary | null; features: string[]; limits: Record<string, number> };
  /** The engine `node start` / `generate` will run (model.backend, `auto` resolved against the adapter) and why. */
  backend: { choice: string; kind: BackendKind; reason: string; cpuThreads: number };
  system: { cpus: number; memory: { totalBytes: number; freeBytes: number }; disk: { path: string; freeBytes: number | null } };
  chain: { rpcUrl: string; reachable: boolean; chainId: number | null; blockNumber: string | null; error: string | null };
  problems: DoctorProblem[];
}

export interface DoctorParameters {
  config: Config;
  /** Skip the RPC check (offline diagnosis). */
  skipChain?: boolean;
}

const GIB = 1024 ** 3;

async function checkChain(config: Config): Promise<DoctorReport['chain']> {
  const client = createPublicClient({ transport: http(config.chain.rpcUrl, { timeout: config.chain.rpcTimeoutMs, retryCount: 0 }) });
  try {
    const [chainId, blockNumber] = await Promise.all([client.getChainId(), client.getBlockNumber()]);
    return { rpcUrl: config.chain.rpcUrl, reachable: true, chainId, blockNumber: blockNumber.toString(), error: null };
  } catch (error) {
    const e = error as { shortMessage?: string; message?: string };
    return { rpcUrl: config.chain.rpcUrl, reachable: false, chainId: null, blockNumber: null, error: e.shortMessage ?? e.message ?? String(error) };
  }
}

/** Examines this machine: Node, WebGPU adapter, memory, disk, chain RPC; lists problems with fixes. */
export async function runDoctor(parameters: DoctorParameters): Promise<DoctorReport> {
  const { config } = parameters;
  const problems: DoctorProblem[] = [];
  const major = Number(process.versions.node.split('.')[0]);
  if (major < MIN_NODE_MAJOR) {
    problems.push({
      code: 'OPENLORA_DOCTOR_NODE_TOO_OLD',
      severity: 'error',
      message: `Node.js ${process.versions.node} is too old; openlora needs >= ${MIN_NODE_MAJOR} (24 recommended).`,
      hint: 'Run through npm (`npm run openlora -- ...`), which uses the Node 24 in node_modules, or install Node 24.',
    });
  }

  const probe = await probeAdapter();
  const webgpu: DoctorReport['webgpu'] = probe.available
    ? { available: true, adapter: probe.adapter, features: probe.features, limits: probe.limits }
    : { available: false, adapter: null, features: [], limits: {} };
  const chosen = chooseBackend(config.model.backend, probe);
  const backend: DoctorReport['backend'] = { choice: config.model.backend, ...chosen, cpuThreads: availableParallelism() };
  if (!probe.available) {
    problems.push({
      code: 'OPENLORA_DOCTOR_NO_WEBGPU_ADAPTER',
      severity: chosen.kind === 'webgpu' ? 'error' : 'warning',
      message: 'No WebGPU adapter: Dawn found no Vulkan driver.',
      hint: 'Run `npm run setup` (installs Mesa lavapipe on Debian 12/13), or install a Vulkan driver (Debian 13: `apt-get install mesa-vulkan-drivers`; Debian 12: `apt-get install -t bookworm-backports mesa-vulkan-drivers`). Check VK_ICD_FILENAMES/VK_DRIVER_FILES if set. Without one the WebAssembly CPU backend runs (`--backend cpu`, what `auto` picks).',
    });
  } else {
    if (!probe.features.includes('shader-f16')) {
      problems.push({ code: 'OPENLORA_DOCTOR_NO_F16', severity: 'warning', message: 'The adapter lacks shader-f16: weights run as f32 (twice the memory and bandwidth).', hint: 'Use a newer driver (Mesa >= 25, recent vendor drivers).' });
    }
    if (probe.adapter.software) {
      problems.push({ code: 'OPENLORA_DOCTOR_SOFTWARE_ADAPTER', severity: 'warning', message: `The WebGPU adapter is a software renderer (${probe.adapter.description}): fine for development and tests, far too slow for serving${chosen.kind === 'cpu' ? '; the WebAssembly CPU backend runs instead' : ''}.`, hint: 'Run production nodes on a machine with a GPU and its Vulkan driver.' });
    }
  }

  const dataDir = resolve(config.dataDir);
  let diskFree: number | null = null;
  for (let dir = dataDir; ; dir = resolve(dir, '..')) {
    try {
      const s = await statfs(dir);
      diskFree = s.bavail * s.bsize;
      break;
    } catch {
      if (dir === resolve(dir, '..')) break;
    }
  }
  if (diskFree !== null && diskFree < 2 * GIB) {
    problems.push({ code: 'OPENLORA_DOCTOR_LOW_DISK', severity: 'warning', message: `Only ${(diskFree / GIB).toFixed(1)} GiB free under ${dataDir}.`, hint: 'Free disk space or point dataDir (OPENLORA_DATA_DIR) elsewhere; models and adapters need several GiB.' });
  }
  if (totalmem() < 4 * GIB) {
    problems.push({ code: 'OPENLORA_DOCTOR_LOW_MEMORY', severity: 'warning', message: `Only ${(totalmem() / GIB).toFixed(1)} GiB of memory.`, hint: 'Use a smaller model or host adapter cache budget.' });
  }

  const chain = parameters.skipChain
    ? { rpcUrl: config.chain.rpcUrl, reachable: false, chainId: null, blockNumber: null, error: 'not checked (--offline)' }
    : await checkChain(config);
  if (!parameters.skipChain && !chain.reachable) {
    problems.push({
      code: 'OPENLORA_DOCTOR_RPC_UNREACHABLE',
      severity: 'warning',
      message: `Chain RPC ${config.chain.rpcUrl} is not reachable (${chain.error}).`,
      hint: 'Paid mode and settlement need it: start your chain node or set chain.rpcUrl (OPENLORA_CHAIN_RPC_URL). `openlora dev` starts a local one. Open mode runs without it.',
    });
  }

  return {
    ok: !problems.some((p) => p.severity === 'error'),
    node: { version: process.versions.node, major, platform: process.platform, arch: process.arch },
    webgpu,
    backend,
    system: { cpus: availableParallelism(), memory: { totalBytes: totalmem(), freeBytes: freemem() }, disk: { path: dataDir, freeBytes: diskFree } },
    chain,
    problems,
  };
}
