/** A one-line progress indicator with an estimate of time left, for long computations on stderr. */

/** Parameters of {@link createProgressLine}. */
export interface CreateProgressLineParameters {
  label: string;
  /** Default process.stderr. */
  stream?: NodeJS.WriteStream;
  /** Minimum ms between redraws; default 200. */
  intervalMs?: number;
}

/** Formats milliseconds as `1h02m`, `3m05s` or `12s`. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s >= 3600) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  if (s >= 60) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${s}s`;
}

/** Returns `update(done, total)`; the final call (done == total) ends the line. */
export function createProgressLine(p: CreateProgressLineParameters): (done: number, total: number) => void {
  const stream = p.stream ?? process.stderr;
  const start = performance.now();
  const interval = p.intervalMs ?? 200;
  let last = -Infinity;
  return (done, total) => {
    const now = performance.now();
    if (done < total && now - last < interval) return;
    last = now;
    const elapsed = now - start;
    const width = 24;
    const filled = total > 0 ? Math.round((done / total) * width) : width;
    const eta = done > 0 ? ((total - done) * elapsed) / done : Number.NaN;
    const line = `${p.label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} ${formatDuration(elapsed)} elapsed, ${Number.isNaN(eta) ? '?' : formatDuration(eta)} left`;
    stream.write(stream.isTTY ? `\r${line}${done >= total ? '\n' : ''}` : done >= total || done % Math.max(1, Math.floor(total / 10)) === 0 ? `${line}\n` : '');
  };
}
