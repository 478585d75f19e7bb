import { BACKEND_CHOICES, resolveBackend, type BackendChoice } from '../../engine/chooseBackend.ts';
import { createCpuBackend } from '../../engine/cpu/backend.ts';
import { QUANTIZE_TYPES, type QuantizeType } from '../../model/quant/formats.ts';
import { readFile } from 'node:fs/promises';
import { Command, InvalidArgumentError, Option } from 'commander';
import { BaseError } from '../../errors.ts';
import type { Backend, SamplingParams } from '../../engine/backend.ts';
import { EngineContextExceededError, EngineTokenOutOfRangeError } from '../../engine/errors.ts';
import { generate } from '../../engine/generate.ts';
import { createReferenceBackend } from '../../engine/reference/backend.ts';
import { createWebGpuBackend, WEBGPU_DEFAULTS } from '../../engine/webgpu/backend.ts';
import { KV_BLOCK_SIZE } from '../../engine/backend.ts';
import { loadPeftAdapter } from '../../lora/peft.ts';
import { DEFAULT_LORA_DTYPE, LORA_DTYPE_SETTINGS, type LoraDtypeSetting } from '../../lora/dtype.ts';
import { loadModel, type LoadedModel } from '../../model/load.ts';
import { createBackend } from '../../node/backend.ts';
import { parseBatchFile, runBatch, type BatchResult } from '../../serving/batch.ts';
import { writeModelText } from '../terminal.ts';

/** The prompt flags are missing, both given, or need a tokenizer the model lacks. */
export class CliPromptError extends BaseError {
  override name = 'CliPromptError' as const;
  constructor(problem: string, hint: string) {
    super('OPENLORA_CLI_PROMPT', problem, { hint });
  }
}

interface GenerateOptions {
  model: string;
  prompt?: string;
  promptIds?: number[];
  maxTokens?: number;
  temperature?: number;
  topK?: number;
  topP?: number;
  seed: number;
  backend: BackendChoice;
  dtype?: 'f16' | 'f32' | 'bf16';
  quantize?: QuantizeType;
  chat?: boolean;
  json?: boolean;
  adapter?: string;
  loraDtype: LoraDtypeSetting;
  batch?: string;
}

function parseIds(value: string): number[] {
  const ids = value.split(',').map((s) => Number(s.trim()));
  if (!ids.length || ids.some((n) => !Number.isSafeInteger(n) || n < 0)) throw new InvalidArgumentError('expected comma-separated non-negative integers, e.g. 1,2,3.');
  return ids;
}

function parseNumber(kind: 'int' | 'float') {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isFinite(n) || (kind === 'int' && !Number.isSafeInteger(n))) throw new InvalidArgumentError(`expected ${kind === 'int' ? 'an integer' : 'a number'}.`);
    return n;
  };
}

function promptTokens(model: LoadedModel, o: GenerateOptions): number[] {
  if ((o.prompt === undefined) === (o.promptIds === undefined)) {
    throw new CliPromptError('Give exactly one of --prompt and --prompt-ids.', 'Example: openlora generate --model DIR --prompt "Hello"');
  }
  if (o.promptIds) {
    for (const t of o.promptIds) if (t >= model.config.vocabSize) throw new EngineTokenOutOfRangeError(t, model.config.vocabSize);
    return o.promptIds;
  }
  if (!model.tokenizer) throw new CliPromptError(`The model in ${model.dir} has no tokenizer.json, so --prompt TEXT cannot be encoded.`, 'Pass token ids with --prompt-ids 1,2,3.');
  if (o.chat) {
    if (!model.chatTemplate) throw new CliPromptError(`The model in ${model.dir} has no chat template.`, 'Drop --chat, or add chat_template to tokenizer_config.json.');
    const text = model.chatTemplate.render({ messages: [{ role: 'user', content: o.prompt! }], addGenerationPrompt: true });
    return model.tokenizer.encode(text, { addSpecialTokens: false });
  }
  return model.tokenizer.encode(o.prompt!, { addSpecialTokens: true });
}

