/**
 * `npm run bench:linear -- --probe`: the same bytes streamed through each way a WGSL kernel can
 * load them (shaders/load_probe.wgsl), timed side by side in interleaved rounds, to find a load
 * form cheaper than the storage-buffer loads the batch-1 linear kernel and the roofline probe use.
 * On Mesa's lavapipe a storage-buffer load whose offset is not a compile-time constant is a loop
 * over the 8 SIMD lanes (bounds check and branch per 32-bit word); textures, storage textures and
 * uniform buffers take other code paths (docs/engine.md "Load forms on lavapipe").
 */
import { loadavg } from 'node:os';
import type { Gpu } from '../../../src/gpu/device.ts';
import { createPassTimer } from '../../../src/engine/webgpu/passTimer.ts';
import { shaderSource } from '../../../src/engine/webgpu/shaderSource.ts';
import { LOAD_FORMS, RESIDENT_BYTES, VERTEX_CHUNKS, WORKGROUP, expectedXor, groups, invocations, probeData, type LoadForm, type LoadFormName } from './loadForms.ts';
import { median } from './stats.ts';

/** Width of the vertex form's check target (r32uint: 256 bytes per row, the copy alignment). */
const TARGET_WIDTH = 64;
/** Dispatches per form and round; the round's figure is the fastest (a busy machine only ever slows a dispatch). */
const RUNS_PER_ROUND = 5;

/** Parameters of {@link createLoadProbe}. */
export interface CreateLoadProbeParameters {
  device: GPUDevice;
  /** Weight rows (texture rows across layers). */
  rows: number;
  /** 16-byte chunks per row (a multiple of 4: the paired form reads 2 at a time, the 4-row forms 4 rows of chunks / 4). */
  chunks: number;
  /** Texture rows per array layer (at most the device's maxTextureDimension2D). */
  height: number;
  forms: readonly LoadFormName[];
  /** The bytes, rows · chunks · 16 of them (default: a fixed hash of the word index). */
  data?: Uint32Array;
  /** Time with GPU timestamps (the device's `timestamp-query`) instead of the wall clock. */
  timestamps?: boolean;
}

/** The probe's resources on one device. */
export interface LoadProbe {
  /** Bytes a form reads per dispatch (the vertex form: whole vertices only). */
  bytesOf(form: LoadFormName): number;
  /** One dispatch of `form`; resolves to its milliseconds (GPU timestamps when `timestamps`, else submit-to-done). */
  time(form: LoadFormName): Promise<number>;
  /** One dispatch of `form` writing every invocation's XOR of what it read. */
  check(form: LoadFormName): Promise<Uint32Array>;
  destroy(): void;
}

