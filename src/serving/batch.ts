/**
 * Offline batch generation (`openlora generate --batch FILE.jsonl`): every request goes through
 * one continuous-batching scheduler at once, adapters loaded through the node's tiers (disk store →
 * host cache → device slots), so requests of different adapters share the same engine steps.
 */
import { resolve } from 'node:path';
import type { Backend } from '../engine/backend.ts';
import { EngineTokenOutOfRangeError } from '../engine/errors.ts';
import { isBaseError } from '../errors.ts';
import type { LoadedModel } from '../model/load.ts';
import { createHostCache } from '../lora/hostCache.ts';
import { createSlotManager, type SlotManagerStats } from '../lora/slots.ts';
import { createAdapterStore } from '../lora/store.ts';
import { createScheduler } from '../scheduler/scheduler.ts';
import type { FinishReason, SchedulerStats } from '../scheduler/types.ts';
import { ServingBatchInvalidError } from './errors.ts';

/** Device adapter slots at most for a batch (more distinct adapters take turns). */
export const BATCH_MAX_LORA_SLOTS = 16;

/** One line of a batch file. */
export interface BatchRequest {
  id: string;
  promptIds?: number[];
  prompt?: string;
  /** Adapter directory; null = base model; absent = the batch's default adapter. */
  adapter?: string | null;
  maxTokens?: number;
  temperature?: number;
  topK?: number;
  topP?: number;
  seed?: number;
}

/** What one request produced (`error` instead when it failed). */
export interface BatchResult {
  id: string;
  adapter: string | null;
  promptTokens: number;
  tokens: number[];
  /** log p(token) under the model (temperature 1), per generated token. */
  logprobs: number[];
  /** `eos`: stopped at an end-of-sequence token (included in `tokens`). */
  finishReason: 'eos' | Exclude<FinishReason, 'stop'> | 'error';
  /** Milliseconds from submission: to the first token, to the end. */
  timings: { firstTokenMs: number | null; totalMs: number };
  error?: { code: string; message: string };
}

const KEYS = new Set(['id', 'promptIds', 'prompt', 'adapter', 'maxTokens', 'temperature', 'topK', 'topP', 'seed']);

/** Parses a JSONL batch file (blank lines skipped); throws {@link ServingBatchInvalidError} with the line number. */
export function parseBatchFile(text: string, file: string): BatchRequest[] {
  const out: BatchRequest[] = [];
  const ids = new Set<string>();
  text.split('\n').forEach((raw, i) => {
    const line = i + 1;
    if (raw.trim() === '') return;
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch (error) {
      throw new ServingBatchInvalidError(file, line, `not JSON (${(error as Error).message})`);
    }
    if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new ServingBatchInvalidError(file, line, 'expected a JSON object');
    const o = json as Record<string, unknown>;
    for (const key of Object.keys(o)) if (!KEYS.has(key)) throw new ServingBatchInvalidError(file, line, `unknown field "${key}"`);
    const id = o.id === undefined ? `line-${line}` : o.id;
    if (typeof id !== 'string' && typeof id !== 'number') throw new ServingBatchInvalidError(file, line, '"id" must be a string or number');
    const key = String(id);
    if (ids.has(key)) throw new ServingBatchInvalidError(file, line, `duplicate id ${JSON.stringify(key)}`);
    ids.add(key);
    if ((o.prompt === undefined) === (o.promptIds === undefined)) throw new ServingBatchInvalidError(file, line, 'give exactly one of "prompt" and "promptIds"');
    if (o.prompt !== undefined && typeof o.prompt !== 'string') throw new ServingBatchInvalidError(file, line, '"prompt" must be a string');
    if (o.promptIds !== undefined && (!Array.isArray(o.promptIds) || o.promptIds.length === 0 || o.promptIds.some((t) => !Number.isSafeInteger(t) || t < 0))) {
      throw new ServingBatchInvalidError(file, line, '"promptIds" must be a non-empty array of non-negative integers');
    }
    if (o.adapter !== undefined && o.adapter !== null && typeof o.adapter !== 'string') throw new ServingBatchInvalidError(file, line, '"adapter" must be a directory or null');
    const numbers: Array<[string, boolean]> = [['maxTokens', true], ['temperature', false], ['topK', true], ['topP', false], ['seed', true]];
    for (const [name, integer] of numbers) {
      const v = o[name];
      if (v !== undefined && (typeof v !== 'number' || !Number.isFinite(v) || (integer && !Number.isSafeInteger(v)))) throw new ServingBatchInvalidError(file, line, `"${name}" must be ${integer ? 'an integer' : 'a number'}`);
    }
    out.push({ ...(o as Omit<BatchRequest, 'id'>), id: key });
  });
  return out;
}