/** `--batch FILE.jsonl`: every line through one scheduler; one output line per request, in input order. */
async function generateBatch(model: LoadedModel, o: GenerateOptions): Promise<void> {
  if (o.prompt !== undefined || o.promptIds !== undefined) throw new CliPromptError('--batch takes its prompts from the file; drop --prompt/--prompt-ids.', 'Put "prompt" or "promptIds" on each line of the batch file.');
  const requests = parseBatchFile(await readFile(o.batch!, 'utf8'), o.batch!);
  const gen = model.generation;
  const print = (r: BatchResult) => {
    if (o.json) return void process.stdout.write(JSON.stringify({ ...r, text: model.tokenizer?.decode(r.tokens) }) + '\n');
    const body = r.error ? `error [${r.error.code}]: ${r.error.message}` : model.tokenizer ? JSON.stringify(model.tokenizer.decode(r.tokens)) : r.tokens.join(' ');
    process.stdout.write(`${r.id}\t${body}\n`);
  };
  const run = await runBatch({
    model,
    requests,
    defaults: { maxTokens: o.maxTokens ?? gen.maxNewTokens ?? 64, temperature: o.temperature ?? gen.temperature ?? 0, topK: o.topK ?? gen.topK ?? 0, topP: o.topP ?? gen.topP ?? 1, seed: o.seed, adapter: o.adapter ?? null },
    createBackend: async ({ loraSlots, maxLoraRank }) => {
      const longest = Math.max(...requests.map((r) => (r.promptIds?.length ?? 256) + (r.maxTokens ?? 64)));
      const numKvBlocks = Math.max(Math.ceil(longest / KV_BLOCK_SIZE) + 1, Math.min(1024, requests.length * Math.ceil(longest / KV_BLOCK_SIZE)));
      return createBackend({ model, kind: o.backend, numKvBlocks, loraSlots, maxLoraRank, loraDtype: o.loraDtype });
    },
    onResult: print,
  });
  const tokens = run.results.reduce((n, r) => n + r.tokens.length, 0);
  const failed = run.results.filter((r) => r.error).length;
  process.stderr.write(
    `${run.results.length} requests (${failed} failed), ${tokens} tokens in ${run.scheduler.steps} steps, ${(run.totalMs / 1000).toFixed(2)} s: ` +
      `${((tokens / run.totalMs) * 1000).toFixed(1)} tokens/s; ${run.adapters.loads} adapter loads into ${run.backend.loraSlots} slots (${run.backend.kind}, ${run.backend.dtype})\n`,
  );
  if (failed) process.exitCode = 1;
}

