/**
 * The recipe the WebGPU engine runs: the architecture's, fused (`src/model/arch/fuse.ts`) within
 * what the kernels handle (at most {@link MAX_FUSED_MEMBERS} projections per matrix: the linear
 * kernel's LoRA epilogue tells members apart by two column bounds).
 */
import type { ModelConfig } from '../../model/config.ts';
import { fuseRecipe, type FusedRecipe } from '../../model/arch/fuse.ts';
import { modelRecipe } from '../../model/arch/index.ts';

/** Projections one fused matrix holds at most (q, k, v). */
export const MAX_FUSED_MEMBERS = 3;

/** The fused recipe of `config` as the WebGPU engine runs it. */
export function webgpuRecipe(config: ModelConfig): FusedRecipe {
  return fuseRecipe(modelRecipe(config), { maxMembers: MAX_FUSED_MEMBERS });
}
