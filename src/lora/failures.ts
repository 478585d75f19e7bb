/** Failed adapter loads, each remembered for a while (then retried). */
export interface FailureMemory<K> {
  /** Remembers `error` for `id` from now. */
  remember(id: K, error: unknown): void;
  /** The error of a failure of `id` less than the retry time ago (an older one is forgotten), else undefined. */
  recent(id: K): unknown;
  forget(id: K): void;
  /** Failures remembered now, retry time or not. */
  entries(): IterableIterator<[K, unknown]>;
}

/** Creates a memory of failures reported for `retryAfterMs` each. */
export function createFailureMemory<K>(retryAfterMs: number): FailureMemory<K> {
  const failed = new Map<K, { error: unknown; at: number }>();
  return {
    remember: (id, error) => void failed.set(id, { error, at: performance.now() }),
    recent(id) {
      const f = failed.get(id);
      if (!f) return undefined;
      if (performance.now() - f.at < retryAfterMs) return f.error;
      failed.delete(id);
      return undefined;
    },
    forget: (id) => void failed.delete(id),
    *entries() {
      for (const [id, f] of failed) yield [id, f.error];
    },
  };
}
