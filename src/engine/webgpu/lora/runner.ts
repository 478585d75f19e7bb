/**
 * LoRA of the forward pass, `y[row] += scale · B (A x[row])` for every row whose slot holds an
 * adapter, in two parts per fused projection (`src/model/arch/fuse.ts`): one shrink dispatch for
 * all of the projection's members (`v = A x`, shaders/lora_shrink.wgsl, with the projection's
 * norm prologue when it has one), recorded right before the projection, and the expand as the
 * projection's epilogue (`linearOp`'s `lora`: it reads v and B and each row's slot from RowInfo).
 *
 * With adapters in pages (unified memory, `pagePool.ts`) both kernels take the `PAGES` variant:
 * they read the adapter's runs through its table in `info`, A (cut along `in`) from the layer's K
 * buffer, B from its V buffer, bound where padded slots bind their A and B.
 *
 * Use per pass: `setRows(rowSlots)` once (writes the tiles with queue.writeBuffer, so call it before
 * submitting the pass's command buffer); a pass without adapter rows records no shrink, and its
 * epilogues add nothing (every row's slot is -1 or empty). Nor does a projection none of whose
 * members the pass's adapters target (PEFT's default q_proj, v_proj leave o, gate|up and down
 * alone): its shrink is not recorded, and its epilogue finds rank 0 for every row.
 */
import type { FusedLinearOp } from '../../../model/arch/fuse.ts';
import type { GpuAct, LinearLora, RecordOp } from '../ops.ts';
import type { BindingKind, PipelineCache } from '../pipelines.ts';
import { bindBuffers } from '../pipelines.ts';
import { LoraSlotLayoutError } from '../../../lora/errors.ts';
import { LORA_TILE_ROWS, planLoraTiles, type LoraTilePlan } from './plan.ts';
import type { GpuLoraGroup, GpuLoraSlotPool } from './slotPool.ts';
import { MAX_FUSED_MEMBERS } from '../fusedRecipe.ts';

/** Outputs per shrink workgroup on GPUs (256 invocations, 32 per output). */
const SHRINK_TPO = 32;
const SHRINK_WG = 256;
/** Invocations (= outputs) per shrink workgroup of the CPU shape. */
const CPU_SHRINK_WG = 16;
/** ...of the broadcast shape: one 8-wide subgroup. */
const BROADCAST_SHRINK_WG = 8;

/** Parameters of {@link GpuLora.shrinkOp}. */
export interface ShrinkOpParameters {
  op: FusedLinearOp;
  /** The projection's input. `// [rows, stride] f32` */
  x: GpuAct;
  /** The projection's vectors and norm (when it has a norm prologue, the shrink normalizes too). */
  vecs: GPUBuffer;
  norm?: { at: number; width: number; eps: number };
}

/** LoRA kernels bound to a slot pool. */
export interface GpuLora {
  readonly pool: GpuLoraSlotPool;
  /** Tiles of the last `setRows`. */
  readonly plan: LoraTilePlan | undefined;
  /** Cuts the pass's rows into tiles and uploads them. `rowSlots.length <= maxRows`. */
  setRows(rowSlots: ArrayLike<number>): LoraTilePlan;
  /** The shrink dispatch of `op` (prepared now; records nothing in a pass without adapter rows). */
  shrinkOp(p: ShrinkOpParameters): RecordOp;
  /** What `op`'s linear kernel binds for its LoRA epilogue; `rowInfo` holds each row's slot. */
  epilogue(op: FusedLinearOp, rowInfo: GPUBuffer): LinearLora;
  /** Frees the scratch and plan buffers (not the pool); idempotent. */
  destroy(): void;
}

/** Parameters of {@link createGpuLora}. */
export interface CreateGpuLoraParameters {
  device: GPUDevice;
  pool: GpuLoraSlotPool;
  /** Most rows a pass has. */
  maxRows: number;
  /** The engine's pipeline cache: kernels are asked for when ops are prepared. */
  pipelines: PipelineCache;
  /** Kernel shape for CPU implementations (lavapipe): one invocation per output over all of K. */
  cpu?: boolean;
  /**
   * With `cpu` on 8-wide subgroups (`LinearShape.loraBroadcast`): a workgroup is one subgroup whose
   * lanes load x together and broadcast it, one-row tiles run a one-row loop (lora_shrink.wgsl BCAST).
   */
  broadcast?: boolean;
  /** With `broadcast`, padded slots: 2 outputs per lane (`LinearShape.loraShrinkPairs`, lora_shrink.wgsl PAIR). */
  pairs?: boolean;
}

