/**
 * LoRA serving benchmark (not a test): `npm run bench:lora [-- --model tiny] [--quick] [--out FILE]`.
 *
 * On bench-135m (f16; generated into .openlora/cache/models if absent), rank-16 adapters on all
 * seven projections, WebGPU backend:
 *  1. decode throughput at batch 32 with 0 (base only), 1, 8 and 32 distinct adapters;
 *  2. Poisson/Zipf(1) traffic over 10, 100 and 1000 registered adapters through the node's
 *     scheduler + disk/host/GPU tiers: throughput, TTFT and TPOT p50/p99, cache hit rates;
 *  3. adapter load latency through the slot manager until the GPU ran the upload, cold (disk → GPU)
 *     and warm (host cache → GPU), ranks 8/16/64, with where a warm rank-`--rank` load's time goes;
 *  4. memory: base + N resident adapters vs N merged model copies;
 *  5. the 100-adapter traffic of (2) through a merge-on-switch baseline.
 * Sizes are scaled to end in a few minutes on a CPU (lavapipe); what was scaled is printed.
 *
 * `--lora-dtype auto|f32|f16`: the dtype of the adapter slots (`lora.dtype`, default auto: the base
 * model's, f16 on bench-135m); with `--loads`, a list (`--lora-dtype f32,f16`) loads through one pool
 * per dtype and upload variant, interleaved.
 *
 * `--loads [--upload reuse,copy] [--load-ranks 8,16,64] [--lora-dtype f32,f16] [--load-samples 6]
 * [--warm-samples 60] [--warm-adapters N] [--images shared,transfer] [--staging-prefill 16,0]`: only (3)
 * (`lib/loraLoad.ts`), per slot dtype and upload variant of the slot pool (`reuse`: the staging ring skips the memcpy of an image it still holds,
 * the default; `copy`: every upload writes it, as before) in one process, interleaved, with where
 * cold and warm loads' time goes, the process's CPU ms per load and each variant's ratio to the
 * first, and the phases of the tail (the samples at or above the p95, and the slowest three)
 * beside the medians. `--load-samples`: adapters loaded cold per rank (the warm loads cycle over
 * them, or over the first `--warm-adapters`). `--images`: the loader thread posts slot images in a
 * SharedArrayBuffer (`shared`, the default) or transfers them (`transfer`, as before), one loader
 * each. `--staging-prefill 16,0`: the rank whose largest image sizes the staging buffer a pool
 * makes at start-up (0: none, the first upload makes it), one pool each. `--upload` also picks the
 * variants of (3) in a full run.
 *
 * `--variants current,loraBroadcast=false [--rounds 5] [--distinct 0,32] [--profile]`: only (1),
 * on one backend per kernel-shape variant (as `bench:linear`'s; `loraDtype=f16` picks the slots'
 * dtype, e.g. `--variants current,loraDtype=f16`), in interleaved rounds: each variant's tokens/s
 * with 0 and 32 distinct adapters, the ratio to its base-only rate, to the first variant and its
 * CPU ms per step (and base's over it), with the load average; `--profile`: per-kernel GPU ms per
 * step of each (timestamp queries).
 *
 * `--targets all|q_proj,v_proj,...` (with `--variants` or `--kernels`): the modules the random
 * adapters target (default all; the other sections read adapter files of every module, so they
 * refuse it). Beside each rate with adapters, the rate a step bound by the bytes it reads would
 * keep of base only (`lib/loraBytes.ts`): distinct adapters' factors are read per row.
 *
 * `--kernels --variants current,... [--rounds 5] [--reps 8]`: only one layer's LoRA kernels
 * (`lib/loraKernels.ts`): per projection and variant the CPU ms of the shrink, of the projection
 * with 32 distinct adapters' rows and without any (so the expand epilogue's cost), side by side.
 */
import { writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import type { LoraWeights } from '../../src/engine/backend.ts';
import { createWebGpuBackend } from '../../src/engine/webgpu/backend.ts';
import { createGpuLoraSlotPool, LORA_STAGING_PREFILL_RANK } from '../../src/engine/webgpu/lora/slotPool.ts';
import { acquireGpu } from '../../src/gpu/device.ts';
import { createHostCache } from '../../src/lora/hostCache.ts';
import { createSlotManager } from '../../src/lora/slots.ts';
import { createAdapterStore } from '../../src/lora/store.ts';
import { createPeftLoader } from '../../src/lora/peftLoader.ts';
import { loadModel } from '../../src/model/load.ts';
import { makeTrace, serveMergeOnSwitch, serveUnmerged, type MergeResult, type TrafficResult } from './lib/loraTraffic.ts';
import { namedAdapters } from './lib/adapters.ts';
import { cachedPreset } from './lib/models.ts';
import { benchArgs, oneOf, positiveNumber } from './lib/args.ts';
import { parseVariant } from './lib/linearB1.ts';
import { DEFAULT_LORA_DTYPE, LORA_DTYPE_SETTINGS, resolveLoraDtype, type LoraDtype, type LoraDtypeSetting } from '../../src/lora/dtype.ts';
import type { LinearShape } from '../../src/engine/webgpu/linearPlan.ts';
import { compareLoraVariants, loraDecodeRun, randomLoraWeights } from './lib/loraDecode.ts';
import { loadReportLines, measureLoadLatency } from './lib/loraLoad.ts';
import { LORA_UPLOAD_MODES, type LoraUploadMode } from '../../src/engine/webgpu/lora/stagingRing.ts';
import { runLoraKernels } from './lib/loraKernels.ts';
import { adapterReadShare } from './lib/loraBytes.ts';
import { moduleNames } from '../../src/model/config.ts';

const args = benchArgs(import.meta.url, {
  model: { type: 'string', default: 'bench-135m' },
  quick: { type: 'boolean', default: false },
  out: { type: 'string' },
  rank: { type: 'string', default: '16' },
  slots: { type: 'string', default: '32' },
  'decode-steps': { type: 'string' },
  requests: { type: 'string' },
  rate: { type: 'string' },
  'max-tokens': { type: 'string' },
  'cap-s': { type: 'string' },
  'load-samples': { type: 'string' },
  'warm-samples': { type: 'string' },
  'warm-adapters': { type: 'string' },
  'traffic-slots': { type: 'string', default: '16' },
  variants: { type: 'string' },
  rounds: { type: 'string', default: '5' },
  distinct: { type: 'string', default: '0,32' },
  targets: { type: 'string', default: 'all' },
  profile: { type: 'boolean', default: false },
  kernels: { type: 'boolean', default: false },
  reps: { type: 'string', default: '8' },
  'lora-dtype': { type: 'string', default: DEFAULT_LORA_DTYPE },
  loads: { type: 'boolean', default: false },
  upload: { type: 'string', default: LORA_UPLOAD_MODES[0] },
  images: { type: 'string', default: 'shared' },
  'staging-prefill': { type: 'string', default: String(LORA_STAGING_PREFILL_RANK) },
  'load-ranks': { type: 'string', default: '8,16,64' },
});
if (args.targets !== 'all' && args.variants === undefined && !args.kernels) {
  throw new Error(`--targets ${args.targets}: only the random adapters of --variants and --kernels take it (the full run's traffic and --loads read adapter files of every module); add --variants current`);
}
const preset = args.model!;
const tiny = preset === 'tiny';
const quick = args.quick!;
const rank = positiveNumber('rank', args.rank);
const slotCount = positiveNumber('slots', args.slots);
const decodeSteps = positiveNumber('decode-steps', args['decode-steps'], quick ? 2 : 4);
const requestCount = positiveNumber('requests', args.requests, quick ? 16 : tiny ? 96 : 32);
const rate = positiveNumber('rate', args.rate, tiny ? 40 : 4);
const maxTokens = positiveNumber('max-tokens', args['max-tokens'], quick ? 6 : tiny ? 16 : 8);
const capMs = positiveNumber('cap-s', args['cap-s'], quick ? 12 : 30) * 1000;
const loadSamples = positiveNumber('load-samples', args['load-samples'], quick ? 3 : 6);
const warmSamples = positiveNumber('warm-samples', args['warm-samples'], quick ? 24 : 60);
/** Warm loads cycle over the first this many cold-loaded adapters (default all of them). */
const warmAdapters = args['warm-adapters'] === undefined ? undefined : positiveNumber('warm-adapters', args['warm-adapters']);
const trafficSlots = Math.min(positiveNumber('traffic-slots', args['traffic-slots']), slotCount);
const distinctFiles = tiny ? 64 : 8; // adapter files generated; more names reuse them (see `names`)
const BATCH = 32;
const PROMPT = 16;
const log = (line: string) => process.stderr.write(`bench:lora: ${line}\n`);
const scaled: string[] = [];
const started = performance.now();

const modelDir = await cachedPreset(preset, log);
const model = await loadModel({ dir: modelDir });
// Adapter files are read and parsed on a worker thread, as the node does (src/node/create.ts).
const loader = createPeftLoader();
const config = model.config;
const gpu = await acquireGpu();
const perSeqBlocks = Math.ceil((PROMPT + Math.max(maxTokens, decodeSteps) + 2) / 16);
const variants = args.variants?.split(',') ?? ['current'];
const loraDtypes = args['lora-dtype']!.split(',').map((d) => loraDtypeArg('--lora-dtype', d));
const loraDtype = loraDtypes[0];
/** A variant: `loraDtype=auto|f16|f32` (default `--lora-dtype`) and kernel-shape pairs (`parseVariant`), joined by `+`. */
function parseBackendVariant(spec: string): { loraDtype: LoraDtypeSetting; shape: Partial<LinearShape> } {
  const parts = spec.split('+');
  const dtype = parts.find((part) => part.startsWith('loraDtype='));
  const shape = parts.filter((part) => part !== dtype).join('+');
  return { loraDtype: dtype ? loraDtypeArg(`--variants ${spec}`, dtype.slice('loraDtype='.length)) : loraDtype, shape: shape ? parseVariant(shape) : {} };
}
function loraDtypeArg(flag: string, value: string): LoraDtypeSetting {
  if (!(LORA_DTYPE_SETTINGS as readonly string[]).includes(value)) throw new Error(`${flag}: lora dtype ${JSON.stringify(value)} is not one of ${LORA_DTYPE_SETTINGS.join(', ')}`);
  return value as LoraDtypeSetting;
}
/** The slots' dtype a setting gives on this model and device (as the WebGPU backend resolves it). */
const slotDtype = (setting: LoraDtypeSetting): LoraDtype => resolveLoraDtype({ setting, model, f16Slots: gpu.hasF16 });
const modules = moduleNames(config);
/** `--targets`: the decode adapters' modules. */
const targets = args.targets === 'all' ? modules : args.targets!.split(',').map((t) => oneOf('targets', t, modules));
const targetsLabel = targets.length === modules.length ? `all ${targets.length} projections` : targets.join(', ');
/** The rate a step bound by the bytes it reads keeps of base with `distinct` adapters in `dtype` slots (`lib/loraBytes.ts`). */
const readBound = (distinct: number, dtype: LoraDtype, baseBytes: number) => adapterReadShare({ config, rank, distinct, targets, dtype, baseBytes }).boundOfBase;
// ---- Adapter files: `distinctFiles` generated; names beyond reuse a file with a distinct adapter_config.json (another id).
const adapterFiles = namedAdapters({ preset, modelDir, distinct: distinctFiles });
const adapterRoot = adapterFiles.root(rank);
/** Directory of adapter name `index` (`set` keeps name sets apart): its own config, the weights of file index % distinctFiles. */
const named = (set: string, index: number, r = rank): Promise<string> => adapterFiles.named(set, index, r);
if (distinctFiles < 1000) scaled.push(`adapters: ${distinctFiles} weight files of rank ${rank} generated; names beyond reuse them (symlinked weights, own adapter_config.json → own content id, own disk reads)`);

const uploadVariants: LoraUploadMode[] = args.upload!.split(',').map((u) => oneOf('upload', u, LORA_UPLOAD_MODES));
/** How the loader thread hands slot images over (`CreatePeftLoaderParameters.sharedImages`): one loader each. */
const imageVariants = args.images!.split(',').map((m) => oneOf('images', m, ['shared', 'transfer'] as const));
/** Rank of the staging buffer a pool makes at start-up (`stagingPrefillRank`; 0: none), one pool each. */
const prefillVariants = args['staging-prefill']!.split(',').map((r) => (r === '0' ? 0 : positiveNumber('staging-prefill', r)));
const loaders = new Map(imageVariants.map((m) => [m, m === 'shared' ? loader : createPeftLoader({ sharedImages: false })]));
const loadRanks = args['load-ranks']!.split(',').map((r) => positiveNumber('load-ranks', r));
/** Section 3 (`lib/loraLoad.ts`): cold and warm load latency, per upload variant, interleaved. */
async function loadLatency() {
  const dtypes = [...new Set(loraDtypes.map(slotDtype))];
  const name = (dtype: string, upload: string, images: string, prefill: number) => [dtypes.length > 1 ? dtype : '', upload, imageVariants.length > 1 ? images : '', prefillVariants.length > 1 ? `prefill ${prefill}` : ''].filter(Boolean).join(' ');
  const pools = dtypes.flatMap((dtype) =>
    uploadVariants.flatMap((upload) =>
      imageVariants.flatMap((images) =>
        prefillVariants.map((prefill) => ({ name: name(dtype, upload, images, prefill), loader: loaders.get(images), pool: createGpuLoraSlotPool({ device: gpu.device, config, slots: 1, maxRank: 64, dtype, maxBindingBytes: gpu.limits.maxStorageBufferBindingSize, upload, stagingPrefillRank: prefill }) })),
      ),
    ),
  );
  await gpu.device.queue.onSubmittedWorkDone(); // the pools' start-up (zeroing their slots) is not a load's
  const loads = await measureLoadLatency({ device: gpu.device, config, loader, variants: pools, ranks: loadRanks, adapters: Math.max(2, loadSamples), warmSamples, warmAdapters, adapterDir: (k, r) => named('load', k, r), root: adapterFiles.root, log });
  for (const { pool } of pools) pool.destroy();
  scaled.push(`load latency: ${Math.max(2, loadSamples)} adapters per rank loaded cold, then ${warmSamples} warm loads${warmAdapters ? ` over the first ${Math.min(warmAdapters, Math.max(2, loadSamples))}` : ''}${pools.length > 1 ? ' per variant, interleaved' : ''}; files were just written, so "disk" reads come from the page cache`);
  return loads;
}
if (args.loads) {
  const loads = await loadLatency();
  const loadAverage = loadavg().map((x) => x.toFixed(2)).join(' ');
  process.stdout.write([`openlora LoRA load latency: ${preset} on ${gpu.summary.description}; ${[...new Set(loraDtypes.map(slotDtype))].join(' vs ')} slots (--lora-dtype ${loraDtypes.join(',')}) of rank 64, upload ${uploadVariants.join(' vs ')}, images ${imageVariants.join(' vs ')}, staging prefill rank ${prefillVariants.join(' vs ')}`, ...loadReportLines(loads, rank, loadAverage), ...scaled.map((x) => `   - ${x}`)].join('\n') + '\n');
  if (args.out) await writeFile(args.out, JSON.stringify({ model: preset, device: gpu.summary.description, rank, loadAverage, loads, scaled }, null, 2) + '\n');
  for (const l of loaders.values()) await l.close();
  await model.close();
  gpu.destroy();
  process.exit(0);
}
if (args.kernels) {
  await compareKernels();
  process.exit(0);
}
const makeBackend = (variant: string) => createWebGpuBackend({ model, gpu, numKvBlocks: (BATCH + 1) * perSeqBlocks + 8, maxRows: 512, maxContext: 256, loraSlots: slotCount, maxLoraRank: rank, ...parseBackendVariant(variant) });
const backend = await makeBackend(variants[0]);
log(`${preset} (${backend.dtype}, ${(backend.weightBytes / 2 ** 20).toFixed(0)} MiB) + ${slotCount} ${backend.lora.dtype} slots of rank ${rank} (${(backend.lora.bytesPerSlot / 2 ** 20).toFixed(2)} MiB each) on ${gpu.summary.description}`);

const randomWeights = (seed: number, r: number): LoraWeights => randomLoraWeights(config, seed, r, targets);
const decodeShape = { batch: BATCH, prompt: PROMPT, perSeqBlocks, steps: decodeSteps };
if (args.variants !== undefined) {
  await compareVariants();
  process.exit(0);
}

/** `--kernels`: one layer's LoRA kernels per projection and variant (`lib/loraKernels.ts`), batch-32 decode rows of 32 distinct adapters. */
async function compareKernels(): Promise<void> {
  const rounds = positiveNumber('rounds', args.rounds);
  const distinct = Math.min(BATCH, slotCount);
  const { figures, loadAverages } = await runLoraKernels({ gpu, config, variants: variants.map((name) => ({ name, ...parseBackendVariant(name), loraDtype: slotDtype(parseBackendVariant(name).loraDtype) })), rank, targets, rows: BATCH, distinct, rounds, reps: positiveNumber('reps', args.reps), log });
  const f = (n: number, d = 2) => n.toFixed(d);
  const first = (projection: string) => figures.find((g) => g.projection === projection)!;
  const lines = [
    `openlora LoRA kernels: ${preset} layer 0 on ${gpu.summary.description}; ${BATCH} decode rows, ${distinct} distinct rank-${rank} adapters on ${targetsLabel}, CPU ms per dispatch (${args.reps} in a pass, median of ${rounds} interleaved rounds), load average ${loadAverages.map((l) => f(l)).join(' ')}`,
    ...figures.map((g) => `${g.variant.padEnd(36)} ${g.projection.padEnd(22)} shrink ${f(g.shrinkMs)}  linear ${f(g.linearMs)}  base ${f(g.baseMs)}  expand ${f(g.linearMs - g.baseMs)}  (shrink + linear) / base ${f(g.ofBase)}x  linear ${f(first(g.projection).linearMs / g.linearMs)}x ${variants[0]}`),
  ];
  const sum = (v: string, k: 'shrinkMs' | 'linearMs' | 'baseMs') => figures.filter((g) => g.variant === v).reduce((a, g) => a + g[k], 0);
  for (const v of variants) lines.push(`${v.padEnd(36)} layer: base ${f(sum(v, 'baseMs'))}  with adapters ${f(sum(v, 'shrinkMs') + sum(v, 'linearMs'))} ms (${f((100 * sum(v, 'baseMs')) / (sum(v, 'shrinkMs') + sum(v, 'linearMs')), 0)}% of base rate; shrink ${f(sum(v, 'shrinkMs'))}, expand ${f(sum(v, 'linearMs') - sum(v, 'baseMs'))})`);
  process.stdout.write(lines.join('\n') + '\n');
  if (args.out) await writeFile(args.out, JSON.stringify({ model: preset, device: gpu.summary.description, rank, targets, rows: BATCH, distinct, rounds, loadAverages, figures }, null, 2) + '\n');
}

/** `--variants`: section 1 on one backend per variant, interleaved (see the file comment). */
async function compareVariants(): Promise<void> {
  const distincts = args.distinct!.split(',').map((d) => (d === '0' ? 0 : positiveNumber('distinct', d)));
  if (distincts[0] !== 0 || Math.max(...distincts) > slotCount) throw new Error(`--distinct ${args.distinct}: start with 0 (base only) and stay within --slots ${slotCount}`);
  const backends = [backend];
  for (const v of variants.slice(1)) backends.push(await makeBackend(v));
  const filled = Math.max(...distincts);
  log(`filling ${filled} slots of each of ${variants.length} backends with distinct random rank-${rank} adapters`);
  for (let s = 0; s < filled; s++) {
    const w = randomWeights(1000 + s, rank);
    for (const b of backends) await b.lora.load(s, w);
  }
  const rounds = positiveNumber('rounds', args.rounds);
  const { figures, loadAverages } = await compareLoraVariants({ backends, variants, distincts, rounds, shape: decodeShape, profile: args.profile!, log });
  const f = (n: number, d = 1) => (Number.isFinite(n) ? n.toFixed(d) : '-');
  const boundOf = (g: { variant: string; distinct: number }) => { const b = backends[variants.indexOf(g.variant)]; return readBound(g.distinct, b.lora.dtype, b.weightBytes); };
  const bound = (g: { variant: string; distinct: number }) => (g.distinct ? `  (bound by bytes read: ${f(boundOf(g) * 100, 0)}%)` : '');
  const kernels = (k?: Record<string, number>) => (k ? `; GPU ms/step ${Object.entries(k).map(([name, ms]) => `${name} ${f(ms)}`).join(', ')}` : '');
  const lines = [
    `openlora LoRA variants: ${preset} (${backend.dtype}) on ${gpu.summary.description}; batch ${BATCH} decode, rank ${rank} on ${targetsLabel}, ${rounds} interleaved rounds of ${decodeSteps} steps, load average ${loadAverages.map((l) => f(l, 2)).join(' ')}`,
    ...figures.map((g) => `${g.variant.padEnd(24)} ${String(g.distinct).padStart(2)} adapters ${f(g.tokensPerSecond).padStart(7)} tokens/s  ${f(g.ofBase * 100, 0).padStart(3)}% of base  ${f(g.overFirst, 2)}x ${variants[0]}  CPU ${f(g.cpuMsPerStep, 0)} ms/step (${f(g.cpuOfBase * 100, 0)}% of base, ${f(g.cpuOverFirst, 2)}x)  tokens ${g.sameTokens ? 'same' : 'DIFFER'}${bound(g)}${kernels(g.kernelsMs)}`),
  ];
  process.stdout.write(lines.join('\n') + '\n');
  if (args.out) await writeFile(args.out, JSON.stringify({ model: preset, device: gpu.summary.description, rank, targets, batch: BATCH, steps: decodeSteps, rounds, loadAverages, figures: figures.map((g) => ({ ...g, boundOfBase: boundOf(g) })) }, null, 2) + '\n');
  for (const b of backends) b.destroy();
}

// ---- 1. Decode throughput at batch 32 with 0, 1, 8, 32 distinct adapters.
async function decodeRate(distinct: number): Promise<{ distinct: number; stepMs: number; tokensPerSecond: number }> {
  const { stepMs: times } = await loraDecodeRun(backend, decodeShape, distinct);
  const stepMs = times.reduce((a, b) => a + b, 0) / times.length;
  return { distinct, stepMs, tokensPerSecond: (BATCH * 1000) / stepMs };
}
log(`1. filling ${Math.min(BATCH, slotCount)} slots with distinct random rank-${rank} adapters`);
for (let s = 0; s < Math.min(BATCH, slotCount); s++) await backend.lora.load(s, randomWeights(1000 + s, rank));
const decode = [];
for (const distinct of [0, 1, 8, 32].filter((d) => d <= slotCount)) {
  decode.push(await decodeRate(distinct));
  log(`   ${distinct} adapters: ${decode.at(-1)!.stepMs.toFixed(1)} ms/step`);
}
const baseRate = decode[0].tokensPerSecond;
const decodeBound = (distinct: number) => readBound(distinct, backend.lora.dtype, backend.weightBytes);

// ---- 2. Traffic over 10, 100, 1000 registered adapters.
const maxRunning = BATCH;
scaled.push(`traffic: ${requestCount} requests, prompt ${PROMPT}, ${maxTokens} new tokens, Poisson ${rate}/s, cap ${capMs / 1000} s per run, ${trafficSlots} GPU slots, host cache ${tiny ? 'default 2 GiB' : '40 adapters'}`);
/** The first `trafficSlots` slots of the pool: the slot manager then evicts and reloads as a node with that many slots would. */
const trafficPool = { ...backend.lora, slots: trafficSlots };
const traffic: Array<TrafficResult & { adapters: number; slotHitRate: number; hostHitRate: number; loads: number; evictions: number; registered: number }> = [];
let trace100: ReturnType<typeof makeTrace> = [];
for (const count of [10, 100, 1000]) {
  const trace = makeTrace({ count: requestCount, adapters: count, ratePerSecond: rate, promptLen: PROMPT, maxTokens, vocab: config.vocabSize, seed: 7 });
  if (count === 100) trace100 = trace;
  const store = createAdapterStore({ dir: adapterRoot, config, maxRank: rank, loader });
  const adapterIds: string[] = [];
  const used = new Set(trace.map((r) => r.adapter));
  for (let k = 0; k < count; k++) adapterIds.push(used.has(k) ? (await store.register({ path: await named('names', k), name: `a${k}` })).id : '');
  const bytes = store.list()[0]?.bytes ?? 0;
  const hostCache = createHostCache({ budgetBytes: tiny ? undefined : 40 * bytes, load: (id, signal) => store.load(id, signal) });
  const slots = createSlotManager({ pool: trafficPool, store, hostCache });
  log(`2. ${count} adapters (${used.size} named by the trace, registered)`);
  const r = await serveUnmerged({ backend, store, hostCache, slots, adapterIds, trace, capMs, maxRunning });
  const st = slots.stats();
  slots.stop();
  traffic.push({ adapters: count, registered: used.size, ...r, slotHitRate: st.hits / Math.max(1, st.hits + st.misses), hostHitRate: st.host.hits / Math.max(1, st.host.hits + st.host.misses), loads: st.loads, evictions: st.evictions });
  log(`   ${r.tokensPerSecond.toFixed(1)} tokens/s, ${r.completed}/${r.requests} done${r.capped ? ' (capped)' : ''}`);
}
if (requestCount < 1000) scaled.push(`registered: only the adapters the trace names are registered (registration reads every file); the rest of the 10/100/1000 would never be touched`);

// ---- 3. Load latency.
const loads = await loadLatency();

// ---- 4. Memory.
const memory = [1, 8, 32, 100, 1000].map((n) => ({ adapters: n, unmergedBytes: backend.weightBytes + n * backend.lora.bytesPerSlot, mergedCopiesBytes: n * backend.weightBytes }));

// ---- 5. Merge-on-switch baseline on the 100-adapter trace.
log('5. merge-on-switch baseline (100 adapters)');
const baselineStore = createAdapterStore({ dir: adapterRoot, config, maxRank: rank, loader });
const parsed = new Map<number, LoraWeights>();
const baseline: MergeResult = await serveMergeOnSwitch({
  backend,
  weights: model.weights,
  adapter: async (k) => {
    let w = parsed.get(k);
    if (!w) {
      const entry = await baselineStore.register({ path: await named('names', k), name: `a${k}` });
      w = (await baselineStore.load(entry.id)).weights;
      parsed.set(k, w);
    }
    return w;
  },
  trace: trace100,
  capMs,
  maxRunning,
});
log(`   ${baseline.tokensPerSecond.toFixed(1)} tokens/s, ${baseline.switches} switches of ${baseline.switchMs.toFixed(0)} ms`);
backend.destroy();
for (const l of loaders.values()) await l.close();
await model.close();
gpu.destroy();

// ---- Report.
const t100 = traffic.find((t) => t.adapters === 100)!;
const r32 = decode.find((d) => d.distinct === 32);
const t10 = traffic.find((t) => t.adapters === 10)!;
const t1000 = traffic.find((t) => t.adapters === 1000)!;
const cold16 = loads.find((l) => l.rank === 16 && l.variant === uploadVariants[0]) ?? { cold: { p99: Number.NaN }, warm: { p99: Number.NaN } };
const goals = [
  { goal: '32 distinct adapters keep >= 85% of base-only decode throughput', value: r32 ? r32.tokensPerSecond / baseRate : Number.NaN, met: r32 ? r32.tokensPerSecond / baseRate >= 0.85 : false, bound: decodeBound(32) },
  { goal: '10 -> 1000 adapters loses <= 10% throughput', value: 1 - t1000.tokensPerSecond / t10.tokensPerSecond, met: t1000.tokensPerSecond >= 0.9 * t10.tokensPerSecond },
  { goal: 'cold load of a rank-16 adapter p99 < 100 ms', value: cold16.cold.p99, met: cold16.cold.p99 < 100 },
  { goal: 'warm load (host -> GPU) of a rank-16 adapter p99 < 10 ms', value: cold16.warm.p99, met: cold16.warm.p99 < 10 },
  { goal: '>= 3x the merge-on-switch baseline at 100 adapters', value: t100.tokensPerSecond / baseline.tokensPerSecond, met: t100.tokensPerSecond >= 3 * baseline.tokensPerSecond },
];
const loadAverage = loadavg().map((x) => x.toFixed(2)).join(' ');
const result = { loadAverage, model: preset, targets, trafficSlots, dtype: backend.dtype, device: gpu.summary.description, rank, slots: slotCount, bytesPerSlot: backend.lora.bytesPerSlot, weightBytes: backend.weightBytes, decode, traffic, loads, memory, baseline, goals, scaled, wallSeconds: (performance.now() - started) / 1000 };

const f = (n: number, d = 1) => (Number.isFinite(n) ? n.toFixed(d) : '-');
const mib = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
const lines = [
  `openlora LoRA benchmark: ${preset} (${backend.dtype}) on ${result.device}; rank ${rank} on ${targetsLabel}, ${slotCount} slots`,
  `1. decode, batch ${BATCH}`,
  ...decode.map((d) => `   ${String(d.distinct).padStart(2)} adapters   ${f(d.tokensPerSecond).padStart(8)} tokens/s  ${f(d.stepMs).padStart(7)} ms/step  ${f((d.tokensPerSecond / baseRate) * 100, 0)}% of base${d.distinct ? `  (bound by bytes read: ${f(decodeBound(d.distinct) * 100, 0)}%)` : ''}`),
  `2. traffic (Zipf 1, Poisson ${rate}/s)   tokens/s  TTFT p50/p99 ms   TPOT p50/p99 ms  slot hit  host hit  loads`,
  ...traffic.map((t) => `   ${String(t.adapters).padStart(4)} adapters       ${f(t.tokensPerSecond).padStart(8)}  ${f(t.ttftMs.p50, 0).padStart(7)} / ${f(t.ttftMs.p99, 0).padEnd(6)}  ${f(t.tpotMs.p50, 0).padStart(6)} / ${f(t.tpotMs.p99, 0).padEnd(6)}  ${f(t.slotHitRate * 100, 0).padStart(6)}%  ${f(t.hostHitRate * 100, 0).padStart(6)}%  ${t.loads}${t.capped ? '  (capped)' : ''}`),
  ...loadReportLines(loads, rank, loadAverage),
  `4. memory                 base + N slots     N merged copies`,
  ...memory.map((m) => `   ${String(m.adapters).padStart(4)} adapters       ${mib(m.unmergedBytes).padStart(10)}         ${mib(m.mergedCopiesBytes).padStart(10)}`),
  `5. merge-on-switch, 100 adapters: ${f(baseline.tokensPerSecond)} tokens/s (${baseline.switches} switches, ${f(baseline.switchMs, 0)} ms each: CPU merge + upload; TTFT p50 ${f(baseline.ttftMs.p50, 0)} ms${baseline.capped ? ', capped' : ''}) vs unmerged ${f(t100.tokensPerSecond)} tokens/s = ${f(t100.tokensPerSecond / baseline.tokensPerSecond, 2)}x`,
  `goals:`,
  ...goals.map((g) => `   [${g.met ? 'met' : 'NOT met'}] ${g.goal}: ${f(g.value, 2)}${'bound' in g ? ` (a step bound by the bytes it reads keeps at most ${f(g.bound!, 2)})` : ''}`),
  `scaled down for this machine:`,
  ...scaled.map((s) => `   - ${s}`),
  `wall ${f(result.wallSeconds, 0)} s`,
];
process.stdout.write(lines.join('\n') + '\n');
if (args.out) await writeFile(args.out, JSON.stringify(result, null, 2) + '\n');
