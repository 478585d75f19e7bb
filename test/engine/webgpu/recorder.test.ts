import { describe, expect, it } from 'vitest';
import { profileName } from '../../../src/engine/webgpu/recorder.ts';
import { OP_LABEL, type Kernel } from '../../../src/engine/webgpu/pipelines.ts';

/** What profileName reads of a kernel and a bind group: their names. */
const kernel = (name: string) => ({ name }) as Kernel;
const group = (label: string) => ({ label }) as GPUBindGroup;

describe('profile names', () => {
  const linear = kernel('linear.wgsl[F16,LORA,ROWS=32]');
  const qkv = group(`${linear.name}${OP_LABEL}model.layers.12.self_attn.q_proj.weight+model.layers.12.self_attn.k_proj.weight+model.layers.12.self_attn.v_proj.weight`);

  it('names a dispatch by its kernel file, without the variant', () => {
    expect(profileName(linear, qkv, false)).toBe('linear');
  });

  it('by op: the modules of the bind group, without layer, path or .weight, so a projection sums over the layers', () => {
    expect(profileName(linear, qkv, true)).toBe('linear @q_proj+k_proj+v_proj');
    expect(profileName(kernel('lora_shrink.wgsl[BCAST]'), group(`lora_shrink.wgsl[BCAST]${OP_LABEL}model.layers.3.mlp.down_proj.weight`), true)).toBe('lora_shrink @down_proj');
    expect(profileName(linear, group(`${linear.name}${OP_LABEL}lm_head`), true)).toBe('linear @lm_head');
  });

  it('by op, a bind group labelled without an op: the kernel file alone', () => {
    expect(profileName(kernel('attention.wgsl[GQ=3]'), group('attention.wgsl[GQ=3]'), true)).toBe('attention');
  });
});