/** Creates the shrink kernels' per-pass buffers. */
export function createGpuLora(p: CreateGpuLoraParameters): GpuLora {
  const { device, pool, maxRows, pipelines } = p;
  const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST;
  // v per member at the B rounding (the expand reads it to the rank rounded to bAlign; the shrink writes the zeros past the rank).
  const vStride = MAX_FUSED_MEMBERS * pool.rankB;
  const passRank = (maxRank: number) => Math.ceil(maxRank / pool.bAlign) * pool.bAlign;
  const rowsUniform = device.createBuffer({ label: 'lora.rows', size: 16, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
  const tiles = device.createBuffer({ label: 'lora.tiles', size: 16 * Math.max(1, maxRows), usage }); // [tiles, 4] u32
  const v = device.createBuffer({ label: 'lora.v', size: 4 * Math.max(1, maxRows) * vStride, usage }); // [rows, vStride] f32
  const cpu = p.cpu === true;
  const broadcast = cpu && p.broadcast === true;
  const wg = broadcast ? BROADCAST_SHRINK_WG : cpu ? CPU_SHRINK_WG : SHRINK_WG;
  const pairs = broadcast && p.pairs === true && pool.tableAt === undefined;
  const outputsPerGroup = (cpu ? wg : SHRINK_WG / SHRINK_TPO) * (pairs ? 2 : 1);
  const owned: GPUBuffer[] = [rowsUniform, tiles, v];
  let plan: LoraTilePlan | undefined;
  /** Whether some adapter of the pass targets a member of the group's projection (asked per group once per plan). */
  let targeted = new Map<GpuLoraGroup, boolean>();
  const targets = (group: GpuLoraGroup, used: readonly number[]) => {
    let t = targeted.get(group);
    if (t === undefined) {
      t = used.some((s) => group.rankWords.some((w) => pool.rankAt(s, w) > 0));
      targeted.set(group, t);
    }
    return t;
  };

  return {
    pool,
    get plan() {
      return plan;
    },
    setRows(rowSlots) {
      if (rowSlots.length > maxRows) throw new LoraSlotLayoutError(`a pass of ${rowSlots.length} rows exceeds the ${maxRows} rows the LoRA buffers were made for`);
      for (let i = 0; i < rowSlots.length; i++) {
        const s = rowSlots[i];
        if (!Number.isInteger(s) || s < -1 || s >= pool.slots) throw new LoraSlotLayoutError(`row ${i} names slot ${s}, outside [-1, ${pool.slots})`);
      }
      plan = planLoraTiles({ rowSlots, rankOf: pool.rankOf });
      targeted = new Map();
      device.queue.writeBuffer(rowsUniform, 0, new Uint32Array([plan.count, passRank(plan.maxRank), 0, 0]));
      if (plan.count > 0) device.queue.writeBuffer(tiles, 0, plan.tiles);
      return plan;
    },
    shrinkOp({ op, x, vecs, norm }) {
      if (x.stride % 4 !== 0 || x.offset % 4 !== 0) throw new LoraSlotLayoutError(`x stride ${x.stride} and offset ${x.offset} must be multiples of 4`);
      const group = pool.group(op);
      const bindings: BindingKind[] = ['uniform', 'uniform', 'read', 'read', 'read', 'storage', 'read', 'read'];
      const pages = pool.tableAt !== undefined;
      const kernel = pipelines.kernel('lora_shrink.wgsl', bindings, { F16: pool.dtype === 'f16', NORM: norm !== undefined, PAGES: pages, TILE: LORA_TILE_ROWS, WG: wg, BCAST: broadcast, PAIR: pairs, ...(cpu ? { CPU: true } : { TPO: SHRINK_TPO }) });
      const ranks = [0, 1, 2].map((i) => group.rankWords[Math.min(i, group.rankWords.length - 1)]);
      const values = [group.inPad, pool.rank4, op.members.length, pool.infoStride, ...ranks, x.stride, x.offset, vStride, norm?.width ?? 0, 0, norm?.at ?? 0, pool.tableAt ?? 0, pool.rankB, 0];
      const words = new Uint32Array(values);
      new Float32Array(words.buffer)[11] = norm?.eps ?? 0;
      const params = device.createBuffer({ label: `lora.params[${op.key}]`, size: words.byteLength, usage: GPUBufferUsage.UNIFORM, mappedAtCreation: true });
      new Uint32Array(params.getMappedRange()).set(words);
      params.unmap();
      owned.push(params);
      const bind = bindBuffers(device, kernel, [params, rowsUniform, pool.info, group.a, x.buffer, v, tiles, vecs], op.key);
      return (rec) => {
        if (!plan || plan.count === 0 || !targets(group, plan.slotsUsed)) return;
        const outputs = op.members.length * passRank(plan.maxRank);
        rec.dispatch(kernel, bind, Math.ceil(outputs / outputsPerGroup), plan.count);
      };
    },
    epilogue(op, rowInfo) {
      const group = pool.group(op);
      return { rowInfo, info: pool.info, v, b: group.b, infoStride: pool.infoStride, rankWords: group.rankWords, columns: op.members.map((m) => m.column), vStride, vMember: pool.rankB, f16: pool.dtype === 'f16', b8: pool.bAlign === 8, tableAt: pool.tableAt };
    },
    destroy() {
      for (const b of owned.splice(0)) b.destroy();
    },
  };
}
