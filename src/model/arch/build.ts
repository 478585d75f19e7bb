/**
 * Shared building blocks of the architecture modules: the {@link Architecture} contract, config
 * fields every decoder has, module lists, and op builders that make a layer's recipe read like
 * the model (llama.cpp's `llm_graph_context::build_*`).
 */
import { InternalError } from '../../errors.ts';
import type { Activation, LinearModule, ModelConfig } from '../config.ts';
import type { ConfigReader } from './configReader.ts';
import type { ActRef, AttentionOp, GluOp, LayerOp, LinearOp, ModelRecipe, NormOp, TensorSpec } from './recipe.ts';
import { readRope } from './rope.ts';

/** Fields `parseModelConfig` reads for every architecture before calling its `parse`. */
export type CommonFields = Pick<ModelConfig, 'architecture' | 'torchDtype' | 'bosTokenId' | 'eosTokenIds'>;

/** One architecture: how its config.json reads and what its layers compute. */
export interface Architecture {
  /** `config.architectures[0]` values it runs, e.g. `Gemma2ForCausalLM`. */
  names: readonly string[];
  /** `config.model_type` values, for configs without `architectures`. */
  modelTypes: readonly string[];
  /** Math-changing keys (see `mathKeys.ts`) its Hugging Face class does not read, with why. */
  ignoredKeys: Readonly<Record<string, string>>;
  /** config.json → {@link ModelConfig}; refuses what it does not implement. */
  parse(r: ConfigReader, common: CommonFields): ModelConfig;
  /** The model's ops and activation buffers. */
  recipe(config: ModelConfig): ModelRecipe;
}

/** Class defaults of a Hugging Face config (used when config.json omits a key). */
export interface DecoderDefaults {
  rmsNormEps: number;
  maxPositionEmbeddings: number;
  tieWordEmbeddings: boolean;
  /** head_dim when config.json omits it; default hidden_size / num_attention_heads. */
  headDim?: number;
  /** Architecture rotates part of each head (`partial_rotary_factor`). */
  partialRotary?: boolean;
}

/** Sizes, norm epsilon, RoPE and tying: what every decoder's config.json has. */
export type DecoderFields = Pick<
  ModelConfig,
  'hiddenSize' | 'intermediateSize' | 'numLayers' | 'numHeads' | 'numKvHeads' | 'headDim' | 'vocabSize' | 'maxPositionEmbeddings' | 'rmsNormEps' | 'ropeTheta' | 'ropeScaling' | 'rotaryDim' | 'tieWordEmbeddings'
>;

/** Reads {@link DecoderFields} with the HF class defaults for absent keys. */
export function readDecoder(r: ConfigReader, d: DecoderDefaults): DecoderFields {
  const hiddenSize = r.int('hidden_size');
  const numHeads = r.int('num_attention_heads');
  const numKvHeads = r.int('num_key_value_heads', numHeads);
  const headDim = r.has('head_dim') ? r.int('head_dim') : (d.headDim ?? hiddenSize / numHeads);
  if (!Number.isInteger(headDim) || headDim % 2 !== 0) {
    r.invalid(r.has('head_dim') ? 'head_dim' : 'hidden_size', `gives head dimension ${headDim} (hidden_size ${hiddenSize} / num_attention_heads ${numHeads}), which must be an even integer`);
  }
  if (numHeads % numKvHeads !== 0) r.invalid('num_key_value_heads', `must divide num_attention_heads ${numHeads}`);
  return {
    hiddenSize,
    intermediateSize: r.int('intermediate_size'),
    numLayers: r.int('num_hidden_layers'),
    numHeads,
    numKvHeads,
    headDim,
    vocabSize: r.int('vocab_size'),
    maxPositionEmbeddings: r.int('max_position_embeddings', d.maxPositionEmbeddings),
    rmsNormEps: r.num('rms_norm_eps', d.rmsNormEps),
    ...readRope(r, { headDim, defaultTheta: 10000, partial: d.partialRotary === true }),
    tieWordEmbeddings: r.bool('tie_word_embeddings', d.tieWordEmbeddings),
  };
}