/** Parameters of {@link runBatch}. */
export interface RunBatchParameters {
  model: LoadedModel;
  requests: readonly BatchRequest[];
  /** Creates the engine once the slot count and rank the batch needs are known. */
  createBackend: (p: { loraSlots: number; maxLoraRank: number }) => Promise<{ backend: Backend; maxContext: number }>;
  /** Values for fields a line leaves out. */
  defaults: { maxTokens: number; temperature: number; topK: number; topP: number; seed: number; adapter: string | null };
  /** Called per result in input order, as soon as it and all before it are done. */
  onResult?: (result: BatchResult) => void;
  signal?: AbortSignal;
}

/** What {@link runBatch} returns. */
export interface RunBatchReturnType {
  results: BatchResult[];
  scheduler: SchedulerStats;
  adapters: SlotManagerStats;
  backend: { kind: Backend['kind']; dtype: Backend['dtype']; loraSlots: number };
  totalMs: number;
}

/** Runs every request of the batch through one scheduler; requests fail one by one (an `error` result), the batch does not. */
export async function runBatch(p: RunBatchParameters): Promise<RunBatchReturnType> {
  const { model, defaults } = p;
  const adapterOf = (r: BatchRequest): string | null => {
    const dir = r.adapter === undefined ? defaults.adapter : r.adapter;
    return dir === null ? null : resolve(dir);
  };
  const store = createAdapterStore({ dir: resolve('.'), config: model.config }) // registered by path, never scanned;
  const dirs = [...new Set(p.requests.map(adapterOf).filter((d): d is string => d !== null))];
  const entries = new Map<string, { id: string; rank: number }>();
  for (const dir of dirs) entries.set(dir, await store.register({ path: dir, name: dir, signal: p.signal })); // fails fast on a bad adapter
  const maxLoraRank = Math.max(1, ...[...entries.values()].map((e) => e.rank));
  const { backend, maxContext } = await p.createBackend({ loraSlots: Math.min(Math.max(dirs.length, 1), BATCH_MAX_LORA_SLOTS), maxLoraRank });
  const slots = createSlotManager({ pool: backend.lora, store, hostCache: createHostCache({ load: (id, signal) => store.load(id, signal) }) });
  const scheduler = createScheduler({ maxContext }, { backend, adapters: slots });
  const eos = new Set(model.generation.eosTokenIds);
  const started = performance.now();
  const results: Array<BatchResult | undefined> = p.requests.map(() => undefined);
  let printed = 0;
  const flush = () => {
    while (printed < results.length && results[printed]) p.onResult?.(results[printed++]!);
  };
  try {
    await Promise.all(
      p.requests.map(async (r, i) => {
        const adapter = adapterOf(r);
        const result: BatchResult = { id: r.id, adapter, promptTokens: 0, tokens: [], logprobs: [], finishReason: 'length', timings: { firstTokenMs: null, totalMs: 0 } };
        const t0 = performance.now();
        try {
          const promptIds = r.promptIds ?? encode(model, r.prompt!);
          result.promptTokens = promptIds.length;
          // Checked here: a bad id reaching the engine would fail every request of its step.
          for (const t of promptIds) if (t >= model.config.vocabSize) throw new EngineTokenOutOfRangeError(t, model.config.vocabSize);
          // eos ends a request here but stays in its tokens (like `generate`): stop it by cancelling.
          const controller = new AbortController();
          const stream = scheduler.submit({
            id: r.id,
            promptIds,
            maxTokens: r.maxTokens ?? defaults.maxTokens,
            sampling: { temperature: r.temperature ?? defaults.temperature, topK: r.topK ?? defaults.topK, topP: r.topP ?? defaults.topP, seed: r.seed ?? defaults.seed },
            adapterId: adapter === null ? null : entries.get(adapter)!.id,
            signal: controller.signal,
          });
          for await (const event of stream) {
            if (event.type === 'token') {
              result.timings.firstTokenMs ??= performance.now() - t0;
              result.tokens.push(event.token);
              result.logprobs.push(event.logprob);
              if (eos.has(event.token)) {
                result.finishReason = 'eos';
                controller.abort();
              }
            } else if (result.finishReason !== 'eos') {
              result.finishReason = event.finishReason === 'stop' ? 'eos' : event.finishReason;
            }
          }
        } catch (error) {
          result.finishReason = 'error';
          result.error = isBaseError(error) ? { code: error.code, message: error.message } : { code: 'OPENLORA_UNEXPECTED', message: String((error as Error)?.message ?? error) };
        }
        result.timings.totalMs = performance.now() - t0;
        results[i] = result;
        flush();
      }),
    );
  } finally {
    await scheduler.stop();
    slots.stop();
    backend.destroy();
  }
  return {
    results: results as BatchResult[],
    scheduler: scheduler.stats(),
    adapters: slots.stats(),
    backend: { kind: backend.kind, dtype: backend.dtype, loraSlots: backend.lora.slots },
    totalMs: performance.now() - started,
  };
}

function encode(model: LoadedModel, text: string): number[] {
  if (!model.tokenizer) throw new ServingBatchInvalidError('batch', 0, `the model in ${model.dir} has no tokenizer.json, so "prompt" text cannot be encoded; use "promptIds"`);
  return model.tokenizer.encode(text, { addSpecialTokens: true });
}
