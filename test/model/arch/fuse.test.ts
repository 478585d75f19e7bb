/**
 * The fusion pass over every architecture's recipe: what it fuses follows from the data flow
 * (the numbers are checked on WebGPU against the CPU reference in test/engine/webgpu/).
 */
import { describe, expect, it } from 'vitest';
import { fuseRecipe, type FusedLinearOp, type FusedOp } from '../../../src/model/arch/fuse.ts';
import { modelRecipe } from '../../../src/model/arch/index.ts';
import { parseModelConfig } from '../../../src/model/parseConfig.ts';
import { presetConfigJson, type ModelPreset } from '../../../src/model/presets.ts';

const recipeOf = (preset: ModelPreset, extra: Record<string, unknown> = {}) => modelRecipe(parseModelConfig({ json: { ...presetConfigJson(preset), ...extra }, file: preset }));

/** One line per op: kind, members, prologue/epilogue, input and output columns. */
function describeOps(ops: FusedOp[]): string[] {
  const ref = (r: { buffer: string; offset: number; width: number }) => `${r.buffer}[${r.offset}+${r.width}]`;
  return ops.map((op) => {
    switch (op.op) {
      case 'linear':
        return `linear ${op.members.map((m) => m.module.name).join('+')}${op.norm ? ' norm' : ''}${op.glu ? ` glu(${op.glu.gate},${op.glu.up})` : ''}${op.accumulate ? ' +=' : ''} ${ref(op.x)} -> ${ref(op.out)}`;
      case 'attention':
        return `attention ${ref(op.q)} ${ref(op.k)} ${ref(op.v)} -> ${ref(op.out)}`;
      case 'rmsnorm':
        return `rmsnorm${op.add ? ' +=' : ''} ${ref(op.x)} -> ${ref(op.out)}`;
      case 'glu':
        return `glu ${ref(op.gate)} ${ref(op.up)}`;
    }
  });
}

describe('fuseRecipe', () => {
  it('Llama: five ops per layer (q|k|v with the norm, attention, o, gate|up with the norm and GLU, down)', () => {
    const recipe = recipeOf('tiny');
    const fused = fuseRecipe(recipe);
    expect(fused.layers).toHaveLength(recipe.layers.length);
    for (const layer of fused.layers) {
      expect(describeOps(layer)).toEqual([
        'linear q_proj+k_proj+v_proj norm x[0+128] -> q|k|v[0+256]',
        'attention q|k|v[0+128] q|k|v[128+64] q|k|v[192+64] -> attn[0+128]',
        'linear o_proj += attn[0+128] -> x[0+128]',
        'linear gate_proj+up_proj norm glu(0,384) x[0+128] -> gate|up[0+384]',
        'linear down_proj += gate|up[0+384] -> x[0+128]',
      ]);
    }
    // The buffers the fused ops use, no wider than used: gate|up holds only the GLU product.
    expect(fused.acts).toEqual({ x: 128, 'q|k|v': 256, attn: 128, 'gate|up': 384 });
    const qkv = fused.layers[0][0] as FusedLinearOp;
    expect(qkv.key).toBe('model.layers.0.self_attn.q_proj.weight+model.layers.0.self_attn.k_proj.weight+model.layers.0.self_attn.v_proj.weight');
    expect(qkv.members.map((m) => m.column)).toEqual([0, 128, 192]);
    expect(qkv.norm?.weight.name).toBe('model.layers.0.input_layernorm.weight');
    expect((fused.layers[1][3] as FusedLinearOp).norm?.weight.name).toBe('model.layers.1.post_attention_layernorm.weight');
  });

  it('Qwen2 keeps each member\'s bias; Phi-3\'s fused modules are single members with the same plan', () => {
    const qwen = fuseRecipe(recipeOf('tiny-qwen2'));
    const qkv = qwen.layers[0][0] as FusedLinearOp;
    expect(qkv.members.map((m) => m.bias?.name)).toEqual(['q_proj', 'k_proj', 'v_proj'].map((n) => `model.layers.0.self_attn.${n}.bias`));
    const phi = fuseRecipe(recipeOf('tiny-phi3'));
    expect(describeOps(phi.layers[0])).toEqual([
      'linear qkv_proj norm x[0+128] -> qkv[0+256]',
      'attention qkv[0+128] qkv[128+64] qkv[192+64] -> attn[0+128]',
      'linear o_proj += attn[0+128] -> x[0+128]',
      'linear gate_up_proj norm glu(0,384) x[0+128] -> gateUp[0+384]',
      'linear down_proj += gateUp[0+384] -> x[0+128]',
    ]);
  });

  it('Gemma 2: the post-norms that add into the residual stay ops of their own (seven per layer)', () => {
    const fused = fuseRecipe(recipeOf('tiny-gemma2'));
    expect(describeOps(fused.layers[0])).toEqual([
      'linear q_proj+k_proj+v_proj norm x[0+128] -> q|k|v[0+256]',
      'attention q|k|v[0+128] q|k|v[128+64] q|k|v[192+64] -> attn[0+128]',
      'linear o_proj attn[0+128] -> o[0+128]',
      'rmsnorm += o[0+128] -> x[0+128]',
      'linear gate_proj+up_proj norm glu(0,384) x[0+128] -> gate|up[0+384]',
      'linear down_proj gate|up[0+384] -> o[0+128]',
      'rmsnorm += o[0+128] -> x[0+128]',
    ]);
    expect((fused.layers[0][4] as FusedLinearOp).glu?.act).toBe('gelu_tanh');
  });

  it('without sharing matrices, each sibling gets the norm prologue and the GLU stays an op', () => {
    const fused = fuseRecipe(recipeOf('tiny'), { concat: () => false });
    expect(describeOps(fused.layers[0])).toEqual([
      'linear q_proj norm x[0+128] -> q[0+128]',
      'linear k_proj norm x[0+128] -> k[0+64]',
      'linear v_proj norm x[0+128] -> v[0+64]',
      'attention q[0+128] k[0+64] v[0+64] -> attn[0+128]',
      'linear o_proj += attn[0+128] -> x[0+128]',
      'linear gate_proj norm x[0+128] -> gate[0+384]',
      'linear up_proj norm x[0+128] -> up[0+384]',
      'glu gate[0+384] up[0+384]',
      'linear down_proj += gate[0+384] -> x[0+128]',
    ]);
    const none = fuseRecipe(recipeOf('tiny'), { concat: () => false, norm: false, glu: () => false });
    expect(none.layers[0].map((op) => op.op)).toEqual(recipeOf('tiny').layers[0].map((op) => op.op));
  });

  it('maxMembers bounds a shared matrix; the plain recipe is left untouched', () => {
    const recipe = recipeOf('tiny');
    const before = JSON.stringify(recipe);
    const fused = fuseRecipe(recipe, { maxMembers: 2 });
    expect(describeOps(fused.layers[0]).slice(0, 2)).toEqual(['linear q_proj+k_proj norm x[0+128] -> q|k[0+192]', 'linear v_proj norm x[0+128] -> v[0+64]']);
    expect(JSON.stringify(recipe)).toBe(before);
  });
});
