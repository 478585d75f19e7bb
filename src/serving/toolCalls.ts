/**
 * Reads tool calls out of a choice's text as it streams (`src/grammar/tools.ts` is the format the
 * grammar holds the model to): text that turns out not to start with the call trigger is content;
 * otherwise each `<tool_call>` block yields a call's id and name as soon as the name is complete,
 * then its arguments' JSON piece by piece, as OpenAI streams `tool_calls` deltas. The whole
 * answer is read the same way: one parser for streamed and whole responses.
 */
import { randomBytes } from 'node:crypto';
import { TOOL_CALL_FORMAT } from '../grammar/tools.ts';

/** What a piece of text adds to a choice. */
export type ToolCallDelta =
  | { kind: 'content'; text: string }
  | { kind: 'call'; index: number; id: string; name: string }
  | { kind: 'arguments'; index: number; text: string };

/** A call as a whole response lists it. */
export interface ParsedToolCall {
  id: string;
  name: string;
  /** The arguments' JSON, exactly as the model wrote it (complete unless the answer was cut). */
  arguments: string;
}

const TRIGGER = TOOL_CALL_FORMAT.open;
const NAME_PREFIX = '{"name": ';
const ARGS_PREFIX = ', "arguments": ';

type Phase = 'undecided' | 'content' | 'open' | 'name' | 'argsPrefix' | 'args' | 'close' | 'between' | 'broken';

/**
 * One choice's parser. `mode` `auto`: the answer may be words; `required`: it is calls.
 * Text it cannot read as calls (only possible when generation was cut or unconstrained) ends as content.
 */
export class ToolCallParser {
  #phase: Phase;
  #buffer = '';
  #calls: ParsedToolCall[] = [];
  #depth = 0;
  #inString = false;
  #escape = false;
  #content = '';

  constructor(mode: 'auto' | 'required') {
    this.#phase = mode === 'auto' ? 'undecided' : 'open';
  }

  /** Calls read so far (the last one's arguments may be partial). */
  get calls(): readonly ParsedToolCall[] {
    return this.#calls;
  }

  /** Content text (an answer in words). */
  get content(): string {
    return this.#content;
  }

  /** Whether the answer is calls. */
  get isCalls(): boolean {
    return this.#calls.length > 0;
  }

  /** Whether the last call and its block are complete. */
  get complete(): boolean {
    return this.#phase === 'between' && this.#buffer === '';
  }

  /** Feeds more text; returns what it completes. */
  push(text: string): ToolCallDelta[] {
    this.#buffer += text;
    const out: ToolCallDelta[] = [];
    for (let progress = true; progress; ) progress = this.#step(out);
    return out;
  }

  /** The end of the choice: what is still held back comes out (as content when it is not a call). */
  finish(): ToolCallDelta[] {
    const out: ToolCallDelta[] = [];
    if ((this.#phase === 'undecided' || this.#phase === 'content' || this.#phase === 'broken') && this.#buffer) {
      this.#content += this.#buffer;
      out.push({ kind: 'content', text: this.#buffer });
      this.#buffer = '';
    }
    return out;
  }

  #step(out: ToolCallDelta[]): boolean {
    const b = this.#buffer;
    switch (this.#phase) {
      case 'undecided': {
        if (b.length < TRIGGER.length ? TRIGGER.startsWith(b) : b.startsWith(TRIGGER)) {
          if (b.length < TRIGGER.length) return false;
          this.#phase = 'open';
          return true;
        }
        this.#phase = 'content';
        return true;
      }
      case 'content':
      case 'broken':
        if (!b) return false;
        this.#content += b;
        out.push({ kind: 'content', text: b });
        this.#buffer = '';
        return false;
      case 'open':
      case 'between': {
        const need = this.#phase === 'open' ? TRIGGER + NAME_PREFIX : TOOL_CALL_FORMAT.separator + TRIGGER + NAME_PREFIX;
        if (b.length < need.length) return need.startsWith(b) ? false : this.#break();
        if (!b.startsWith(need)) return this.#break();
        this.#buffer = b.slice(need.length);
        this.#phase = 'name';
        return true;
      }
      case 'name': {
        const end = stringEnd(b);
        if (end < 0) return false;
        let name: string;
        try {
          name = JSON.parse(b.slice(0, end + 1)) as string;
        } catch {
          return this.#break();
        }
        const call = { id: `call_${randomBytes(12).toString('hex')}`, name, arguments: '' };
        this.#calls.push(call);
        out.push({ kind: 'call', index: this.#calls.length - 1, id: call.id, name });
        this.#buffer = b.slice(end + 1);
        this.#phase = 'argsPrefix';
        return true;
      }
      case 'argsPrefix': {
        if (b.length < ARGS_PREFIX.length) return ARGS_PREFIX.startsWith(b) ? false : this.#break();
        if (!b.startsWith(ARGS_PREFIX)) return this.#break();
        this.#buffer = b.slice(ARGS_PREFIX.length);
        this.#phase = 'args';
        this.#depth = 0;
        this.#inString = this.#escape = false;
        return true;
      }
      case 'args': {
        if (!b) return false;
        let i = 0;
        let done = false;
        for (; i < b.length && !done; i++) {
          const ch = b[i];
          if (this.#inString) {
            if (this.#escape) this.#escape = false;
            else if (ch === '\\') this.#escape = true;
            else if (ch === '"') this.#inString = false;
          } else if (ch === '"') this.#inString = true;
          else if (ch === '{' || ch === '[') this.#depth++;
          else if (ch === '}' || ch === ']') done = --this.#depth === 0;
        }
        const piece = b.slice(0, i);
        const index = this.#calls.length - 1;
        this.#calls[index].arguments += piece;
        out.push({ kind: 'arguments', index, text: piece });
        this.#buffer = b.slice(i);
        if (done) this.#phase = 'close';
        return done;
      }
      case 'close': {
        const need = '}' + TOOL_CALL_FORMAT.close;
        if (b.length < need.length) return need.startsWith(b) ? false : this.#break();
        if (!b.startsWith(need)) return this.#break();
        this.#buffer = b.slice(need.length);
        this.#phase = 'between';
        return this.#buffer.length > 0;
      }
    }
  }

  /** Text that is not the call format (an unconstrained or cut answer): the rest is content. */
  #break(): boolean {
    this.#phase = 'broken';
    return true;
  }
}

/** Index of the quote closing the JSON string that starts at 0, or -1 while it is open. */
function stringEnd(s: string): number {
  if (s[0] !== '"') return s.length > 0 ? 0 : -1; // not a string: JSON.parse reports it
  for (let i = 1, escape = false; i < s.length; i++) {
    if (escape) escape = false;
    else if (s[i] === '\\') escape = true;
    else if (s[i] === '"') return i;
  }
  return -1;
}
