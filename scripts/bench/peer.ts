/**
 * Peer benchmark (not a test): openlora beside llama.cpp on the same GGUF file and the same cores.
 *
 *   npm run bench:peer [-- --threads 1,2 --rounds 5 --type f16|q8_0|q4_0 --backend cpu|webgpu
 *                         --peer cpu|vulkan --out FILE --quick]
 *
 * llama.cpp is node-llama-cpp's prebuilt build (pinned below), installed by this script into
 * .bench/llama with npm (never a dependency of openlora). The model is bench-135m written by
 * `model create --format gguf` (cached under .openlora/cache/models/); both engines load that one
 * file. Figures, each the median of interleaved rounds (the order of the two engines alternates
 * per round): batch-1 decode tokens/s, batch-8 decode tokens/s (8 sequences stepping together),
 * prefill tokens/s of a 128-token prompt; per thread count for the CPU rows (`--backend webgpu
 * --peer vulkan` gives the GPU rows: one row, threads unused). Greedy tokens of every decode are
 * compared between the engines: the count of identical sequences and how many tokens agree before
 * the first difference (random weights leave near-tied logits). One summary line per
 * figure with the ratio openlora / llama.cpp and the 1-minute load average (median over the rounds:
 * other work on the machine shows there); `--out FILE` writes them as JSON.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Backend, StepSequence } from '../../src/engine/backend.ts';
import { createCpuBackend } from '../../src/engine/cpu/backend.ts';
import { createWebGpuBackend } from '../../src/engine/webgpu/backend.ts';
import { DEFAULT_DATA_DIR } from '../../src/constants.ts';
import { createModel } from '../../src/model/create.ts';
import { loadModel } from '../../src/model/load.ts';
import { QUANTIZE_TYPES, type QuantizeType } from '../../src/model/quant/formats.ts';
import { benchArgs, positiveNumber } from './lib/args.ts';
import { median } from './lib/stats.ts';

/** node-llama-cpp release this benchmark runs (its llama.cpp build), and its prebuilt binaries. */
const NODE_LLAMA_CPP = '3.21.1';
const LLAMA_DIR = resolve('.bench/llama');

const args = benchArgs(import.meta.url, {
  threads: { type: 'string', default: '1,2' },
  rounds: { type: 'string', default: '5' },
  type: { type: 'string', default: 'f16' },
  backend: { type: 'string', default: 'cpu' },
  peer: { type: 'string', default: 'cpu' },
  preset: { type: 'string', default: 'bench-135m' },
  decode: { type: 'string', default: '32' },
  batch: { type: 'string', default: '8' },
  prefill: { type: 'string', default: '128' },
  out: { type: 'string' },
  quick: { type: 'boolean', default: false },
});
const log = (line: string) => process.stderr.write(`peer: ${line}\n`);
const type = args.type!;
if (type !== 'f16' && type !== 'f32' && !(QUANTIZE_TYPES as readonly string[]).includes(type)) throw new Error(`--type must be f16, f32 or one of ${QUANTIZE_TYPES.join(', ')}, got ${type}`);
if (args.backend !== 'cpu' && args.backend !== 'webgpu') throw new Error(`--backend must be cpu or webgpu, got ${args.backend}`);
if (args.peer !== 'cpu' && args.peer !== 'vulkan') throw new Error(`--peer must be cpu or vulkan, got ${args.peer}`);
const rounds = args.quick ? 2 : positiveNumber('rounds', args.rounds);
const decodeSteps = args.quick ? 8 : positiveNumber('decode', args.decode);
const batch = positiveNumber('batch', args.batch);
const prefillLen = positiveNumber('prefill', args.prefill);
const threadCounts = args.backend === 'webgpu' ? [0] : args.threads!.split(',').map(Number);
const greedy = { temperature: 0, topK: 0, topP: 1, seed: 0 };
const promptOf = (b: number) => [1 + b, 2, 3, 4, 5, 6, 7, 8];
const longPrompt = Array.from({ length: prefillLen }, (_, i) => (i * 7919 + 11) % 49000);

/** Installs node-llama-cpp and its Linux x64 CPU and Vulkan builds into .bench/llama (npm, once). */
function installLlama(): void {
  if (existsSync(join(LLAMA_DIR, 'node_modules', 'node-llama-cpp', 'package.json'))) return;
  log(`installing node-llama-cpp ${NODE_LLAMA_CPP} into ${LLAMA_DIR}`);
  execFileSync('mkdir', ['-p', LLAMA_DIR]);
  execFileSync('sh', ['-c', `cd '${LLAMA_DIR}' && echo '{"name":"openlora-bench-llama","private":true}' > package.json`]);
  // --omit=optional: skip the CUDA builds npm would pick for linux-x64; the two below are asked for by name.
  const pkgs = [`node-llama-cpp@${NODE_LLAMA_CPP}`, `@node-llama-cpp/linux-x64@${NODE_LLAMA_CPP}`, `@node-llama-cpp/linux-x64-vulkan@${NODE_LLAMA_CPP}`];
  execFileSync('npm', ['install', '--no-audit', '--no-fund', '--ignore-scripts', '--omit=optional', '-E', ...pkgs], { cwd: LLAMA_DIR, stdio: 'inherit' });
}

