/**
 * Errors raised while reading model files. Each names the file (and tensor), the offending value,
 * and what to do; codes are `OPENLORA_MODEL_<CONDITION>`.
 */
import { BaseError, type BaseErrorParameters } from '../errors.ts';

const REGENERATE = 'Re-download or re-export the model, or regenerate it with `openlora model create`.';

/** A safetensors file whose header or layout is invalid (truncated, bad JSON, bad offsets). */
export class SafetensorsInvalidError extends BaseError {
  override name = 'SafetensorsInvalidError' as const;
  constructor(file: string, problem: string, parameters: BaseErrorParameters = {}) {
    super('OPENLORA_MODEL_SAFETENSORS_INVALID', `Invalid safetensors file ${file}: ${problem}`, {
      hint: `The file is truncated or not a safetensors file. ${REGENERATE}`,
      meta: { file },
      ...parameters,
    });
  }
}

/** A GGUF file whose header or layout is invalid (bad magic, truncated, bad offsets). */
export class GgufInvalidError extends BaseError {
  override name = 'GgufInvalidError' as const;
  constructor(file: string, problem: string, parameters: BaseErrorParameters = {}) {
    super('OPENLORA_MODEL_GGUF_INVALID', `Invalid GGUF file ${file}: ${problem}`, {
      hint: `The file is truncated or not a GGUF file (version 2 or 3). Re-export it (llama.cpp convert_hf_to_gguf.py) or write one with \`openlora model create --format gguf\`.`,
      meta: { file },
      ...parameters,
    });
  }
}

/** A tensor whose dtype openlora does not read (F32, F16, BF16; in GGUF also Q8_0, Q4_0, Q4_K, Q6_K). */
export class ModelDtypeUnsupportedError extends BaseError {
  override name = 'ModelDtypeUnsupportedError' as const;
  constructor(file: string, tensor: string, dtype: string) {
    super('OPENLORA_MODEL_DTYPE_UNSUPPORTED', `Tensor "${tensor}" in ${file} has dtype ${JSON.stringify(dtype)}, which openlora cannot read.`, {
      hint: 'Supported dtypes are F32, F16 and BF16 (safetensors) and F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K (GGUF). Convert other checkpoints to one of them (transformers `save_pretrained`, or llama-quantize for GGUF).',
      meta: { file, tensor, dtype },
    });
  }
}

/** A tensor the model config requires is not in any weight file. */
export class ModelTensorMissingError extends BaseError {
  override name = 'ModelTensorMissingError' as const;
  constructor(dir: string, tensor: string, expectedShape: readonly number[]) {
    super('OPENLORA_MODEL_TENSOR_MISSING', `Tensor "${tensor}" (shape [${expectedShape.join(', ')}]) is missing from the model in ${dir}.`, {
      hint: `Check that config.json matches the weights (layer count, tie_word_embeddings, attention_bias). ${REGENERATE}`,
      meta: { dir, tensor, expectedShape },
    });
  }
}

/** A tensor's shape disagrees with what config.json implies. */
export class ModelTensorShapeError extends BaseError {
  override name = 'ModelTensorShapeError' as const;
  constructor(file: string, tensor: string, expectedShape: readonly number[], foundShape: readonly number[]) {
    super(
      'OPENLORA_MODEL_TENSOR_SHAPE',
      `Tensor "${tensor}" in ${file} has shape [${foundShape.join(', ')}], but config.json implies [${expectedShape.join(', ')}].`,
      {
        hint: 'config.json and the weights come from different models, or config.json was edited. Use the config that was saved with the weights.',
        meta: { file, tensor, expectedShape, foundShape },
      },
    );
  }
}

/** config.json is missing, unreadable, or holds an invalid value. */
export class ModelConfigInvalidError extends BaseError {
  override name = 'ModelConfigInvalidError' as const;
  constructor(file: string, problem: string, parameters: BaseErrorParameters = {}) {
    super('OPENLORA_MODEL_CONFIG_INVALID', `Invalid model config ${file}: ${problem}`, {
      hint: 'Use the config.json saved with the model (Hugging Face layout).',
      meta: { file },
      ...parameters,
    });
  }
}

