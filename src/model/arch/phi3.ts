/**
 * Phi-3: the Llama layer with fused projections, `qkv_proj` `[q + 2 kv, hidden]` (q, k, v in that
 * order) and `gate_up_proj` `[2 · intermediate, hidden]` (gate first), partial rotary
 * (`partial_rotary_factor`), and sliding-window attention on every layer when `sliding_window`
 * is set (Phi-3-mini-4k: 2047). LoRA adapters target the fused modules as PEFT sees them
 * (`qkv_proj`, `gate_up_proj`). LongRoPE (the 128k variants) is refused. Hugging Face `modeling_phi3.py`.
 */
import type { LinearModule, ModelConfig } from '../config.ts';
import { decoderRecipe, llamaDefaults, optionalInt, readActivation, readDecoder, windows, type Architecture, type DecoderFields, type LayerBuilder } from './build.ts';
import type { LayerOp } from './recipe.ts';

function phi3Modules(f: DecoderFields): LinearModule[] {
  const q = f.numHeads * f.headDim;
  const kv = f.numKvHeads * f.headDim;
  const d = f.hiddenSize;
  return [
    { name: 'qkv_proj', path: 'self_attn.qkv_proj', out: q + 2 * kv, in: d, bias: false },
    { name: 'o_proj', path: 'self_attn.o_proj', out: d, in: q, bias: false },
    { name: 'gate_up_proj', path: 'mlp.gate_up_proj', out: 2 * f.intermediateSize, in: d, bias: false },
    { name: 'down_proj', path: 'mlp.down_proj', out: d, in: f.intermediateSize, bias: false },
  ];
}

/** A Phi-3 layer: the fused outputs are read through views. */
function phi3Layer(c: ModelConfig) {
  const q = c.numHeads * c.headDim;
  const kv = c.numKvHeads * c.headDim;
  const inter = c.intermediateSize;
  return (b: LayerBuilder): LayerOp[] => {
    const gate = b.view('gateUp', 0, inter);
    return [
      b.norm('input_layernorm', 'x', 'h'), //                        h = rmsnorm(x) · w                [rows, hidden]
      b.linear('qkv_proj', 'h', 'qkv'), //                             qkv = h Wqkv^T                    [rows, q + 2 kv]
      b.attention(b.view('qkv', 0, q), b.view('qkv', q, kv), b.view('qkv', q + kv, kv), 'attn'), // attn over q | k | v columns
      b.linear('o_proj', 'attn', 'x', { accumulate: true }), //       x += attn Wo^T                    [rows, hidden]
      b.norm('post_attention_layernorm', 'x', 'h'), //               h = rmsnorm(x) · w
      b.linear('gate_up_proj', 'h', 'gateUp'), //                      gateUp = h Wgu^T                  [rows, 2 · intermediate]
      b.glu(gate, b.view('gateUp', inter, inter)), //                  gate = silu(gate) · up (columns of gateUp)
      b.linear('down_proj', gate, 'x', { accumulate: true }), //      x += gate Wd^T                    [rows, hidden]
    ];
  };
}

export const phi3: Architecture = {
  names: ['Phi3ForCausalLM'],
  modelTypes: ['phi3'],
  ignoredKeys: {
    attention_bias: 'Phi3Attention has no biases',
    use_sliding_window: 'Phi-3 uses sliding_window alone',
    max_window_layers: 'every Phi-3 layer uses sliding_window',
    original_max_position_embeddings: 'only LongRoPE reads it, and LongRoPE (rope_scaling type "longrope") is refused',
  },
  parse(r, common) {
    const f = readDecoder(r, { rmsNormEps: 1e-5, maxPositionEmbeddings: 4096, tieWordEmbeddings: false, partialRotary: true });
    return {
      ...common,
      ...f,
      ...llamaDefaults(f),
      hiddenAct: readActivation(r, 'hidden_act', 'silu'),
      attentionBias: false,
      modules: phi3Modules(f),
      slidingWindows: windows(f.numLayers, optionalInt(r, 'sliding_window', undefined)),
    };
  },
  recipe(config) {
    const q = config.numHeads * config.headDim;
    const acts = { x: config.hiddenSize, h: config.hiddenSize, qkv: q + 2 * config.numKvHeads * config.headDim, attn: q, gateUp: 2 * config.intermediateSize };
    return decoderRecipe(config, acts, phi3Layer(config));
  },
};