/** Uploads the probe's bytes as a storage buffer, a uniform buffer and the textures `forms` read. */
export function createLoadProbe(p: CreateLoadProbeParameters): LoadProbe {
  const { device, rows, chunks, height } = p;
  if (chunks % 4 !== 0) throw new RangeError(`load probe: chunks per row must be a multiple of 4 (the paired form reads 2 at a time, the 4-row forms 4 rows of chunks / 4), got ${chunks}`);
  const bytes = rows * chunks * 16;
  if (bytes < RESIDENT_BYTES) throw new RangeError(`load probe: ${bytes} bytes is less than the ${RESIDENT_BYTES} the resident forms read`);
  const data = p.data ?? probeData(bytes / 4);
  const layers = Math.ceil(rows / height);
  const made: { destroy(): void }[] = [];
  const track = <T extends { destroy(): void }>(x: T) => (made.push(x), x);

  const buffer = track(device.createBuffer({ label: 'probe.buffer', size: bytes, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.VERTEX | GPUBufferUsage.COPY_DST }));
  device.queue.writeBuffer(buffer, 0, data);
  const uniform = track(device.createBuffer({ label: 'probe.uniform', size: RESIDENT_BYTES, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST }));
  device.queue.writeBuffer(uniform, 0, data, 0, RESIDENT_BYTES / 4);
  const textures = new Map<number, GPUTexture>();
  const texture = (perChunk: 1 | 2 | 4, storage: boolean): GPUTexture => {
    const key = perChunk + (storage ? 8 : 0);
    let t = textures.get(key);
    if (!t) {
      const format = ({ 1: 'rgba32uint', 2: 'rg32uint', 4: 'r32uint' } as const)[perChunk];
      const size = [chunks * perChunk, height, layers];
      t = track(device.createTexture({ label: `probe.${format}`, size, format, usage: GPUTextureUsage.TEXTURE_BINDING | GPUTextureUsage.COPY_DST | (storage ? GPUTextureUsage.STORAGE_BINDING : 0) }));
      // Texture row r holds weight row r: the same bytes in the same order (the last layer's rows past `rows` stay zero).
      const full = Math.floor(rows / height);
      if (full > 0) device.queue.writeTexture({ texture: t }, data, { bytesPerRow: chunks * 16, rowsPerImage: height }, [chunks * perChunk, height, full]);
      if (rows % height) device.queue.writeTexture({ texture: t, origin: [0, 0, full] }, data, { offset: full * height * chunks * 16, bytesPerRow: chunks * 16 }, [chunks * perChunk, rows % height, 1]);
      textures.set(key, t);
    }
    return t;
  };
  const dst = track(device.createBuffer({ label: 'probe.dst', size: Math.max(...p.forms.map((f) => invocations(LOAD_FORMS[f], rows, chunks))) * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC }));
  const timer = track(createPassTimer(device, p.timestamps === true));

  /** A prepared form: records its dispatch (or draw) into an encoder; `copyOut` copies what its check wrote into `read`. */
  type Prepared = { record(encoder: GPUCommandEncoder, check: boolean): void; copyOut(encoder: GPUCommandEncoder, read: GPUBuffer): void; invocations: number; bytes: number };
  /** The timer's writes for a timed pass; a check's pass is not timed. */
  const writes = (check: boolean) => (check ? {} : timer.writes);
  const paramsGroup = (layout: GPUBindGroupLayout, words: number[], entries: GPUBindGroupEntry[]) => {
    const u = track(device.createBuffer({ size: 32, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST }));
    device.queue.writeBuffer(u, 0, new Uint32Array([...words, 0, 0, 0]));
    return device.createBindGroup({ layout, entries: [{ binding: 0, resource: { buffer: u } }, ...entries] });
  };

  const prepareCompute = (name: LoadFormName, form: LoadForm): Prepared => {
    const source: GPUBindGroupLayoutEntry =
      form.source === 'uniform64k'
        ? { binding: 1, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'uniform' } }
        : form.source === 'texture'
          ? { binding: 1, visibility: GPUShaderStage.COMPUTE, texture: { sampleType: 'uint', viewDimension: '2d-array' } }
          : form.source === 'storageTexture'
            ? { binding: 1, visibility: GPUShaderStage.COMPUTE, storageTexture: { access: 'read-only', format: 'rgba32uint', viewDimension: '2d-array' } }
            : { binding: 1, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'read-only-storage' } };
    const layout = device.createBindGroupLayout({
      label: name,
      entries: [{ binding: 0, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'uniform' } }, source, { binding: 2, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'storage' } }],
    });
    const defines = { ...form.defines, ...(form.pattern === 'stream' ? { STREAM: true } : {}), WG: WORKGROUP[form.pattern] };
    const pipeline = device.createComputePipeline({
      label: name,
      layout: device.createPipelineLayout({ bindGroupLayouts: [layout] }),
      compute: { module: device.createShaderModule({ label: name, code: shaderSource('load_probe.wgsl', defines) }), entryPoint: 'main' },
    });
    const resource: GPUBindingResource =
      form.source === 'uniform64k'
        ? { buffer: uniform }
        : form.source === 'buffer64k'
          ? { buffer, size: RESIDENT_BYTES }
          : form.source === 'buffer'
            ? { buffer }
            : texture(form.texelsPerChunk!, form.source === 'storageTexture').createView({ dimension: '2d-array' });
    const group = (check: boolean) =>
      paramsGroup(layout, [form.pattern === 'stream' ? rows * chunks : chunks, rows, height, chunks * (form.texelsPerChunk ?? 1), check ? 1 : 0], [
        { binding: 1, resource },
        { binding: 2, resource: { buffer: dst } },
      ]);
    const groupsFor = { true: group(true), false: group(false) };
    const n = invocations(form, rows, chunks);
    return {
      invocations: n,
      bytes,
      record(encoder, check) {
        const pass = encoder.beginComputePass(writes(check));
        pass.setPipeline(pipeline);
        pass.setBindGroup(0, groupsFor[`${check}`]);
        pass.dispatchWorkgroups(groups(form, rows, chunks));
        pass.end();
      },
      copyOut: (encoder, read) => encoder.copyBufferToBuffer(dst, 0, read, 0, n * 4),
    };
  };

  const prepareVertex = (name: LoadFormName, form: LoadForm): Prepared => {
    const n = invocations(form, rows, chunks);
    const targetHeight = Math.ceil(n / TARGET_WIDTH);
    const target = track(device.createTexture({ label: 'probe.target', size: [TARGET_WIDTH, targetHeight], format: 'r32uint', usage: GPUTextureUsage.RENDER_ATTACHMENT | GPUTextureUsage.COPY_SRC }));
    const view = target.createView();
    const layout = device.createBindGroupLayout({ label: name, entries: [{ binding: 0, visibility: GPUShaderStage.VERTEX, buffer: { type: 'uniform' } }] });
    const module = device.createShaderModule({ label: name, code: shaderSource('load_probe.wgsl', form.defines) });
    const pipeline = device.createRenderPipeline({
      label: name,
      layout: device.createPipelineLayout({ bindGroupLayouts: [layout] }),
      vertex: {
        module,
        entryPoint: 'vs',
        buffers: [{ arrayStride: VERTEX_CHUNKS * 16, stepMode: 'vertex', attributes: Array.from({ length: VERTEX_CHUNKS }, (_, i) => ({ shaderLocation: i, offset: i * 16, format: 'uint32x4' as const })) }],
      },
      fragment: { module, entryPoint: 'fs', targets: [{ format: 'r32uint' }] },
      primitive: { topology: 'point-list' },
    });
    const group = (check: boolean) => paramsGroup(layout, [0, 0, targetHeight, TARGET_WIDTH, check ? 1 : 0], []);
    const groupsFor = { true: group(true), false: group(false) };
    return {
      invocations: n,
      bytes: n * VERTEX_CHUNKS * 16,
      record(encoder, check) {
        // Timed draws leave the target as it is (their points are clipped); a check clears it first.
        const pass = encoder.beginRenderPass({ colorAttachments: [{ view, loadOp: check ? 'clear' : 'load', storeOp: 'store', clearValue: [0, 0, 0, 0] }], ...writes(check) });
        pass.setPipeline(pipeline);
        pass.setBindGroup(0, groupsFor[`${check}`]);
        pass.setVertexBuffer(0, buffer, 0, n * VERTEX_CHUNKS * 16);
        pass.draw(n);
        pass.end();
      },
      copyOut: (encoder, read) => encoder.copyTextureToBuffer({ texture: target }, { buffer: read, bytesPerRow: TARGET_WIDTH * 4 }, [TARGET_WIDTH, targetHeight]),
    };
  };

  const prepared = new Map<LoadFormName, Prepared>();
  for (const name of p.forms) {
    const form: LoadForm = LOAD_FORMS[name];
    prepared.set(name, form.pattern === 'vertex' ? prepareVertex(name, form) : prepareCompute(name, form));
  }
  const get = (name: LoadFormName) => {
    const f = prepared.get(name);
    if (!f) throw new RangeError(`load probe: form ${name} was not prepared`);
    return f;
  };

  return {
    bytesOf: (name) => get(name).bytes,
    async time(name) {
      const encoder = device.createCommandEncoder();
      get(name).record(encoder, false);
      return timer.time(encoder);
    },
    async check(name) {
      const f = get(name);
      const encoder = device.createCommandEncoder();
      f.record(encoder, true);
      const read = device.createBuffer({ size: Math.ceil(f.invocations / TARGET_WIDTH) * TARGET_WIDTH * 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
      f.copyOut(encoder, read);
      device.queue.submit([encoder.finish()]);
      await read.mapAsync(GPUMapMode.READ);
      const out = new Uint32Array(read.getMappedRange().slice(0, f.invocations * 4));
      read.destroy();
      return out;
    },
    destroy() {
      for (const x of made) x.destroy();
    },
  };
}

/** Parameters of {@link runLoadProbe}. */
export interface RunLoadProbeParameters {
  gpu: Gpu;
  /** Bytes per form (default 100 MB: past the CPU's last-level cache). */
  bytes?: number;
  /** 16-byte chunks per weight row (default 192: a 1,536-wide f16 row, bench-135m's down projection). */
  chunks?: number;
  rounds: number;
  forms?: readonly LoadFormName[];
  log: (line: string) => void;
}

/** One form's figure. */
export interface LoadProbeFigure {
  form: LoadFormName;
  /** Median over the rounds of each round's best of {@link RUNS_PER_ROUND} dispatches. */
  gbPerSecond: number;
  /** gbPerSecond / the first form's (above 1: faster than the batch-1 kernel's loads). */
  ratio: number;
  /** Only the first 64 KiB, re-read (cache-resident). */
  resident: boolean;
  loadAverage: number;
}

/** The result of {@link runLoadProbe}. */
export interface LoadProbeResult {
  bytes: number;
  rows: number;
  chunks: number;
  timestamps: boolean;
  figures: LoadProbeFigure[];
}

/** Checks every form against the CPU, then times them in interleaved rounds (the order reverses every other round). */
export async function runLoadProbe(p: RunLoadProbeParameters): Promise<LoadProbeResult> {
  const { device } = p.gpu;
  const forms = p.forms ?? (Object.keys(LOAD_FORMS) as LoadFormName[]);
  const chunks = p.chunks ?? 192;
  const rows = Math.ceil((p.bytes ?? 100e6) / (chunks * 16));
  const height = Math.min(8192, p.gpu.adapter.limits.maxTextureDimension2D);
  const timestamps = p.gpu.hasTimestamps;
  const probe = createLoadProbe({ device, rows, chunks, height, forms, timestamps });
  const data = probeData((rows * chunks * 16) / 4);
  try {
    for (const form of forms) {
      const got = await probe.check(form);
      const want = expectedXor(form, data, rows, chunks);
      const bad = want.findIndex((w, i) => got[i] !== w);
      if (bad >= 0) throw new Error(`load probe: form ${form} read wrong bytes (invocation ${bad}: ${got[bad]} != ${want[bad]})`);
    }
    p.log(`${forms.length} load forms read the right bytes; timing ${((rows * chunks * 16) / 1e6).toFixed(1)} MB each, ${p.rounds} rounds`);
    const gb = new Map<LoadFormName, number[]>(forms.map((f) => [f, []]));
    const loads: number[] = [];
    for (let round = 0; round <= p.rounds; round++) {
      // Round 0 warms every pipeline (lavapipe compiles at first dispatch); it is not recorded.
      const order = round % 2 === 0 ? forms : [...forms].reverse();
      for (const form of order) {
        let best = Infinity;
        for (let i = 0; i < RUNS_PER_ROUND; i++) best = Math.min(best, await probe.time(form));
        if (round > 0) gb.get(form)!.push(probe.bytesOf(form) / best / 1e6);
      }
      if (round > 0) {
        loads.push(loadavg()[0]);
        p.log(`round ${round}/${p.rounds} done, load average ${loads.at(-1)!.toFixed(2)}`);
      }
    }
    const base = median(gb.get(forms[0])!);
    const loadAverage = median(loads);
    return {
      bytes: rows * chunks * 16,
      rows,
      chunks,
      timestamps,
      figures: forms.map((form) => ({ form, gbPerSecond: median(gb.get(form)!), ratio: median(gb.get(form)!) / base, resident: Boolean((LOAD_FORMS[form] as LoadForm).resident), loadAverage })),
    };
  } finally {
    probe.destroy();
  }
}

/** The bench's summary lines, one per form. */
export function loadProbeLines(r: LoadProbeResult, device: string): string[] {
  const first = r.figures[0]?.form;
  return [
    `openlora load forms on ${device}: ${(r.bytes / 1e6).toFixed(1)} MB per form (${r.rows} rows of ${r.chunks} 16-byte chunks), ${r.timestamps ? 'GPU timestamps' : 'wall clock'}, median of interleaved rounds`,
    ...r.figures.map((f) => `  ${f.form.padEnd(22)} ${f.gbPerSecond.toFixed(2).padStart(6)} GB/s  ${f.ratio.toFixed(2)}x ${first}${f.resident ? '  (64 KiB re-read: cache-resident)' : ''}  (load average ${f.loadAverage.toFixed(2)})`),
  ];
}