/** config.json names an architecture openlora does not run. */
export class ModelArchitectureUnsupportedError extends BaseError {
  override name = 'ModelArchitectureUnsupportedError' as const;
  constructor(file: string, architecture: string, known: readonly string[]) {
    super('OPENLORA_MODEL_ARCHITECTURE_UNSUPPORTED', `Model architecture ${JSON.stringify(architecture)} in ${file} is not supported.`, {
      hint: `openlora runs ${known.join(', ')} (one module each in src/model/arch/).`,
      meta: { file, architecture },
    });
  }
}

/** The model directory or a file it needs does not exist. */
export class ModelFileNotFoundError extends BaseError {
  override name = 'ModelFileNotFoundError' as const;
  constructor(file: string, parameters: BaseErrorParameters = {}) {
    super('OPENLORA_MODEL_FILE_NOT_FOUND', `Model file ${file} was not found.`, {
      hint: 'Point --model at a Hugging Face model directory (config.json, *.safetensors), or create one with `openlora model create --preset tiny --out DIR`.',
      meta: { file },
      ...parameters,
    });
  }
}

/** tokenizer.json / tokenizer_config.json / generation_config.json could not be used. */
export class ModelTokenizerInvalidError extends BaseError {
  override name = 'ModelTokenizerInvalidError' as const;
  constructor(file: string, problem: string, parameters: BaseErrorParameters = {}) {
    super('OPENLORA_MODEL_TOKENIZER_INVALID', `Invalid tokenizer file ${file}: ${problem}`, {
      hint: 'Use the tokenizer files saved with the model, or remove them to run with token ids only.',
      meta: { file },
      ...parameters,
    });
  }
}

/** A model preset name `openlora model create` does not know. */
export class ModelPresetUnknownError extends BaseError {
  override name = 'ModelPresetUnknownError' as const;
  constructor(preset: string, known: readonly string[]) {
    super('OPENLORA_MODEL_PRESET_UNKNOWN', `Unknown model preset ${JSON.stringify(preset)}.`, {
      hint: `Choose one of: ${known.join(', ')}.`,
      meta: { preset },
    });
  }
}

/** A module name (LoRA target, projection) the model's layers do not have. */
export class ModelModuleUnknownError extends BaseError {
  override name = 'ModelModuleUnknownError' as const;
  constructor(architecture: string, module: string, known: readonly string[]) {
    super('OPENLORA_MODEL_MODULE_UNKNOWN', `${architecture} layers have no module ${JSON.stringify(module)}.`, {
      hint: `Its linear modules are: ${known.join(', ')}.`,
      meta: { architecture, module, known },
    });
  }
}

/** A config.json field that changes the model's math and that openlora does not implement (with this value). */
export class ModelConfigUnsupportedError extends BaseError {
  override name = 'ModelConfigUnsupportedError' as const;
  constructor(file: string, field: string, value: unknown, why: string, hint?: string) {
    super('OPENLORA_MODEL_CONFIG_UNSUPPORTED', `${file}: "${field}": ${JSON.stringify(value)} is not supported: ${why}.`, {
      hint: hint ?? 'openlora refuses config fields it would otherwise ignore, rather than run the model wrong. Use a model without this setting, or open an issue naming the field.',
      meta: { file, field, value },
    });
  }
}

/** `model create --quantize` without `--format gguf`: safetensors holds no ggml blocks. */
export class ModelQuantizeFormatError extends BaseError {
  override name = 'ModelQuantizeFormatError' as const;
  constructor(quantize: string) {
    super('OPENLORA_MODEL_QUANTIZE_FORMAT', `--quantize ${quantize} needs --format gguf: safetensors files hold float weights.`, {
      hint: `Write a GGUF file (\`openlora model create --format gguf --quantize ${quantize} ...\`), or quantize a safetensors model at load (\`--quantize ${quantize}\` on generate, node and dev).`,
      meta: { quantize },
    });
  }
}
