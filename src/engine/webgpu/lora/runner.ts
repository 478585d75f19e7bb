/**
 * Encodes LoRA for one projection of a forward step: `y[row] += scale · B (A x[row])` for every
 * row whose slot is >= 0, as shrink then expand (shaders/lora_shrink.wgsl, lora_expand.wgsl), in
 * SGMV form for runs of rows sharing a slot (prefill) and BGMV form for the rest (decode).
 *
 * Use per step: `setRows(rowSlots)` once (writes the row plan with queue.writeBuffer, so call it
 * before submitting the step's command buffer), then `encode({ pass, layer, projection, x, y })`
 * right after each base `linear()` that wrote `y`. Pipelines, uniforms and bind groups are created
 * once and reused.
 */
import { linearModule, type Projection } from '../../../model/config.ts';
import type { BindingKind, Kernel, PipelineCache } from '../pipelines.ts';
import { LoraSlotLayoutError } from '../../../lora/errors.ts';
import { planLoraRows, type LoraRowPlan } from './plan.ts';
import type { Recorder } from '../recorder.ts';
import { loraInfoIndex, type GpuLoraSlotPool } from './slotPool.ts';

/** Rows per SGMV workgroup (each weight load is reused this many times). */
export const LORA_SGMV_ROWS = 4;
/** Rank outputs per shrink workgroup (256 invocations / 32 per output). */
const SHRINK_OUTPUTS_PER_WORKGROUP = 8;
/** Rank outputs (= invocations) per shrink workgroup of the CPU shape. */
const CPU_SHRINK_OUTPUTS_PER_WORKGROUP = 16;
/** Output features per expand workgroup (256 invocations × 4). */
const EXPAND_OUTPUTS_PER_WORKGROUP = 1024;
/** Invocations per expand workgroup of the CPU shape (4 outputs each). */
const CPU_EXPAND_WORKGROUP = 64;

/** A matrix of activations in a storage buffer. */
export interface LoraActivations {
  buffer: GPUBuffer;
  /** Elements between rows (x: multiple of 4). */
  stride: number;
  /** Element of the row holding feature 0 (x: multiple of 4); default 0. */
  offset?: number;
}

/** Parameters of {@link GpuLora.encode}. */
export interface EncodeLoraParameters {
  /** An open compute pass of the step's encoder, or the step's {@link Recorder} (the engine's forward pass, profiled or not). */
  pass: GPUComputePassEncoder | Recorder;
  layer: number;
  projection: Projection;
  /** Input of the projection. `// [rows, stride] f32` */
  x: LoraActivations;
  /** Output of the projection, accumulated into. `// [rows, stride] f32` */
  y: LoraActivations;
}

/** LoRA kernels bound to a slot pool. */
export interface GpuLora {
  readonly pool: GpuLoraSlotPool;
  /** Rows of the last `setRows`. */
  readonly plan: LoraRowPlan | undefined;
  /** Groups the step's rows by slot and uploads the grouping. `rowSlots.length <= maxRows`. */
  setRows(rowSlots: ArrayLike<number>): LoraRowPlan;
  /** Uploads a grouping made elsewhere (e.g. by the scheduler, or a test's empty segments). */
  setPlan(plan: LoraRowPlan): void;
  /** Records shrink + expand for one projection; nothing when no row has an adapter. */
  encode(p: EncodeLoraParameters): void;
  /** Frees the scratch and plan buffers (not the pool); idempotent. */
  destroy(): void;
}

/** Parameters of {@link createGpuLora}. */
export interface CreateGpuLoraParameters {
  device: GPUDevice;
  pool: GpuLoraSlotPool;
  /** Most rows a step has. */
  maxRows: number;
  /** The engine's pipeline cache: the kernels are asked for at creation, and the caller warms them (`pipelines.warm()`) before encoding. */
  pipelines: PipelineCache;
  /**
   * Kernel shape for CPU implementations (lavapipe, `GpuAdapterSummary.software`): shrink without
   * workgroup reductions, one invocation per rank output over all of K. Default false (GPU shape).
   */
  cpu?: boolean;
}