/** What a Llama layer has unless the architecture says otherwise: full attention scaled by headDim^-1/2, no soft-caps, unscaled embeddings. */
export function llamaDefaults(f: DecoderFields): Pick<ModelConfig, 'slidingWindows' | 'attnScale' | 'attnSoftcap' | 'finalSoftcap' | 'embedScale'> {
  return { slidingWindows: windows(f.numLayers, undefined), attnScale: 1 / Math.sqrt(f.headDim), attnSoftcap: 0, finalSoftcap: 0, embedScale: 1 };
}

/** HF `ACT2FN` names openlora implements, per activation. */
const ACTIVATIONS: Record<string, Activation> = { silu: 'silu', swish: 'silu', gelu_pytorch_tanh: 'gelu_tanh', gelu_new: 'gelu_tanh', gelu_fast: 'gelu_tanh' };

/** The MLP activation from `key`; `fallback` when absent; `aliases` map extra names (Gemma's legacy "gelu"). */
export function readActivation(r: ConfigReader, key: string, fallback: string, aliases: Record<string, Activation> = {}): Activation {
  const name = r.str(key, fallback);
  const act = aliases[name] ?? ACTIVATIONS[name];
  if (!act) r.refuse(key, `activation ${JSON.stringify(name)} is not implemented`, `openlora implements ${Object.keys(ACTIVATIONS).join(', ')}.`);
  return act;
}

/** Refuses `key` when it is present with a value other than the given no-op ones (null always passes). */
export function refuseUnless(r: ConfigReader, key: string, noop: readonly unknown[], why: string): void {
  if (!r.has(key)) return;
  const v = r.raw(key);
  if (!noop.some((n) => n === v)) r.refuse(key, why);
}

/** q/k/v/o and gate/up/down modules of a Llama-style layer, with the given biases. */
export function llamaModules(f: DecoderFields, bias: { qkv: boolean; o: boolean; mlp: boolean }): LinearModule[] {
  const q = f.numHeads * f.headDim;
  const kv = f.numKvHeads * f.headDim;
  const d = f.hiddenSize;
  const inter = f.intermediateSize;
  return [
    { name: 'q_proj', path: 'self_attn.q_proj', out: q, in: d, bias: bias.qkv },
    { name: 'k_proj', path: 'self_attn.k_proj', out: kv, in: d, bias: bias.qkv },
    { name: 'v_proj', path: 'self_attn.v_proj', out: kv, in: d, bias: bias.qkv },
    { name: 'o_proj', path: 'self_attn.o_proj', out: d, in: q, bias: bias.o },
    { name: 'gate_proj', path: 'mlp.gate_proj', out: inter, in: d, bias: bias.mlp },
    { name: 'up_proj', path: 'mlp.up_proj', out: inter, in: d, bias: bias.mlp },
    { name: 'down_proj', path: 'mlp.down_proj', out: d, in: inter, bias: bias.mlp },
  ];
}

/** Activation buffers of a layer with separate q/k/v and gate/up outputs. */
export function llamaActs(c: ModelConfig): Record<string, number> {
  const q = c.numHeads * c.headDim;
  const kv = c.numKvHeads * c.headDim;
  return { x: c.hiddenSize, h: c.hiddenSize, q, k: kv, v: kv, attn: q, gate: c.intermediateSize, up: c.intermediateSize };
}

/** An activation reference: a whole buffer (`'q'`) or a view made with {@link LayerBuilder.view}. */
export type Act = string | ActRef;

/** Builds one layer's ops; tensor names are `model.layers.{layer}.{...}.weight`. */
export interface LayerBuilder {
  readonly layer: number;
  /** Columns `[offset, offset + width)` of `buffer`. */
  view(buffer: string, offset: number, width: number): ActRef;
  /** RMSNorm with gain `model.layers.{layer}.{name}.weight`; `add` adds into `out`. */
  norm(name: string, x: Act, out: Act, options?: { add?: boolean }): NormOp;
  /** The module's projection (bias when the module has one); `accumulate` adds into `out`. */
  linear(module: string, x: Act, out: Act, options?: { accumulate?: boolean }): LinearOp;
  /** RoPE, KV store and causal attention with the layer's window, scale and soft-cap. */
  attention(q: Act, k: Act, v: Act, out: Act): AttentionOp;
  /** `gate = act(gate) · up` with the model's activation. */
  glu(gate: Act, up: Act): GluOp;
}

