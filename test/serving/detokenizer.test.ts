/**
 * Streaming detokenization with real vocabularies: deltas plus the final flush always equal
 * decoding all ids at once, also when a character is split across tokens or generation stops
 * in the middle of one (the text a client was charged for is all there).
 */
import { describe, expect, it } from 'vitest';
import { IncrementalDetokenizer } from '../../src/serving/detokenizer.ts';
import { packageTokenizer, TOKENIZER_PACKAGES } from '../fixtures/tokenizers.ts';

const TEXTS = ['Héllo wörld — naïve café', '你好，世界！こんにちは', 'emoji 🦙🚀👩‍👩‍👧 and ZWJ', 'ends mid-character é'];

describe.each(TOKENIZER_PACKAGES)('%s: incremental detokenizer', (name) => {
  const { tokenizer } = packageTokenizer(name);
  const stream = (ids: number[]) => {
    const detok = new IncrementalDetokenizer(tokenizer);
    const deltas = ids.map((id) => detok.push(id));
    return { deltas, tail: detok.flush() };
  };

  it('deltas join to decode(ids) for every prefix of the ids, holding back split characters', () => {
    for (const text of TEXTS) {
      const ids = tokenizer.encode(text);
      for (let n = 1; n <= ids.length; n++) {
        const { deltas, tail } = stream(ids.slice(0, n));
        expect(deltas.join('') + tail, `${JSON.stringify(text)} cut after ${n} tokens`).toBe(tokenizer.decode(ids.slice(0, n)));
        expect(deltas.some((d) => d.includes('\uFFFD'))).toBe(false); // a partial character is never streamed
      }
      expect(stream(ids).deltas.join('')).toBe(text);
    }
  });

  it('a stream cut inside a multi-byte character flushes the replacement characters it was charged for', () => {
    const ids = tokenizer.encode('🦙');
    if (ids.length < 2) return; // the vocabulary has the whole character as one token
    const { deltas, tail } = stream(ids.slice(0, -1));
    expect(deltas.join('')).toBe('');
    expect(tail).toMatch(/^\uFFFD+$/);
    expect(tail).toBe(tokenizer.decode(ids.slice(0, -1)));
  });
});
