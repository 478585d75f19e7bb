import { OP_LABEL, type Kernel } from './pipelines.ts';

/** Encodes a step's dispatches: one compute pass, or one pass per dispatch with timestamps when profiling. */
export interface Recorder {
  dispatch(kernel: Kernel, bindGroup: GPUBindGroup, x: number, y?: number, z?: number): void;
  /** Ends the open pass; the encoder may then copy buffers. */
  end(): void;
}

/** Per-kernel GPU time of profiled steps, from `timestamp-query`. */
export interface Profiler {
  /** A recorder writing timestamps around each dispatch. */
  recorder(encoder: GPUCommandEncoder): Recorder;
  /** Copies this step's timestamps for reading; call after `recorder(...).end()`. */
  resolve(encoder: GPUCommandEncoder): void;
  /** Waits for the resolved timestamps and adds them to the totals. */
  collect(): Promise<void>;
  /** Milliseconds per kernel name (file name without variant) since the last `reset()`; by op, per {@link profileName}. */
  totals(): Record<string, number>;
  /** Totals by kernel and op from now on (see {@link profileName}), or by kernel alone. */
  byOp: boolean;
  reset(): void;
  destroy(): void;
}

/** A recorder writing all dispatches into one compute pass. */
export function createPassRecorder(encoder: GPUCommandEncoder): Recorder {
  let pass: GPUComputePassEncoder | undefined;
  return {
    dispatch(kernel, bindGroup, x, y = 1, z = 1) {
      if (x === 0 || y === 0 || z === 0) return;
      pass ??= encoder.beginComputePass();
      pass.setPipeline(kernel.pipeline);
      pass.setBindGroup(0, bindGroup);
      pass.dispatchWorkgroups(x, y, z);
    },
    end() {
      pass?.end();
      pass = undefined;
    },
  };
}

/**
 * A dispatch's name in a profile: the kernel's file name (`linear`), and `byOp`, the modules of
 * the op its bind group serves without their layer (`linear @q_proj+k_proj+v_proj`), so a
 * projection's time sums over the layers.
 */
export function profileName(kernel: Kernel, bindGroup: GPUBindGroup, byOp: boolean): string {
  const file = kernel.name.replace(/\.wgsl\[.*$/, '');
  const at = bindGroup.label.indexOf(OP_LABEL);
  if (!byOp || at === -1) return file;
  const modules = bindGroup.label.slice(at + OP_LABEL.length).split('+');
  return `${file}${OP_LABEL}${modules.map((m) => m.replace(/\.weight$/, '').split('.').pop()).join('+')}`;
}

/** Creates a {@link Profiler} for up to `maxDispatches` dispatches per step (needs `timestamp-query`). */
export function createProfiler(device: GPUDevice, maxDispatches = 2048): Profiler {
  const count = maxDispatches * 2;
  const querySet = device.createQuerySet({ type: 'timestamp', count });
  const resolveBuffer = device.createBuffer({ size: count * 8, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
  const readBuffer = device.createBuffer({ size: count * 8, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  let names: string[] = [];
  const sums = new Map<string, number>();
  const profiler: Profiler = {
    byOp: false,
    recorder(encoder) {
      names = [];
      return {
        dispatch(kernel, bindGroup, x, y = 1, z = 1) {
          if (x === 0 || y === 0 || z === 0) return;
          const i = names.length;
          if (i >= maxDispatches) throw new RangeError(`profiler holds ${maxDispatches} dispatches per step`);
          names.push(profileName(kernel, bindGroup, profiler.byOp));
          const pass = encoder.beginComputePass({ timestampWrites: { querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 } });
          pass.setPipeline(kernel.pipeline);
          pass.setBindGroup(0, bindGroup);
          pass.dispatchWorkgroups(x, y, z);
          pass.end();
        },
        end() {},
      };
    },
    resolve(encoder) {
      if (!names.length) return;
      encoder.resolveQuerySet(querySet, 0, names.length * 2, resolveBuffer, 0);
      encoder.copyBufferToBuffer(resolveBuffer, 0, readBuffer, 0, names.length * 16);
    },
    async collect() {
      if (!names.length) return;
      await readBuffer.mapAsync(GPUMapMode.READ, 0, names.length * 16);
      const t = new BigUint64Array(readBuffer.getMappedRange(0, names.length * 16).slice(0));
      readBuffer.unmap();
      names.forEach((name, i) => {
        const ns = Number(t[2 * i + 1] - t[2 * i]);
        sums.set(name, (sums.get(name) ?? 0) + (ns > 0 ? ns / 1e6 : 0));
      });
      names = [];
    },
    totals: () => Object.fromEntries(sums),
    reset: () => sums.clear(),
    destroy() {
      querySet.destroy();
      resolveBuffer.destroy();
      readBuffer.destroy();
    },
  };
  return profiler;
}