type Form = 'sgmv' | 'bgmv';

/** Creates the LoRA kernels and their per-step buffers. */
export function createGpuLora(p: CreateGpuLoraParameters): GpuLora {
  const { device, pool, maxRows, pipelines } = p;
  const f16 = pool.dtype === 'f16';
  const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST;
  const rowsUniform = device.createBuffer({ label: 'lora.rows', size: 16, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
  const segIndptr = device.createBuffer({ label: 'lora.segIndptr', size: 4 * (maxRows + 2), usage }); // [segments + 1] u32
  const segSlot = device.createBuffer({ label: 'lora.segSlot', size: 4 * (maxRows + 1), usage }); // [segments] i32
  const rowSlot = device.createBuffer({ label: 'lora.rowSlot', size: 4 * (maxRows + 1), usage }); // [rows] i32
  const v = device.createBuffer({ label: 'lora.v', size: 4 * maxRows * pool.maxRank, usage }); // [rows, maxRank] f32
  const base: BindingKind[] = ['uniform', 'uniform', 'read', 'read', 'read', 'storage'];
  const cpu = p.cpu === true;
  const shrinkOutputs = cpu ? CPU_SHRINK_OUTPUTS_PER_WORKGROUP : SHRINK_OUTPUTS_PER_WORKGROUP;
  const expandOutputs = cpu ? CPU_EXPAND_WORKGROUP * 4 : EXPAND_OUTPUTS_PER_WORKGROUP;
  const variant = (file: string, form: Form): Kernel =>
    pipelines.kernel(file, form === 'sgmv' ? [...base, 'read', 'read'] : [...base, 'read'], {
      F16: f16,
      SGMV: form === 'sgmv',
      ROWS: form === 'sgmv' ? LORA_SGMV_ROWS : 1,
      ...(cpu ? { CPU: true, WG: file === 'lora_shrink.wgsl' ? CPU_SHRINK_OUTPUTS_PER_WORKGROUP : CPU_EXPAND_WORKGROUP } : {}),
    });
  // Every variant asked for now, so the backend compiles them at load (not in the first LoRA request).
  const kernels: Record<Form, { shrink: Kernel; expand: Kernel }> = {
    sgmv: { shrink: variant('lora_shrink.wgsl', 'sgmv'), expand: variant('lora_expand.wgsl', 'sgmv') },
    bgmv: { shrink: variant('lora_shrink.wgsl', 'bgmv'), expand: variant('lora_expand.wgsl', 'bgmv') },
  };
  const params = new Map<string, GPUBuffer>();
  const groups = new Map<string, GPUBindGroup>();
  const bufferIds = new WeakMap<GPUBuffer, number>();
  let nextBufferId = 0;
  const idOf = (b: GPUBuffer) => {
    let id = bufferIds.get(b);
    if (id === undefined) bufferIds.set(b, (id = nextBufferId++));
    return id;
  };
  let plan: LoraRowPlan | undefined;
  let maxRankUsed = 0;

  const paramsBuffer = (layer: number, projection: Projection, x: LoraActivations, y: LoraActivations): GPUBuffer => {
    const [inPad, outPad] = pool.padded(projection);
    const out = linearModule(pool.config, projection).out;
    const values = [inPad, outPad, pool.maxRank, pool.infoStride, loraInfoIndex(pool.config, layer, projection), x.stride, x.offset ?? 0, y.stride, y.offset ?? 0, out, 0, 0];
    const key = values.join(',');
    let buffer = params.get(key);
    if (!buffer) {
      buffer = device.createBuffer({ label: `lora.params[${layer}.${projection}]`, size: values.length * 4, usage: GPUBufferUsage.UNIFORM, mappedAtCreation: true });
      new Uint32Array(buffer.getMappedRange()).set(values);
      buffer.unmap();
      params.set(key, buffer);
    }
    return buffer;
  };

  const bindGroup = (k: Kernel, form: Form, uniform: GPUBuffer, weights: GPUBuffer, input: GPUBuffer, output: GPUBuffer): GPUBindGroup => {
    const key = `${k.name}|${idOf(uniform)}|${idOf(weights)}|${idOf(input)}|${idOf(output)}`;
    let group = groups.get(key);
    if (!group) {
      const buffers = [uniform, rowsUniform, pool.info, weights, input, output, ...(form === 'sgmv' ? [segIndptr, segSlot] : [rowSlot])];
      group = device.createBindGroup({ label: key, layout: k.layout, entries: buffers.map((buffer, binding) => ({ binding, resource: { buffer } })) });
      groups.set(key, group);
    }
    return group;
  };

  const setPlan = (next: LoraRowPlan): void => {
    if (next.rows > maxRows || next.segments > maxRows + 1) throw new LoraSlotLayoutError(`a step of ${next.rows} rows exceeds the ${maxRows} rows the LoRA buffers were made for`);
    plan = next;
    maxRankUsed = Math.max(0, ...plan.slotsUsed.map((s) => pool.rankOf(s)));
    device.queue.writeBuffer(rowsUniform, 0, new Uint32Array([plan.rows, plan.segments, 0, 0]));
    device.queue.writeBuffer(segIndptr, 0, plan.segIndptr);
    if (plan.segments > 0) device.queue.writeBuffer(segSlot, 0, plan.segSlot);
    if (plan.rows > 0) device.queue.writeBuffer(rowSlot, 0, plan.rowSlot);
  };

  return {
    pool,
    get plan() {
      return plan;
    },
    setRows(rowSlots) {
      for (let i = 0; i < rowSlots.length; i++) {
        const s = rowSlots[i];
        if (!Number.isInteger(s) || s < -1 || s >= pool.slots) throw new LoraSlotLayoutError(`row ${i} names slot ${s}, outside [-1, ${pool.slots})`);
      }
      const next = planLoraRows({ rowSlots });
      setPlan(next);
      return next;
    },
    setPlan,
    encode({ pass, layer, projection, x, y }) {
      if (!plan || maxRankUsed === 0) return;
      if (x.stride % 4 !== 0 || (x.offset ?? 0) % 4 !== 0) throw new LoraSlotLayoutError(`x stride ${x.stride} and offset ${x.offset ?? 0} must be multiples of 4`);
      const uniform = paramsBuffer(layer, projection, x, y);
      const [, out] = pool.padded(projection);
      const dispatch = (k: Kernel, group: GPUBindGroup, gx: number, gy: number, gz: number): void => {
        if ('dispatch' in pass) return pass.dispatch(k, group, gx, gy, gz);
        pass.setPipeline(k.pipeline);
        pass.setBindGroup(0, group);
        pass.dispatchWorkgroups(gx, gy, gz);
      };
      const forms: Array<[Form, number, number]> = [];
      if (plan.sgmvSegments > 0) forms.push(['sgmv', plan.segments, Math.ceil(plan.maxSegmentRows / LORA_SGMV_ROWS)]);
      if (plan.bgmvRows > 0) forms.push(['bgmv', plan.rows, 1]);
      for (const [form, wy, wz] of forms) {
        const k = kernels[form].shrink;
        dispatch(k, bindGroup(k, form, uniform, pool.a(layer, projection), x.buffer, v), Math.ceil(maxRankUsed / shrinkOutputs), wy, wz);
      }
      for (const [form, wy, wz] of forms) {
        const k = kernels[form].expand;
        dispatch(k, bindGroup(k, form, uniform, pool.bt(layer, projection), v, y.buffer), Math.ceil(out / expandOutputs), wy, wz);
      }
    },
    destroy() {
      for (const b of [rowsUniform, segIndptr, segSlot, rowSlot, v, ...params.values()]) b.destroy();
      params.clear();
      groups.clear();
    },
  };
}
