/**
 * The fusion pass: a recipe (`recipe.ts`) rewritten into fewer, larger ops for backends whose cost
 * is per dispatch (WebGPU). It is a pass over the ops, not per-architecture code; what it fuses
 * follows from the data flow alone:
 *
 * 1. **Siblings share a matrix**: consecutive projections reading the same input (q/k/v, gate/up)
 *    become one op over their weights concatenated by rows; their outputs become columns of one
 *    buffer (`q|k|v`), and later reads are remapped to those columns.
 * 2. **RMSNorm in the prologue**: a norm whose output only feeds projections is removed; each of
 *    those projections normalizes its input rows itself (`norm`) and reads the norm's input.
 * 3. **GLU in the epilogue**: `act(gate) · up` over two column ranges of one projection's output
 *    is computed by that projection, which then writes only the product (`glu`).
 *
 * Residual adds are already epilogues (`accumulate`), and attention's RoPE and KV store are part of
 * its op. The result computes what the recipe computes (the norm's rounding order aside); the CPU
 * reference keeps interpreting the plain recipe.
 */
import type { Activation, LinearModule } from '../config.ts';
import type { ActRef, AttentionOp, GluOp, LinearOp, ModelRecipe, NormOp, TensorSpec } from './recipe.ts';

/** One projection of a fused linear op: its rows `[column, column + module.out)` of the fused matrix. */
export interface FusedMember {
  module: LinearModule;
  weight: TensorSpec;
  bias?: TensorSpec;
  /** First row of its weight in the fused matrix, and first column of its output. */
  column: number;
}

/** RMSNorm of each input row, computed by the projection before its dot products. */
export interface PrologueNorm {
  weight: TensorSpec; // [cols]
  weightOffset: number;
  eps: number;
}

/** `out[j] = act(y[gate + j]) · y[up + j]` for `j < width`, over the projection's own output columns `y`. */
export interface GluEpilogue {
  act: Activation;
  gate: number;
  up: number;
  width: number;
}

/** `out (+)= glu?(norm?(x) W^T (+ b))` plus each member's LoRA delta, W the members' weights stacked by rows. */
export interface FusedLinearOp {
  op: 'linear';
  layer: number;
  /** Name of the fused matrix: the member's weight name, or the members' joined with `+`. */
  key: string;
  members: FusedMember[];
  /** Rows of the fused matrix (the members' outputs together). */
  rows: number;
  /** Input features. */
  cols: number;
  x: ActRef;
  norm?: PrologueNorm;
  /** `[rows, rows]` columns, or `[rows, glu.width]` with a GLU epilogue. */
  out: ActRef;
  accumulate: boolean;
  glu?: GluEpilogue;
}

/** An op of a fused layer. */
export type FusedOp = FusedLinearOp | NormOp | AttentionOp | GluOp;

/** A recipe after {@link fuseRecipe}. */
export interface FusedRecipe extends Omit<ModelRecipe, 'layers'> {
  layers: FusedOp[][];
}

/** What {@link fuseRecipe} may fuse. */
export interface FuseOptions {
  /** May these sibling projections share one matrix? Default yes. (WebGPU: weights of one format.) */
  concat?: (members: readonly LinearOp[]) => boolean;
  /** Most projections one matrix may hold; default no limit. */
  maxMembers?: number;
  /** Move RMSNorms into their consumers' prologues; default true. */
  norm?: boolean;
  /** May this GLU become `producer`'s epilogue? Default yes. */
  glu?: (producer: FusedLinearOp, glu: GluOp) => boolean;
}

interface Slot {
  layer: number;
  op: FusedOp;
}

const same = (a: ActRef, b: ActRef) => a.buffer === b.buffer && a.offset === b.offset && a.width === b.width;
const overlaps = (a: ActRef, b: ActRef) => a.buffer === b.buffer && a.offset < b.offset + b.width && b.offset < a.offset + a.width;

