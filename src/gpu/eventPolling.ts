/**
 * How this process waits for Dawn's promises (`mapAsync`, `onSubmittedWorkDone`, pipelines made
 * asynchronously). Dawn's node binding resolves them by calling `wgpuInstanceProcessEvents` from a
 * callback it hands to the global `setImmediate` and hands again from inside that callback until no
 * promise is pending: while the GPU runs, the event loop spins and the main thread takes a whole
 * core. On a CPU adapter (lavapipe) the kernels run on that machine's cores, so the spin takes CPU
 * from llvmpipe's threads for the whole step (docs/engine.md, "What a dispatch costs on
 * lavapipe"). With polling on, Dawn's callbacks go to a timer of `intervalMs` instead: the main
 * thread sleeps between polls, and a wait ends at most about `intervalMs` after the GPU finishes.
 *
 * The binding looks `setImmediate` up on the global object each time it schedules, so this replaces
 * `globalThis.setImmediate` (once, process-wide) with a function that passes every other callback
 * to Node's own unchanged. Dawn's callback is told apart by its shape: a native function with no
 * name and no parameters. A promise's `resolve` (`setImmediate(resolve)`, a common way to yield)
 * takes one parameter, bound functions are named `bound …`, and JavaScript functions are not native.
 */

/** Node's `setImmediate` and `setTimeout`, before any replacement (a test's fake timers included). */
const nodeSetImmediate = globalThis.setImmediate;
const nodeSetTimeout = globalThis.setTimeout;
/** Set by {@link setDawnPolling}; overrides {@link defaultMs}. */
let chosenMs: number | undefined;
/** Set by devices ({@link defaultDawnPolling}): a CPU adapter's interval. */
let defaultMs = 0;
let installed = false;

/** True for a callback shaped as Dawn's binding hands to `setImmediate`: native, anonymous, no parameters. */
export function isDawnCallback(fn: unknown): boolean {
  return typeof fn === 'function' && fn.length === 0 && fn.name === '' && Function.prototype.toString.call(fn).endsWith('{ [native code] }');
}

function pollingSetImmediate(this: unknown, callback: (...args: unknown[]) => void, ...args: unknown[]) {
  const ms = dawnPollingMs();
  if (ms > 0 && isDawnCallback(callback)) return nodeSetTimeout(callback, ms, ...args);
  return nodeSetImmediate(callback, ...args);
}

function checked(ms: number): number {
  if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`Dawn event polling every ${ms} ms: give 0 (Dawn's own spin) or a positive number of milliseconds`);
  return ms;
}

function install(): void {
  if (installed || dawnPollingMs() === 0) return;
  installed = true;
  globalThis.setImmediate = Object.assign(pollingSetImmediate, nodeSetImmediate) as typeof setImmediate;
}

/**
 * Polls Dawn's events every `ms` milliseconds (> 0) instead of spinning, or (0) leaves Dawn's spin
 * as it is; `undefined` withdraws the choice (devices' defaults apply again). Process-wide: every
 * Dawn device of this process waits the same way. Returns the previous choice, to restore it.
 */
export function setDawnPolling(ms: number | undefined): number | undefined {
  const previous = chosenMs;
  chosenMs = ms === undefined ? undefined : checked(ms);
  install();
  return previous;
}

/** A device's interval (`acquireGpu` on a CPU adapter), in effect while none is chosen with {@link setDawnPolling}. */
export function defaultDawnPolling(ms: number): void {
  defaultMs = checked(ms);
  install();
}

/** Milliseconds between Dawn's polls; 0 while Dawn spins. */
export function dawnPollingMs(): number {
  return chosenMs ?? defaultMs;
}
