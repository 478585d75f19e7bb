import type { ModelTokenizer } from '../model/tokenizer.ts';

/**
 * Turns a growing list of token ids into text deltas. Byte-level and byte-fallback tokens can
 * split a UTF-8 character: text ending in U+FFFD is held back until the next token completes it,
 * and {@link flush} gives what is still held when generation stops (the U+FFFD Hugging Face's
 * decode gives for an unfinished character), so the deltas always add up to `decode(ids)`. Only
 * the last few tokens are re-decoded (vLLM's prefix/read offsets), so a long generation stays linear.
 */
export class IncrementalDetokenizer {
  readonly #tokenizer: ModelTokenizer;
  readonly #ids: number[] = [];
  #prefixOffset = 0;
  #readOffset = 0;

  constructor(tokenizer: ModelTokenizer) {
    this.#tokenizer = tokenizer;
  }

  /** Adds one token; returns the text it completes ('' while a character is incomplete). */
  push(id: number): string {
    this.#ids.push(id);
    const { prefix, full } = this.#window();
    if (full.length > prefix.length && !full.endsWith('\uFFFD')) {
      this.#prefixOffset = this.#readOffset;
      this.#readOffset = this.#ids.length;
      return full.slice(prefix.length);
    }
    return '';
  }

  /** The text held back so far (an unfinished character decodes to U+FFFD); call once generation has stopped. */
  flush(): string {
    const { prefix, full } = this.#window();
    this.#prefixOffset = this.#readOffset = this.#ids.length;
    return full.length > prefix.length ? full.slice(prefix.length) : '';
  }

  #window(): { prefix: string; full: string } {
    return { prefix: this.#tokenizer.decode(this.#ids.slice(this.#prefixOffset, this.#readOffset)), full: this.#tokenizer.decode(this.#ids.slice(this.#prefixOffset)) };
  }
}