/** A {@link LayerBuilder} for `layer`; `weightOffset` is the RMSNorm gain offset (1 for Gemma). */
export function layerBuilder(c: ModelConfig, acts: Record<string, number>, layer: number, weightOffset = 0): LayerBuilder {
  const ref = (a: Act): ActRef => {
    if (typeof a !== 'string') return a;
    const width = acts[a];
    if (width === undefined) throw new InternalError(`recipe names activation buffer "${a}", which the architecture does not declare`);
    return { buffer: a, offset: 0, width };
  };
  const tensor = (name: string, shape: number[]): TensorSpec => ({ name: `model.layers.${layer}.${name}`, shape, layer });
  return {
    layer,
    view: (buffer, offset, width) => ({ buffer, offset, width }),
    norm: (name, x, out, options) => ({ op: 'rmsnorm', weight: tensor(`${name}.weight`, [c.hiddenSize]), x: ref(x), out: ref(out), add: options?.add === true, weightOffset, eps: c.rmsNormEps }),
    linear(name, x, out, options) {
      const module = c.modules.find((m) => m.name === name);
      if (!module) throw new InternalError(`recipe names module "${name}", which ${c.architecture} does not declare`);
      return {
        op: 'linear',
        layer,
        module,
        weight: tensor(`${module.path}.weight`, [module.out, module.in]),
        bias: module.bias ? tensor(`${module.path}.bias`, [module.out]) : undefined,
        x: ref(x),
        out: ref(out),
        accumulate: options?.accumulate === true,
      };
    },
    attention: (q, k, v, out) => ({ op: 'attention', layer, q: ref(q), k: ref(k), v: ref(v), out: ref(out), window: c.slidingWindows[layer], softcap: c.attnSoftcap, scale: c.attnScale }),
    glu: (gate, up) => ({ op: 'glu', act: c.hiddenAct, gate: ref(gate), up: ref(up) }),
  };
}

/** The recipe of a model whose layers come from `layer(builder)`, with the usual embedding, final norm and lm_head names. */
export function decoderRecipe(c: ModelConfig, acts: Record<string, number>, layer: (b: LayerBuilder) => LayerOp[], weightOffset = 0): ModelRecipe {
  const embed: TensorSpec = { name: 'model.embed_tokens.weight', shape: [c.vocabSize, c.hiddenSize] };
  return {
    acts,
    embed: { weight: embed, scale: c.embedScale },
    layers: Array.from({ length: c.numLayers }, (_, l) => layer(layerBuilder(c, acts, l, weightOffset))),
    finalNorm: { weight: { name: 'model.norm.weight', shape: [c.hiddenSize] }, weightOffset, eps: c.rmsNormEps },
    lmHead: { weight: c.tieWordEmbeddings ? embed : { name: 'lm_head.weight', shape: [c.vocabSize, c.hiddenSize] }, softcap: c.finalSoftcap },
  };
}

/** Sliding window per layer: `window` on the layers `uses(layer)` picks, 0 elsewhere. */
export function windows(numLayers: number, window: number | undefined, uses: (layer: number) => boolean = () => true): number[] {
  return Array.from({ length: numLayers }, (_, l) => (window && uses(l) ? window : 0));
}

/**
 * `layer_types` (transformers' per-layer list of "full_attention" / "sliding_attention"), when
 * config.json gives it; else undefined.
 */
export function readLayerTypes(r: ConfigReader, numLayers: number): boolean[] | undefined {
  if (!r.has('layer_types')) return undefined;
  const v = r.raw('layer_types');
  if (!Array.isArray(v) || v.length !== numLayers || !v.every((t) => t === 'full_attention' || t === 'sliding_attention')) {
    r.invalid('layer_types', `must list "full_attention" or "sliding_attention" for each of the ${numLayers} layers`);
  }
  return (v as string[]).map((t) => t === 'sliding_attention');
}

/** An optional positive integer (`sliding_window`): `fallback` when absent, undefined when null. */
export function optionalInt(r: ConfigReader, key: string, fallback: number | undefined): number | undefined {
  const v = r.raw(key);
  if (v === null) return undefined;
  if (v === undefined) return fallback;
  return r.int(key);
}

/** An optional positive number (soft-cap values): `fallback` when absent, undefined when null. */
export function optionalNum(r: ConfigReader, key: string, fallback: number | undefined): number | undefined {
  const v = r.raw(key);
  if (v === null) return undefined;
  if (v === undefined) return fallback;
  return r.num(key);
}