/** The GGUF file of the preset in `type`, written once by `model create --format gguf`. */
async function ggufModel(): Promise<string> {
  const dir = join(DEFAULT_DATA_DIR, 'cache', 'models', `${args.preset}-gguf-${type}`);
  const path = join(dir, 'model.gguf');
  if (!existsSync(path)) {
    log(`writing ${args.preset} as GGUF (${type}) to ${path}`);
    await mkdir(dir, { recursive: true });
    const quantize = type === 'f16' || type === 'f32' ? undefined : (type as QuantizeType);
    await createModel({ preset: args.preset!, seed: 0, out: dir, format: 'gguf', dtype: type === 'f32' ? 'f32' : 'f16', quantize });
  }
  return path;
}

/** What one engine measures. */
interface Engine {
  name: string;
  /** ms of `steps` decode steps of `n` sequences after their 8-token prompts; greedy tokens per sequence. */
  decode(n: number, steps: number): Promise<{ ms: number; tokens: number[][] }>;
  /** ms to the first token of a `prefillLen` prompt. */
  prefill(): Promise<number>;
  close(): Promise<void>;
}

async function openloraEngine(path: string, threads: number): Promise<Engine> {
  const model = await loadModel({ dir: path });
  const blocksPer = Math.ceil(Math.max(prefillLen + 1, 8 + decodeSteps + 1) / 16);
  const numKvBlocks = blocksPer * batch;
  const backend: Backend =
    args.backend === 'cpu' ? await createCpuBackend({ model, numKvBlocks, threads, loraSlots: 0 }) : await createWebGpuBackend({ model, numKvBlocks, maxRows: Math.max(prefillLen, batch), maxContext: blocksPer * 16, loraSlots: 0 });
  const table = (b: number) => Array.from({ length: blocksPer }, (_, i) => b * blocksPer + i);
  return {
    name: 'openlora',
    async decode(n, steps) {
      const seqs = (tokens: (b: number) => number[], startPos: number, step: number): StepSequence[] =>
        Array.from({ length: n }, (_, b) => ({ tokens: tokens(b), startPos, blockTable: table(b), adapterSlot: -1, sample: { ...greedy, step } }));
      let out = await backend.step(seqs(promptOf, 0, 0));
      const tokens = out.map((o) => [o.token!]);
      const t0 = performance.now();
      for (let s = 0; s < steps; s++) {
        out = await backend.step(seqs((b) => [tokens[b][s]], 8 + s, s + 1));
        out.forEach((o, b) => tokens[b].push(o.token!));
      }
      return { ms: performance.now() - t0, tokens };
    },
    async prefill() {
      const t0 = performance.now();
      await backend.step([{ tokens: longPrompt, startPos: 0, blockTable: table(0), adapterSlot: -1, sample: { ...greedy, step: 0 } }]);
      return performance.now() - t0;
    },
    async close() {
      backend.destroy();
      await model.close();
    },
  };
}

/** The parts of node-llama-cpp's API this script uses. */
interface LlamaSequence {
  evaluate(tokens: number[], options: { temperature: number }): AsyncGenerator<number>;
  clearHistory(): Promise<void>;
}
interface LlamaContext {
  getSequence(): LlamaSequence;
  dispose(): Promise<void>;
}

