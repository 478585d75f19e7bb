/**
 * The normalized description of a Llama-family decoder, parsed from a Hugging Face
 * `config.json` (Llama 2/3, Mistral, Qwen2, SmolLM2, TinyLlama). Every engine backend reads this,
 * never the raw JSON.
 */
export interface ModelConfig {
  /** `config.architectures[0]`, e.g. `LlamaForCausalLM`, `Qwen2ForCausalLM`, `MistralForCausalLM`. */
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
  ropeTheta: number;
  /** Llama-3 style frequency scaling (`rope_scaling.rope_type == 'llama3'`), else undefined. */
  ropeScaling?: { type: 'llama3'; factor: number; lowFreqFactor: number; highFreqFactor: number; originalMaxPositionEmbeddings: number };
  /** lm_head shares the embedding matrix. */
  tieWordEmbeddings: boolean;
  /** q/k/v projections have biases (Qwen2). */
  attentionBias: boolean;
  bosTokenId?: number;
  /** Token ids that end generation (config + generation_config). */
  eosTokenIds: number[];
  /** The dtype the weights are stored in on disk. */
  torchDtype: 'float32' | 'float16' | 'bfloat16';
}

/** The seven projection modules a layer has; LoRA adapters target a subset of them. */
export const PROJECTIONS = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] as const;
export type Projection = (typeof PROJECTIONS)[number];

/** [outFeatures, inFeatures] of a projection's weight for this model. */
export function projectionShape(config: ModelConfig, projection: Projection): [number, number] {
  const q = config.numHeads * config.headDim;
  const kv = config.numKvHeads * config.headDim;
  switch (projection) {
    case 'q_proj':
      return [q, config.hiddenSize];
    case 'k_proj':
    case 'v_proj':
      return [kv, config.hiddenSize];
    case 'o_proj':
      return [config.hiddenSize, q];
    case 'gate_proj':
    case 'up_proj':
      return [config.intermediateSize, config.hiddenSize];
    case 'down_proj':
      return [config.hiddenSize, config.intermediateSize];
  }
}
