/** Times one pass per submit: GPU timestamps when asked for, else submit-to-done wall time (the probes in roofline.ts and `bench:linear -- --probe`). */
export interface PassTimer {
  /** Spread into the timed pass's descriptor (compute or render): its `timestampWrites`, or nothing. */
  readonly writes: { timestampWrites?: GPUComputePassTimestampWrites };
  /** Submits `encoder`, whose one pass took {@link writes}, and resolves to that pass's milliseconds. */
  time(encoder: GPUCommandEncoder): Promise<number>;
  destroy(): void;
}

/** A {@link PassTimer} on `device`; `timestamps` needs the device's `timestamp-query` feature. */
export function createPassTimer(device: GPUDevice, timestamps: boolean): PassTimer {
  const querySet = timestamps ? device.createQuerySet({ type: 'timestamp', count: 2 }) : undefined;
  const resolve = querySet && device.createBuffer({ size: 16, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
  const read = querySet && device.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  return {
    writes: querySet ? { timestampWrites: { querySet, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 } } : {},
    async time(encoder) {
      if (querySet) {
        encoder.resolveQuerySet(querySet, 0, 2, resolve!, 0);
        encoder.copyBufferToBuffer(resolve!, 0, read!, 0, 16);
      }
      const t0 = performance.now();
      device.queue.submit([encoder.finish()]);
      await device.queue.onSubmittedWorkDone();
      const wall = performance.now() - t0;
      if (!querySet) return wall;
      await read!.mapAsync(GPUMapMode.READ);
      const t = new BigUint64Array(read!.getMappedRange().slice(0));
      read!.unmap();
      return Number(t[1] - t[0]) / 1e6;
    },
    destroy() {
      querySet?.destroy();
      resolve?.destroy();
      read?.destroy();
    },
  };
}