async function llamaEngine(path: string, threads: number): Promise<Engine> {
  const lib = (await import(pathToFileURL(join(LLAMA_DIR, 'node_modules', 'node-llama-cpp', 'dist', 'index.js')).href)) as {
    getLlama(o: object): Promise<{
      gpu: string | false;
      loadModel(o: object): Promise<{ gpuLayers: number; createContext(o: object): Promise<LlamaContext>; dispose(): Promise<void> }>;
      dispose(): Promise<void>;
    }>;
    LlamaLogLevel: { warn: string };
  };
  // ggml lists only non-CPU Vulkan devices unless told which to use: lavapipe (a CPU-type device)
  // would leave llama.cpp on its CPU build. Device 0, as the engine's one device, unless set.
  if (args.peer === 'vulkan') process.env.GGML_VK_VISIBLE_DEVICES ??= '0';
  const llama = await lib.getLlama({ gpu: args.peer === 'vulkan' ? 'vulkan' : false, build: 'never', logLevel: lib.LlamaLogLevel.warn });
  if (args.peer === 'vulkan' && llama.gpu !== 'vulkan') throw new Error(`llama.cpp did not start its Vulkan backend (got ${String(llama.gpu)}); the GPU rows would measure its CPU build`);
  // 'auto' offloads by free device memory and may keep every layer on the CPU: ask for all of them and check.
  const model = await llama.loadModel({ modelPath: path, gpuLayers: args.peer === 'vulkan' ? 'max' : 0 });
  if (args.peer === 'vulkan' && model.gpuLayers === 0) throw new Error('llama.cpp offloaded no layer to Vulkan; the GPU rows would measure its CPU build');
  log(`llama.cpp: ${args.peer === 'vulkan' ? `${model.gpuLayers} layers on Vulkan` : 'CPU'}`);
  const contextOptions = { contextSize: 4096, batchSize: Math.max(512, prefillLen), ...(threads ? { threads } : {}) };
  const many = await model.createContext({ ...contextOptions, sequences: batch });
  const sequences = Array.from({ length: batch }, () => many.getSequence());
  /** Greedy tokens of one sequence; `at[i]` = time the i-th token arrived. */
  const run = async (seq: LlamaSequence, prompt: number[], count: number) => {
    const tokens: number[] = [];
    const at: number[] = [];
    for await (const t of seq.evaluate(prompt, { temperature: 0 })) {
      tokens.push(t);
      at.push(performance.now());
      if (tokens.length >= count) break;
    }
    return { tokens, at };
  };
  return {
    name: 'llama.cpp',
    async decode(n, steps) {
      await Promise.all(sequences.map((s) => s.clearHistory()));
      const runs = await Promise.all(Array.from({ length: n }, (_, b) => run(sequences[b], promptOf(b), steps + 1)));
      // From the last sequence's first token (every prompt done) to the last token of any.
      const start = Math.max(...runs.map((r) => r.at[0]));
      const end = Math.max(...runs.map((r) => r.at[r.at.length - 1]));
      return { ms: end - start, tokens: runs.map((r) => r.tokens) };
    },
    async prefill() {
      await sequences[0].clearHistory();
      const t0 = performance.now();
      const r = await run(sequences[0], longPrompt, 1);
      return r.at[0] - t0;
    },
    async close() {
      await many.dispose();
      await model.dispose();
      await llama.dispose();
    },
  };
}


installLlama();
const path = await ggufModel();
const results: Record<string, unknown>[] = [];
for (const threads of threadCounts) {
  const label = args.backend === 'webgpu' ? `webgpu vs llama.cpp ${args.peer}` : `${threads} thread${threads === 1 ? '' : 's'}`;
  log(`${label}: loading both engines`);
  const engines = [await openloraEngine(path, threads), await llamaEngine(path, threads)];
  const figures: Record<string, Record<string, number[]>> = { 'decode b1': {}, [`decode b${batch}`]: {}, [`prefill ${prefillLen}`]: {} };
  let identical = 0;
  let compared = 0;
  const agreeing: number[] = []; // tokens each sequence agrees on before its first difference
  const loads: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? engines : [...engines].reverse();
    const tokens: Record<string, number[][]> = {};
    for (const e of order) {
      const one = await e.decode(1, decodeSteps);
      const many = await e.decode(batch, decodeSteps);
      const pre = await e.prefill();
      (figures['decode b1'][e.name] ??= []).push((decodeSteps / one.ms) * 1000);
      (figures[`decode b${batch}`][e.name] ??= []).push(((decodeSteps * batch) / many.ms) * 1000);
      (figures[`prefill ${prefillLen}`][e.name] ??= []).push((prefillLen / pre) * 1000);
      tokens[e.name] = [...one.tokens, ...many.tokens];
    }
    const [a, b] = [tokens.openlora, tokens['llama.cpp']];
    a.forEach((seq, i) => {
      compared++;
      if (seq.join() === b[i].join()) identical++;
      const first = seq.findIndex((t, k) => t !== b[i][k]);
      agreeing.push(first < 0 ? seq.length : first);
    });
    loads.push(loadavg()[0]);
    log(`${label}: round ${round + 1}/${rounds} done (load ${loads[round].toFixed(2)})`);
  }
  const load = median(loads);
  for (const [figure, byEngine] of Object.entries(figures)) {
    const ours = median(byEngine.openlora);
    const peer = median(byEngine['llama.cpp']);
    const row = { figure, threads: args.backend === 'webgpu' ? null : threads, backend: args.backend, peer: args.peer, type, openlora: ours, llamaCpp: peer, ratio: ours / peer, rounds, load };
    results.push(row);
    process.stdout.write(`peer: ${label}, ${figure}, ${type}: openlora ${ours.toFixed(1)} tok/s, llama.cpp ${peer.toFixed(1)} tok/s, ratio ${(ours / peer).toFixed(2)}, load ${load.toFixed(2)}\n`);
  }
  const agreeMean = agreeing.reduce((t, n) => t + n, 0) / agreeing.length;
  process.stdout.write(`peer: ${label}: greedy tokens identical in ${identical} of ${compared} sequences (${decodeSteps + 1} tokens each); the first ${median(agreeing)} tokens agree (median; mean ${agreeMean.toFixed(1)})\n`);
  results.push({ figure: 'greedy identical', threads, identical, compared, tokensPerSequence: decodeSteps + 1, agreeingTokens: { median: median(agreeing), mean: agreeMean } });
  for (const e of engines) await e.close();
}
if (args.out) await writeFile(args.out, JSON.stringify({ preset: args.preset, type, nodeLlamaCpp: NODE_LLAMA_CPP, results }, null, 2) + '\n');
