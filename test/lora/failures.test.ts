import { describe, expect, it } from 'vitest';
import { createFailureMemory } from '../../src/lora/failures.ts';

describe('failure memory', () => {
  it('reports a failure until the retry time has passed, then forgets it', () => {
    const error = new Error('broken');
    const kept = createFailureMemory<string>(60_000);
    kept.remember('a', error);
    expect(kept.recent('a')).toBe(error);
    expect(kept.recent('b')).toBeUndefined();
    expect([...kept.entries()]).toEqual([['a', error]]);
    kept.forget('a');
    expect(kept.recent('a')).toBeUndefined();
    const retried = createFailureMemory<string>(0);
    retried.remember('a', error);
    expect(retried.recent('a')).toBeUndefined(); // retry at once
    expect([...retried.entries()]).toEqual([]);
  });
});