/** Activations an op reads (in-place outputs included). */
function readsOf(op: FusedOp): ActRef[] {
  switch (op.op) {
    case 'rmsnorm':
      return op.add ? [op.x, op.out] : [op.x];
    case 'linear':
      return op.accumulate ? [op.x, op.out] : [op.x];
    case 'attention':
      return [op.q, op.k, op.v];
    case 'glu':
      return [op.gate, op.up];
  }
}

/** The activation an op writes. */
function writeOf(op: FusedOp): ActRef {
  return op.op === 'glu' ? op.gate : op.out;
}

/** Rewrites every activation reference of `op` with `f`. */
function mapRefs(op: FusedOp, f: (ref: ActRef, write: boolean) => ActRef): FusedOp {
  switch (op.op) {
    case 'rmsnorm':
      return { ...op, x: f(op.x, false), out: f(op.out, true) };
    case 'linear':
      return { ...op, x: f(op.x, false), out: f(op.out, true) };
    case 'attention':
      return { ...op, q: f(op.q, false), k: f(op.k, false), v: f(op.v, false), out: f(op.out, true) };
    case 'glu':
      return { ...op, gate: f(op.gate, true), up: f(op.up, false) };
  }
}

function asFused(op: LinearOp): FusedLinearOp {
  return {
    op: 'linear',
    layer: op.layer,
    key: op.weight.name,
    members: [{ module: op.module, weight: op.weight, bias: op.bias, column: 0 }],
    rows: op.module.out,
    cols: op.module.in,
    x: op.x,
    out: op.out,
    accumulate: op.accumulate,
  };
}