/** `openlora generate`: prefill + decode one prompt (or a batch file) on the WebGPU engine (or the CPU reference). */
export function registerGenerate(program: Command): void {
  const command = new Command('generate')
    .description('generate tokens for one prompt; streams text (or ids) as tokens come')
    .requiredOption('--model <dir>', 'model directory (Hugging Face layout) or GGUF file')
    .option('--prompt <text>', 'prompt text (needs tokenizer.json)')
    .option('--prompt-ids <ids>', 'prompt token ids, comma-separated', parseIds)
    .option('--max-tokens <n>', 'tokens to generate at most (default: generation_config max_new_tokens, else 64)', parseNumber('int'))
    .option('--temperature <t>', '0 = greedy (default: generation_config, else 0)', parseNumber('float'))
    .option('--top-k <k>', 'keep the k most likely tokens; 0 = off', parseNumber('int'))
    .option('--top-p <p>', 'nucleus mass in (0, 1]; 1 = off', parseNumber('float'))
    .option('--seed <s>', 'sampling seed', parseNumber('int'), 0)
    .addOption(new Option('--backend <name>', 'engine: auto (WebGPU on a hardware adapter, else the CPU backend), webgpu, cpu, reference (the plain TypeScript oracle)').choices([...BACKEND_CHOICES]).default('auto'))
    .addOption(new Option('--dtype <dtype>', 'weight dtype on the device (default: the checkpoint\'s)').choices(['f16', 'f32', 'bf16']))
    .addOption(new Option('--quantize <type>', 'quantize the weight matrices at load (ggml formats)').choices([...QUANTIZE_TYPES]))
    .option('--chat', 'apply the model\'s chat template to the prompt (one user message)')
    .option('--json', 'print one JSON object: tokens, logprobs, text, promptTokens, timings in ms (loadMs: weights and buffers; warmupMs: kernel compilation (compileMs) and a first pass, during load; prefillMs; decodeMs; ...) (--batch: one per request)')
    .option('--adapter <dir>', 'LoRA adapter directory (PEFT layout) to run with; with --batch, the default for lines without "adapter"')
    .addOption(new Option('--lora-dtype <dtype>', 'dtype adapter factors are held in (lora.dtype): auto (the base model\'s: f16 on a 16-bit or quantized model, else f32), f32 as loaded, or f16 (half the words the LoRA kernels read; rounded alike on every backend)').choices([...LORA_DTYPE_SETTINGS]).default(DEFAULT_LORA_DTYPE))
    .option('--batch <file>', 'JSONL requests {"id", "promptIds" | "prompt", "adapter": DIR | null, "maxTokens", "temperature", "seed"}, run together through the scheduler')
    .action(async (o: GenerateOptions) => {
      const model = await loadModel({ dir: o.model, dtype: o.dtype, quantize: o.quantize });
      let backend: Backend | undefined;
      try {
        if (o.batch !== undefined) return await generateBatch(model, o);
        const prompt = promptTokens(model, o);
        const gen = model.generation;
        const maxTokens = o.maxTokens ?? gen.maxNewTokens ?? 64;
        const sampling: SamplingParams = { temperature: o.temperature ?? gen.temperature ?? 0, topK: o.topK ?? gen.topK ?? 0, topP: o.topP ?? gen.topP ?? 1, seed: o.seed };
        const length = prompt.length + Math.max(0, maxTokens - 1);
        if (length > model.config.maxPositionEmbeddings) throw new EngineContextExceededError(length, model.config.maxPositionEmbeddings);
        const numKvBlocks = Math.ceil(length / KV_BLOCK_SIZE);
        const created = performance.now();
        const adapter = o.adapter === undefined ? undefined : await loadPeftAdapter({ dir: o.adapter, config: model.config });
        const lora = { loraSlots: adapter ? 1 : 0, maxLoraRank: adapter?.meta.rank ?? 1, loraDtype: o.loraDtype };
        // The WebGPU warm-up (kernel compilation, then a first pass) happens during load: reported apart from it and from prefill.
        let compileMs = 0;
        let warmupMs = 0;
        const { kind } = await resolveBackend(o.backend);
        if (kind === 'cpu') backend = await createCpuBackend({ model, numKvBlocks, ...lora });
        else if (kind === 'reference') backend = await createReferenceBackend({ model, numKvBlocks, ...lora });
        else {
          // One pass holds the prompt: kernels are compiled for row tiles up to its length only.
          const webgpu = await createWebGpuBackend({ model, numKvBlocks, maxContext: numKvBlocks * KV_BLOCK_SIZE, maxRows: Math.min(prompt.length, WEBGPU_DEFAULTS.maxRows), ...lora });
          compileMs = webgpu.startup.warmup.ms;
          warmupMs = compileMs + webgpu.startup.firstPassMs;
          backend = webgpu;
        }
        if (adapter) await backend.lora.load(0, adapter.weights);
        const loadMs = performance.now() - created - warmupMs;
        const tokenizer = model.tokenizer;
        let printed = '';
        const ids: number[] = [];
        const result = await generate({
          backend,
          promptTokens: prompt,
          maxTokens,
          sampling,
          adapterSlot: adapter ? 0 : -1,
          eosTokenIds: model.generation.eosTokenIds,
          onToken: (token) => {
            if (o.json) return;
            ids.push(token);
            if (!tokenizer) return void process.stdout.write(`${ids.length > 1 ? ' ' : ''}${token}`);
            const text = tokenizer.decode(ids);
            if (text.startsWith(printed) && !text.endsWith('\uFFFD')) {
              writeModelText(process.stdout, text.slice(printed.length));
              printed = text;
            }
          },
        });
        if (o.json) {
          const text = tokenizer?.decode(result.tokens);
          process.stdout.write(JSON.stringify({ ...result, text, adapter: adapter?.meta.id ?? null, backend: backend.kind, dtype: backend.dtype, loraDtype: backend.lora.dtype, timings: { ...result.timings, loadMs, compileMs, warmupMs } }) + '\n');
        } else {
          if (tokenizer) {
            const text = tokenizer.decode(result.tokens);
            if (text.startsWith(printed)) writeModelText(process.stdout, text.slice(printed.length));
          }
          process.stdout.write('\n');
          const t = result.timings;
          process.stderr.write(
            `${result.tokens.length} tokens (${result.finishReason}); prompt ${result.promptTokens} tokens; ` +
              `first token ${t.timeToFirstTokenMs.toFixed(0)} ms, decode ${t.decodeTokensPerSecond.toFixed(1)} tokens/s (${backend.kind}, ${backend.dtype}${adapter ? `, adapter in ${backend.lora.dtype}` : ''}); ` +
              `load ${loadMs.toFixed(0)} ms${warmupMs ? ` + warm-up ${warmupMs.toFixed(0)} ms (kernels ${compileMs.toFixed(0)} ms)` : ''}\n`,
          );
        }
      } finally {
        backend?.destroy();
        await model.close();
      }
    });
  program.addCommand(command);
}
