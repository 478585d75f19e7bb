import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { parseModelConfig } from '../../model/parseConfig.ts';
import { createAdapter } from '../../lora/create.ts';
import { loadPeftAdapter } from '../../lora/peft.ts';
import { ADAPTER_CONFIG_FILE } from '../../lora/id.ts';
import { MAX_LORA_RANK, parsePeftConfig } from '../../lora/peftConfig.ts';
import { ModelConfigInvalidError } from '../../model/errors.ts';
import { otherBaseModel } from '../../lora/baseModel.ts';
import { LoraConfigInvalidError } from '../../lora/errors.ts';

/**
 * The model directory an adapter's `base_model_name_or_path` names: that path from the current
 * directory, else from the adapter's directory and each parent (`dev/adapters/poet` -> `dev/model`).
 */
function baseModelDir(adapterDir: string, baseModel: string | undefined): string | undefined {
  if (!baseModel) return undefined;
  const candidates = [resolve(baseModel)];
  for (let d = resolve(adapterDir); ; d = dirname(d)) {
    candidates.push(join(d, baseModel));
    if (dirname(d) === d) break;
  }
  return candidates.find((c) => existsSync(join(c, 'config.json')));
}

function parseInteger(min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isSafeInteger(n) || n < min || n > max) throw new InvalidArgumentError(`expected an integer in [${min}, ${max}].`);
    return n;
  };
}

function parsePositive(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a positive number.');
  return n;
}

/** `openlora adapter create|inspect`: generate deterministic PEFT adapters, inspect adapter directories. */
export function registerAdapter(program: Command): void {
  const adapter = new Command('adapter').description('generate and inspect LoRA adapters (PEFT layout)');
  adapter
    .command('create')
    .description('write a deterministically generated LoRA adapter for --model to --out')
    .requiredOption('--model <dir>', 'base model directory (its config.json fixes the shapes)')
    .requiredOption('--rank <r>', `LoRA rank (1..${MAX_LORA_RANK})`, parseInteger(1, MAX_LORA_RANK))
    .option('--alpha <a>', 'lora_alpha (default: 2 x rank)', parsePositive)
    .option('--targets <list>', 'comma-separated modules of the model\'s layers, e.g. q_proj,v_proj (default: every linear module)')
    .option('--seed <n>', 'random seed (same seed, same bytes, same id)', parseInteger(0, 0xffffffff), 0)
    .addOption(new Option('--dtype <dtype>', 'tensor dtype on disk (default: the model\'s)').choices(['F32', 'F16', 'BF16']))
    .requiredOption('--out <dir>', 'output directory')
    .option('--json', 'print the result as JSON')
    .action(async (options: { model: string; rank: number; alpha?: number; targets?: string; seed: number; dtype?: 'F32' | 'F16' | 'BF16'; out: string; json?: boolean }) => {
      const result = await createAdapter({
        model: options.model,
        rank: options.rank,
        alpha: options.alpha,
        targets: options.targets?.split(',').map((t) => t.trim()).filter(Boolean),
        seed: options.seed,
        dtype: options.dtype,
        out: options.out,
      });
      if (options.json) process.stdout.write(JSON.stringify(result) + '\n');
      else process.stdout.write(`wrote adapter ${result.id} (rank ${result.rank}, alpha ${result.alpha}, ${result.targets.join(',')}, ${result.bytes} bytes) to ${result.dir}\n`);
    });
  adapter
    .command('inspect')
    .description('validate an adapter directory and print its id, rank, targets and size (against --model when given)')
    .argument('<dir>', 'adapter directory')
    .option('--model <dir>', 'base model directory to validate shapes against (default: the directory base_model_name_or_path names, looked up from the current directory and from the adapter\'s parent directories)')
    .option('--json', 'print as JSON')
    .action(async (dir: string, options: { model?: string; json?: boolean }) => {
      const adapterConfigPath = join(dir, ADAPTER_CONFIG_FILE);
      const peft = parsePeftConfig({ json: JSON.parse(await readFile(adapterConfigPath, 'utf8').catch((cause: unknown) => {
        throw new LoraConfigInvalidError(adapterConfigPath, 'cannot be read (is this an adapter directory?)', { cause });
      })), file: adapterConfigPath });
      const modelDir = options.model ?? baseModelDir(dir, peft.baseModel);
      if (!modelDir) throw new ModelConfigInvalidError(join(peft.baseModel ?? '(base_model_name_or_path)', 'config.json'), `no base model directory found for the adapter (base_model_name_or_path ${JSON.stringify(peft.baseModel ?? null)}); pass \`--model DIR\`, e.g. \`openlora adapter inspect ${dir} --model MODEL_DIR\``);
      const configPath = join(modelDir, 'config.json');
      const text = await readFile(configPath, 'utf8').catch((error: unknown) => {
        throw new ModelConfigInvalidError(configPath, 'it cannot be read; pass --model DIR', { cause: error });
      });
      const config = parseModelConfig({ json: JSON.parse(text), file: configPath });
      const { meta } = await loadPeftAdapter({ dir, config });
      const other = otherBaseModel(meta.baseModel, modelDir);
      const info = { id: meta.id, dir, model: modelDir, rank: meta.rank, alpha: meta.alpha, scale: meta.scale, useRslora: meta.useRslora, targets: meta.targets, layers: meta.layers.length, baseModel: meta.baseModel, fileBytes: meta.fileBytes, bytes: meta.bytes, ...(other ? { warning: `made for base model ${other}, checked against ${modelDir}` } : {}) };
      if (options.json) process.stdout.write(JSON.stringify(info) + '\n');
      else {
        process.stdout.write(
          [`id        ${info.id}`, `rank      ${info.rank} (alpha ${info.alpha}, scale ${info.scale}${info.useRslora ? ', rsLoRA' : ''})`, `targets   ${info.targets.join(', ')}`, `layers    ${info.layers}`, `base      ${info.baseModel ?? '(unknown)'} (checked against ${modelDir})`, `bytes     ${info.fileBytes} on disk, ${info.bytes} in memory`].join('\n') + '\n',
        );
      }
      if (other) process.stderr.write(`warning: the adapter names base model ${other}, not ${modelDir}; its shapes fit, so a node serves it, but it was trained on another model.\n`);
    });
  program.addCommand(adapter);
}
