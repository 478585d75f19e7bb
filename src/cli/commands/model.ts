import { Command, InvalidArgumentError, Option } from 'commander';
import { createModel, type CreateDtype } from '../../model/create.ts';
import { loadModel } from '../../model/load.ts';
import { isTinyPreset, MODEL_PRESETS } from '../../model/presets.ts';
import { QUANTIZE_TYPES, type QuantizeType } from '../../model/quant/formats.ts';

function parseSeed(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0 || n > 0xffffffff) throw new InvalidArgumentError('expected an integer in [0, 4294967295].');
  return n;
}

/** `openlora model create|info`: generate deterministic models, inspect model directories. */
export function registerModel(program: Command): void {
  const model = new Command('model').description('generate and inspect models (Hugging Face layout)');
  model
    .command('create')
    .description('write a deterministically generated model (config.json, model.safetensors, tokenizer) to --out')
    .addOption(new Option('--preset <name>', 'model shape').choices([...MODEL_PRESETS]).makeOptionMandatory())
    .option('--seed <n>', 'random seed (same seed, same bytes)', parseSeed, 0)
    .addOption(new Option('--dtype <dtype>', 'weight dtype on disk (default: f32 for the tiny presets, else f16)').choices(['f32', 'f16', 'bf16']))
    .addOption(new Option('--format <format>', 'safetensors (Hugging Face layout) or gguf (one model.gguf that llama.cpp runs)').choices(['safetensors', 'gguf']).default('safetensors'))
    .addOption(new Option('--quantize <type>', 'GGUF only: weight matrices in this ggml format').choices([...QUANTIZE_TYPES]))
    .requiredOption('--out <dir>', 'output directory')
    .option('--json', 'print the result as JSON')
    .action(async (options: { preset: string; seed: number; dtype?: CreateDtype; format: 'safetensors' | 'gguf'; quantize?: QuantizeType; out: string; json?: boolean }) => {
      const started = Date.now();
      let lastReport = 0;
      const large = !isTinyPreset(options.preset);
      const result = await createModel({
        preset: options.preset,
        seed: options.seed,
        dtype: options.dtype,
        format: options.format,
        quantize: options.quantize,
        out: options.out,
        onProgress: (written, total) => {
          const now = Date.now();
          if (!large || (now - lastReport < 1000 && written < total)) return;
          lastReport = now;
          process.stderr.write(`model create: ${(written / 2 ** 20).toFixed(0)} / ${(total / 2 ** 20).toFixed(0)} MiB (${((100 * written) / total).toFixed(0)}%)\n`);
        },
      });
      const seconds = (Date.now() - started) / 1000;
      if (options.json) process.stdout.write(JSON.stringify({ ...result, seconds }) + '\n');
      else process.stdout.write(`wrote ${result.preset} (${result.parameters.toLocaleString('en-US')} parameters, ${options.quantize ?? result.dtype}) to ${result.gguf ?? result.dir} in ${seconds.toFixed(1)} s\n`);
    });
  model
    .command('info')
    .description('load and validate a model (directory or .gguf file); print its config')
    .argument('<dir>', 'model directory or .gguf file')
    .option('--json', 'print as JSON')
    .action(async (dir: string, options: { json?: boolean }) => {
      const loaded = await loadModel({ dir });
      try {
        const info = {
          dir,
          config: loaded.config,
          dtype: loaded.dtype,
          ...(loaded.gguf ? { gguf: loaded.gguf } : {}),
          tensors: loaded.weights.names().length,
          tokenizer: loaded.tokenizer ? { size: loaded.tokenizer.size } : null,
          chatTemplate: loaded.chatTemplate !== undefined,
          generation: loaded.generation,
        };
        process.stdout.write(options.json ? JSON.stringify(info) + '\n' : JSON.stringify(info, null, 2) + '\n');
      } finally {
        await loaded.close();
      }
    });
  program.addCommand(model);
}
