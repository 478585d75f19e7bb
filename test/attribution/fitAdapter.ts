/**
 * Test helper: a LoRA adapter fitted to some texts by gradient descent in the CPU reference.
 *
 * Only the last layer's down_proj carries a LoRA delta, `scale · B (A m)` with A fixed (random)
 * and B trained. The residual stream before that delta (`u`) and the down_proj input (`m`) do not
 * depend on B, so one forward pass (the reference ops, as in forward.ts) captures them, and the
 * loss `Σ -log softmax(lm_head · RMSNorm(u + scale · B A m))[target]` and its exact gradient in B
 * are cheap. Plain gradient descent from B = 0 lowers the loss on the texts it is fitted to.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { forwardHidden } from '../../src/engine/reference/forward.ts';
import { kvBlockFloats } from '../../src/engine/reference/ops.ts';
import { loadCpuWeights } from '../../src/engine/reference/weights.ts';
import { modelInvFreq } from '../../src/model/arch/rope.ts';
import { projectionShape } from '../../src/model/config.ts';
import { f32ToBytes } from '../../src/model/dtype.ts';
import { loadModel } from '../../src/model/load.ts';
import { normalStream } from '../../src/model/random.ts';
import { writeSafetensors } from '../../src/model/safetensorsWrite.ts';

/** Runs the reference forward pass and returns per row the last layer's residual output `u` [n, d] and down_proj input `m` [n, I]. */
function capture(p: { config: Awaited<ReturnType<typeof loadModel>>['config']; weights: Awaited<ReturnType<typeof loadCpuWeights>>; tokens: number[] }) {
  const { config, weights, tokens } = p;
  const n = tokens.length;
  const layout = { numLayers: config.numLayers, numKvHeads: config.numKvHeads, headDim: config.headDim, blockSize: 16 };
  const blocks = Math.ceil(n / 16);
  const last = config.numLayers - 1;
  let u = new Float32Array(0);
  let m = new Float32Array(0);
  forwardHidden({
    config,
    weights,
    invFreq: modelInvFreq(config),
    cache: new Float32Array(blocks * kvBlockFloats(layout)),
    layout,
    tokens,
    startPos: 0,
    blockTable: Array.from({ length: blocks }, (_, i) => i),
    adapter: undefined,
    onOp: (op, acts) => {
      if (op.op === 'glu' && op.gate.buffer === 'gate' && weights.recipe.layers[last].includes(op)) m = acts.get('gate')!.slice();
      if (op.op === 'linear' && op.layer === last && op.module.name === 'down_proj') u = acts.get('x')!.slice();
    },
  });
  return { u, m };
}

/** Parameters of {@link fitAdapter}. */
export interface FitAdapterParameters {
  model: string;
  /** Texts to fit (encoded with the model's tokenizer, BOS first as attribution scores them). */
  texts: readonly string[];
  out: string;
  rank?: number;
  steps?: number;
  learningRate?: number;
  seed?: number;
}

