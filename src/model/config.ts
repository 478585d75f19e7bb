/**
 * The normalized description of a decoder-only model, parsed from a Hugging Face `config.json` by
 * its architecture module (`src/model/arch/`). Every engine backend reads this and the
 * architecture's recipe, never the raw JSON.
 */
import { ModelModuleUnknownError } from './errors.ts';

/** The MLP's gate activation: SiLU (SwiGLU) or GELU with the tanh approximation (GeGLU). */
export type Activation = 'silu' | 'gelu_tanh';

/** RoPE frequency scaling (`rope_scaling` / `rope_parameters`), else plain RoPE. */
export type RopeScaling =
  | { type: 'llama3'; factor: number; lowFreqFactor: number; highFreqFactor: number; originalMaxPositionEmbeddings: number }
  | { type: 'linear'; factor: number };

/** One linear module of a decoder layer (a LoRA target). */
export interface LinearModule {
  /** Module name as PEFT's `target_modules` names it: `q_proj`, `qkv_proj`, `gate_up_proj`... */
  name: string;
  /** Path inside a layer: `self_attn.q_proj`, `mlp.down_proj`. */
  path: string;
  /** Output features (rows of the PyTorch `[out, in]` weight). */
  out: number;
  /** Input features. */
  in: number;
  /** The module has a bias vector. */
  bias: boolean;
}

/** A module name of a layer (`q_proj`, `qkv_proj`, ...): see {@link ModelConfig.modules}. */
export type Projection = string;

export interface ModelConfig {
  /** `config.architectures[0]`, e.g. `LlamaForCausalLM`, `Gemma2ForCausalLM`, `Phi3ForCausalLM`. */
  architecture: string;
  /** Hidden size (d_model). */
  hiddenSize: number;
  /** MLP inner size. */
  intermediateSize: number;
  numLayers: number;
  /** Query heads. */
  numHeads: number;
  /** Key/value heads (grouped-query attention); equals numHeads for MHA. */
  numKvHeads: number;
  /** Per-head size; `config.head_dim` when given, else hiddenSize / numHeads. */
  headDim: number;
  vocabSize: number;
  /** Context length the model supports (`max_position_embeddings`). */
  maxPositionEmbeddings: number;
  rmsNormEps: number;
  /** RoPE base (`rope_theta`). */
  ropeTheta: number;
  /** RoPE frequency scaling, else undefined. */
  ropeScaling?: RopeScaling;
  /** Leading elements of each head that RoPE rotates (`partial_rotary_factor` × headDim); = headDim usually. */
  rotaryDim: number;
  /** The MLP's activation (`hidden_act` / `hidden_activation`). */
  hiddenAct: Activation;
  /** lm_head shares the embedding matrix. */
  tieWordEmbeddings: boolean;
  /** q/k/v projections have biases (Qwen2, or `attention_bias`). */
  attentionBias: boolean;
  /** The linear modules of every layer, in file order: what LoRA adapters may target. */
  modules: LinearModule[];
  /** Per layer: positions a query attends to, its own included (sliding window), or 0 for all earlier ones. */
  slidingWindows: number[];
  /** Multiplier of q·k before the softmax: headDim^-1/2, or `query_pre_attn_scalar`^-1/2 (Gemma 2). */
  attnScale: number;
  /** Attention scores `s -> cap · tanh(s / cap)` before the softmax (Gemma 2); 0 = off. */
  attnSoftcap: number;
  /** Logits `z -> cap · tanh(z / cap)` (Gemma 2 `final_logit_softcapping`); 0 = off. */
  finalSoftcap: number;
  /** Embedding rows are multiplied by this (Gemma: sqrt(hidden) in the checkpoint's dtype); 1 otherwise. */
  embedScale: number;
  bosTokenId?: number;
  /** Token ids that end generation (config + generation_config). */
  eosTokenIds: number[];
  /** The dtype the weights are stored in on disk. */
  torchDtype: 'float32' | 'float16' | 'bfloat16';
}

/** The module named `name` of this model's layers; throws {@link ModelModuleUnknownError}. */
export function linearModule(config: ModelConfig, name: Projection): LinearModule {
  const m = config.modules.find((x) => x.name === name);
  if (!m) throw new ModelModuleUnknownError(config.architecture, name, config.modules.map((x) => x.name));
  return m;
}

/** Module names of this model's layers, in file order (`q_proj`, ... or `qkv_proj`, ...). */
export function moduleNames(config: ModelConfig): Projection[] {
  return config.modules.map((m) => m.name);
}

/** [outFeatures, inFeatures] of a module's weight for this model. */
export function projectionShape(config: ModelConfig, projection: Projection): [number, number] {
  const m = linearModule(config, projection);
  return [m.out, m.in];
}

/** `model.layers.{layer}.{path}.weight` (or `.bias`) of a module. */
export function moduleTensorName(config: ModelConfig, layer: number, projection: Projection, suffix: 'weight' | 'bias' = 'weight'): string {
  return `${moduleBase(layer, linearModule(config, projection))}.${suffix}`;
}

/** `model.layers.{layer}.{path}`: the module path PEFT matches `target_modules` against. */
export function moduleBase(layer: number, module: LinearModule): string {
  return `model.layers.${layer}.${module.path}`;
}