/** Fuses `recipe` (see the file comment); the input is not modified. */
export function fuseRecipe(recipe: ModelRecipe, options: FuseOptions = {}): FusedRecipe {
  const acts: Record<string, number> = { ...recipe.acts };
  const slots: Slot[] = recipe.layers.flatMap((ops, layer) => ops.map((op): Slot => ({ layer, op: op.op === 'linear' ? asFused(op) : op })));
  const plain = recipe.layers.flat();

  /**
   * From slot `from` on, `rewrite` each op's references to `buffer` until an op overwrites it
   * without reading it (that op's reads are rewritten, its write is not).
   */
  const forward = (from: number, buffer: string, rewrite: (ref: ActRef) => ActRef) => {
    for (let i = from; i < slots.length; i++) {
      const op = slots[i].op;
      const w = writeOf(op);
      const fresh = w.buffer === buffer && !readsOf(op).some((r) => r.buffer === buffer);
      slots[i].op = mapRefs(op, (ref, write) => (ref.buffer === buffer && !(write && fresh) ? rewrite(ref) : ref));
      if (fresh) return;
    }
  };
  /** Readers of `ref`'s columns after slot `from`, up to the op that overwrites them. */
  const readers = (from: number, ref: ActRef): number[] => {
    const found: number[] = [];
    for (let i = from; i < slots.length; i++) {
      const op = slots[i].op;
      if (readsOf(op).some((r) => overlaps(r, ref))) found.push(i);
      const w = writeOf(op);
      if (overlaps(w, ref) && !readsOf(op).some((r) => overlaps(r, ref))) break;
    }
    return found;
  };
  const writesBetween = (from: number, to: number, ref: ActRef) => slots.slice(from, to).some((s) => overlaps(writeOf(s.op), ref));

  // 1. Siblings reading one input share a matrix.
  for (let i = 0; i < slots.length; i++) {
    const first = slots[i].op;
    if (first.op !== 'linear' || first.accumulate || first.members.length !== 1) continue;
    let end = i + 1;
    const whole = (r: ActRef) => r.offset === 0 && r.width === acts[r.buffer] && r.buffer !== 'x';
    while (end < slots.length && end - i < (options.maxMembers ?? Infinity)) {
      const next = slots[end].op;
      if (slots[end].layer !== slots[i].layer || next.op !== 'linear' || next.accumulate || !same(next.x, first.x)) break;
      end++;
    }
    const run = slots.slice(i, end).map((s) => s.op as FusedLinearOp);
    const outs = run.map((op) => op.out.buffer);
    if (run.length < 2 || !run.every((op) => whole(op.out)) || new Set(outs).size !== outs.length || outs.includes(first.x.buffer)) continue;
    const originals = run.map((op) => plain.find((p) => p.op === 'linear' && p.weight.name === op.key) as LinearOp);
    if (options.concat && !options.concat(originals)) continue;
    const name = outs.join('|');
    let column = 0;
    const members: FusedMember[] = [];
    const columns = new Map<string, number>();
    for (const op of run) {
      members.push({ ...op.members[0], column });
      columns.set(op.out.buffer, column);
      column += op.rows;
    }
    acts[name] = column;
    const fused: FusedLinearOp = { ...first, key: members.map((m) => m.weight.name).join('+'), members, rows: column, out: { buffer: name, offset: 0, width: column } };
    slots.splice(i, run.length, { layer: slots[i].layer, op: fused });
    for (const [buffer, col] of columns) forward(i + 1, buffer, (ref) => ({ buffer: name, offset: col + ref.offset, width: ref.width }));
  }

  // 2. RMSNorm into the prologue of the projections it feeds.
  if (options.norm !== false) {
    for (let i = 0; i < slots.length; i++) {
      const norm = slots[i].op;
      if (norm.op !== 'rmsnorm' || norm.add || overlaps(norm.x, norm.out)) continue;
      const users = readers(i + 1, norm.out);
      const ok =
        users.length > 0 &&
        users.every((u) => {
          const op = slots[u].op;
          return op.op === 'linear' && same(op.x, norm.out) && !op.norm && !writesBetween(i + 1, u, norm.x);
        });
      if (!ok) continue;
      const prologue: PrologueNorm = { weight: norm.weight, weightOffset: norm.weightOffset, eps: norm.eps };
      for (const u of users) slots[u].op = { ...(slots[u].op as FusedLinearOp), x: norm.x, norm: prologue };
      slots.splice(i, 1);
      i--;
    }
  }

  // 3. GLU into the epilogue of the projection that produced gate and up.
  for (let i = 0; i < slots.length; i++) {
    const glu = slots[i].op;
    if (glu.op !== 'glu' || glu.gate.buffer !== glu.up.buffer) continue;
    let p = i - 1;
    while (p >= 0 && !overlaps(writeOf(slots[p].op), glu.gate) && !overlaps(writeOf(slots[p].op), glu.up)) p--;
    const producer = p >= 0 ? slots[p].op : undefined;
    if (producer?.op !== 'linear' || producer.accumulate || producer.glu || producer.out.buffer !== glu.gate.buffer) continue;
    const gate = glu.gate.offset - producer.out.offset;
    const up = glu.up.offset - producer.out.offset;
    const inside = (c: number) => c >= 0 && c + glu.gate.width <= producer.out.width;
    if (!inside(gate) || !inside(up) || glu.up.width !== glu.gate.width) continue;
    if (slots.slice(p + 1, i).some((s) => readsOf(s.op).some((r) => r.buffer === glu.gate.buffer))) continue;
    // Later readers may read only the product (the pre-activations and up are never written).
    if (readers(i + 1, producer.out).some((u) => readsOf(slots[u].op).some((r) => overlaps(r, producer.out) && !(r.offset >= glu.gate.offset && r.offset + r.width <= glu.gate.offset + glu.gate.width)))) continue;
    const fused: FusedLinearOp = { ...producer, out: glu.gate, glu: { act: glu.act, gate, up, width: glu.gate.width } };
    if (options.glu && !options.glu(fused, glu)) continue;
    slots[p].op = fused;
    slots.splice(i, 1);
    i--;
  }

  // Buffers as wide as their widest use; unused ones dropped.
  const used: Record<string, number> = { x: acts.x };
  for (const { op } of slots) for (const r of [...readsOf(op), writeOf(op)]) used[r.buffer] = Math.max(used[r.buffer] ?? 0, r.offset + r.width);
  const layers: FusedOp[][] = recipe.layers.map(() => []);
  for (const s of slots) layers[s.layer].push(s.op);
  return { ...recipe, acts: used, layers };
}
