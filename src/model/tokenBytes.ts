/**
 * The bytes each token id stands for, read from tokenizer.json: what constrained decoding matches
 * tokens by (`src/grammar/vocab.ts`). Byte-level BPE (GPT-2's byte-to-unicode alphabet: Llama 3,
 * Qwen, SmolLM2, openlora's own models), SentencePiece-style pieces (`▁` for a space, `<0xNN>`
 * byte-fallback tokens: Llama 2, Mistral, Gemma) and plain vocabularies; added tokens by their
 * content. Special tokens, and ids the tokenizer does not define (padding rows of the embedding),
 * have none: no grammar can use them.
 */
import { bytesToUnicode } from './byteTokenizer.ts';

type Json = Record<string, unknown>;

/** How a vocabulary's strings map to bytes. */
export type VocabEncoding = 'byte-level' | 'sentencepiece' | 'plain';

/** The encoding tokenizer.json's decoder implies. */
export function vocabEncoding(tokenizerJson: unknown): VocabEncoding {
  const decoders = (d: unknown): Json[] => {
    if (typeof d !== 'object' || d === null) return [];
    const j = d as Json;
    return j.type === 'Sequence' && Array.isArray(j.decoders) ? j.decoders.flatMap(decoders) : [j];
  };
  const list = decoders((tokenizerJson as Json)?.decoder);
  if (list.some((d) => d.type === 'ByteLevel')) return 'byte-level';
  if (list.some((d) => d.type === 'ByteFallback' || d.type === 'Metaspace' || (d.type === 'Replace' && (d.pattern as Json)?.String === '▁'))) return 'sentencepiece';
  return 'plain';
}

/** Per token id below `vocabSize`: its bytes, or null (special, or not in the tokenizer). */
export function tokenBytes(tokenizerJson: unknown, vocabSize: number): Array<Uint8Array | null> {
  const json = tokenizerJson as Json;
  const model = (json.model ?? {}) as Json;
  const encoding = vocabEncoding(json);
  const out: Array<Uint8Array | null> = Array.from({ length: vocabSize }, () => null);
  const encoder = new TextEncoder();
  /** UTF-8 of `s`; ASCII (most of a vocabulary) without the encoder. */
  const utf8 = (s: string): Uint8Array => {
    const bytes = new Uint8Array(s.length);
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) return encoder.encode(s);
      bytes[i] = c;
    }
    return bytes;
  };
  // GPT-2's alphabet maps every byte to a code point below 0x144.
  const byteOf = new Int16Array(0x200).fill(-1);
  bytesToUnicode().forEach((ch, b) => (byteOf[ch.codePointAt(0)!] = b));
  const piece = (s: string): Uint8Array => {
    if (encoding === 'byte-level') {
      const bytes = new Uint8Array(s.length);
      for (let i = 0; i < s.length; i++) {
        const c = s.charCodeAt(i);
        const b = c < 0x200 ? byteOf[c] : -1;
        if (b < 0) return utf8(s); // not from the byte alphabet: the string as it is
        bytes[i] = b;
      }
      return bytes;
    }
    if (encoding === 'sentencepiece') {
      if (s.length === 6 && s.startsWith('<0x') && s.endsWith('>')) {
        const b = parseInt(s.slice(3, 5), 16);
        if (Number.isInteger(b)) return Uint8Array.of(b);
      }
      return utf8(s.includes('▁') ? s.replaceAll('▁', ' ') : s);
    }
    return utf8(s);
  };
  const set = (id: number, bytes: Uint8Array | null) => {
    if (Number.isInteger(id) && id >= 0 && id < vocabSize) out[id] = bytes;
  };
  const vocab = model.vocab;
  if (Array.isArray(vocab)) vocab.forEach((entry, id) => set(id, piece(String(Array.isArray(entry) ? entry[0] : entry))));
  else if (typeof vocab === 'object' && vocab !== null) for (const [s, id] of Object.entries(vocab)) set(Number(id), piece(s));
  for (const t of (json.added_tokens ?? []) as Json[]) set(Number(t.id), t.special ? null : utf8(String(t.content)));
  for (let id = 0; id < vocabSize; id++) if (out[id]?.length === 0) out[id] = null;
  return out;
}