/** Writes a PEFT adapter (down_proj, every layer; only the last layer's B non-zero) fitted to `texts`; returns the loss before and after. */
export async function fitAdapter(p: FitAdapterParameters): Promise<{ before: number; after: number }> {
  const model = await loadModel({ dir: p.model });
  const weights = await loadCpuWeights({ model });
  const { config } = model;
  const d = config.hiddenSize;
  const V = config.vocabSize;
  const [, I] = projectionShape(config, 'down_proj');
  const r = p.rank ?? 4;
  const scale = 1; // lora_alpha = r
  const A = normalStream(p.seed ?? 7, 'fit-A').fill(new Float32Array(r * I), 1 / Math.sqrt(I), 0); // [r, I]
  // Per scored row: u [d], z = A m [r], target.
  const rows: Array<{ u: Float32Array; z: Float64Array; target: number }> = [];
  for (const text of p.texts) {
    const tokens = [model.generation.bosTokenId!, ...model.tokenizer!.encode(text)];
    const { u, m } = capture({ config, weights, tokens });
    for (let t = 0; t + 1 < tokens.length; t++) {
      const z = new Float64Array(r);
      for (let j = 0; j < r; j++) for (let i = 0; i < I; i++) z[j] += A[j * I + i] * m[t * I + i];
      rows.push({ u: u.slice(t * d, (t + 1) * d), z, target: tokens[t + 1] });
    }
  }
  await model.close();
  const g = weights.vector(weights.recipe.finalNorm.weight.name);
  const lm = weights.matrix(weights.recipe.lmHead.weight.name); // [V, d]
  const B = new Float64Array(d * r); // [d, r]
  const lossAndGrad = (grad?: Float64Array): number => {
    let loss = 0;
    const v = new Float64Array(d);
    const f = new Float64Array(d);
    const logits = new Float64Array(V);
    for (const row of rows) {
      let ss = 0;
      for (let i = 0; i < d; i++) {
        let s = row.u[i];
        for (let j = 0; j < r; j++) s += scale * B[i * r + j] * row.z[j];
        v[i] = s;
        ss += s * s;
      }
      const rms = Math.sqrt(ss / d + config.rmsNormEps);
      for (let i = 0; i < d; i++) f[i] = (v[i] / rms) * g[i];
      let max = -Infinity;
      for (let k = 0; k < V; k++) {
        let s = 0;
        for (let i = 0; i < d; i++) s += lm[k * d + i] * f[i];
        logits[k] = s;
        if (s > max) max = s;
      }
      let sum = 0;
      for (let k = 0; k < V; k++) sum += Math.exp(logits[k] - max);
      loss += max + Math.log(sum) - logits[row.target];
      if (!grad) continue;
      const gf = new Float64Array(d); // dL/df = lmᵀ (softmax - onehot)
      for (let k = 0; k < V; k++) {
        const pk = Math.exp(logits[k] - max) / sum - (k === row.target ? 1 : 0);
        for (let i = 0; i < d; i++) gf[i] += pk * lm[k * d + i];
      }
      let dot = 0;
      for (let i = 0; i < d; i++) dot += gf[i] * g[i] * v[i];
      for (let i = 0; i < d; i++) {
        const dv = (gf[i] * g[i]) / rms - (v[i] * dot) / (d * rms * rms * rms);
        for (let j = 0; j < r; j++) grad[i * r + j] += scale * dv * row.z[j];
      }
    }
    return loss;
  };
  const before = lossAndGrad();
  const lr = p.learningRate ?? 0.05;
  for (let step = 0; step < (p.steps ?? 30); step++) {
    const grad = new Float64Array(d * r);
    lossAndGrad(grad);
    for (let i = 0; i < B.length; i++) B[i] -= (lr * grad[i]) / rows.length;
  }
  const after = lossAndGrad();

  await mkdir(p.out, { recursive: true });
  await writeFile(join(p.out, 'adapter_config.json'), JSON.stringify({ base_model_name_or_path: 'tiny', peft_type: 'LORA', r, lora_alpha: r, use_rslora: false, target_modules: ['down_proj'], task_type: 'CAUSAL_LM' }, null, 2) + '\n');
  const tensors = [];
  for (let layer = 0; layer < config.numLayers; layer++) {
    const prefix = `base_model.model.model.layers.${layer}.mlp.down_proj`;
    const last = layer === config.numLayers - 1;
    tensors.push({ name: `${prefix}.lora_A.weight`, dtype: 'F32' as const, shape: [r, I], data: () => f32ToBytes(A, 'F32') });
    tensors.push({ name: `${prefix}.lora_B.weight`, dtype: 'F32' as const, shape: [d, r], data: () => f32ToBytes(last ? Float32Array.from(B) : new Float32Array(d * r), 'F32') });
  }
  await writeSafetensors({ path: join(p.out, 'adapter_model.safetensors'), tensors, metadata: { format: 'pt' } });
  return { before, after };
}
