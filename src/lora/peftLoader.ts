/**
 * Adapter loading off the main thread: `loadPeftAdapter` (read both files, validate, parse the
 * weights to f32, hash when the files changed) runs on a worker thread, so a cold adapter load
 * does not stall the step loop of the engine serving other requests. The weights come back with
 * their buffers transferred. Where a worker cannot start (a runtime without worker_threads
 * support for this file), or a load fails there, the load runs on the main thread: errors are
 * always the ones `loadPeftAdapter` throws.
 */
import { getAsset, isSea } from 'node:sea';
import { Worker } from 'node:worker_threads';
import { AbortedError } from '../errors.ts';
import { createLogger } from '../log.ts';
import { loadPeftAdapter, type LoadPeftAdapterParameters, type PeftAdapter } from './peft.ts';
import { loraSlotImageLazyWeights } from './slotImage.ts';
import type { PeftThreadRequest } from './peftThread.ts';

/** The single binary's asset holding `peftThread.ts` bundled as one script (scripts/build-binary.ts). */
export const PEFT_THREAD_ASSET = 'lora/peft-thread.cjs';

/** Starts a worker running `peftThread.ts`: from the module beside this one, or in the single binary from its bundled asset. */
function startThread(): Worker {
  return isSea() ? new Worker(getAsset(PEFT_THREAD_ASSET, 'utf8'), { eval: true }) : new Worker(new URL('./peftThread.ts', import.meta.url));
}

/** Loads adapters (see the file comment). */
export interface PeftLoader {
  load(p: LoadPeftAdapterParameters): Promise<PeftAdapter>;
  /** Loads that a worker thread completed (the others ran on the main thread). */
  readonly threadLoads: number;
  /** Stops the worker threads; later loads run on the main thread. Idempotent. */
  close(): Promise<void>;
}

/** Parameters of {@link createPeftLoader}. */
export interface CreatePeftLoaderParameters {
  /** Worker threads; default 1. 0 loads on the main thread. */
  threads?: number;
  /**
   * Slot images from a worker in a SharedArrayBuffer (`LoraSlotImage.bytes`), default true: V8 then
   * does not count each one received as external memory, which ran a full GC every few cold loads;
   * false transfers them in ArrayBuffers (as before; `bench:lora --images`).
   */
  sharedImages?: boolean;
}

type Pending = { resolve: (a: PeftAdapter) => void; fallback: () => void };

/** Creates a loader with `threads` workers (started lazily, unref'd: they never keep the process alive). */
export function createPeftLoader(p: CreatePeftLoaderParameters = {}): PeftLoader {
  const log = createLogger({ name: 'lora-loader' });
  const size = p.threads ?? 1;
  const workers: { worker: Worker; busy: number }[] = [];
  const pending = new Map<number, Pending>();
  let next = 0;
  let closed = false;
  let broken = false;
  let threadLoads = 0;

  const start = (): { worker: Worker; busy: number } | undefined => {
    if (closed || broken || size === 0) return undefined;
    if (workers.length < size) {
      try {
        const worker = startThread();
        worker.unref();
        log.info({ threads: workers.length + 1 }, 'adapter loader thread started');
        const entry = { worker, busy: 0 };
        worker.on('message', (m: { id: number; adapter?: PeftAdapter; failed?: boolean }) => {
          const job = pending.get(m.id);
          if (!job) return;
          pending.delete(m.id);
          entry.busy--;
          if (m.adapter) {
            threadLoads++;
            job.resolve(m.adapter);
          }
          else job.fallback();
        });
        worker.on('error', (err) => {
          log.warn({ err }, 'adapter loader thread failed; loading on the main thread');
          broken = true;
          for (const [id, job] of pending) {
            pending.delete(id);
            job.fallback();
          }
        });
        workers.push(entry);
      } catch (err) {
        log.warn({ err }, 'no adapter loader thread; loading on the main thread');
        broken = true;
        return undefined;
      }
    }
    return workers.reduce((a, b) => (b.busy < a.busy ? b : a));
  };

  return {
    get threadLoads() {
      return threadLoads;
    },
    load(params) {
      const entry = start();
      if (!entry) return loadPeftAdapter(params);
      const { signal, ...rest } = params;
      if (signal?.aborted) return Promise.reject(new AbortedError(`Loading adapter ${params.dir}`, signal.reason));
      return new Promise<PeftAdapter>((resolve, reject) => {
        const id = next++;
        const onAbort = () => {
          pending.delete(id);
          entry.busy--;
          reject(new AbortedError(`Loading adapter ${params.dir}`, signal!.reason));
        };
        signal?.addEventListener('abort', onAbort, { once: true });
        const done = () => signal?.removeEventListener('abort', onAbort);
        pending.set(id, {
          resolve: (a) => {
            done();
            if (a.weightsFromImage) a.weights = loraSlotImageLazyWeights(params.slotImage!, a.image!, a.meta.scale);
            resolve(a);
          },
          fallback: () => {
            done();
            loadPeftAdapter(params).then(resolve, reject);
          },
        });
        entry.busy++;
        const request: PeftThreadRequest = { id, ...rest, sharedImage: p.sharedImages !== false };
        entry.worker.postMessage(request);
      });
    },
    async close() {
      closed = true;
      for (const [id, job] of pending) {
        pending.delete(id);
        job.fallback();
      }
      await Promise.all(workers.splice(0).map((w) => w.worker.terminate()));
    },
  };
}
