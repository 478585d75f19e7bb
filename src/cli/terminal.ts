/**
 * Model output is untrusted text: on a terminal, control characters (ANSI escapes, carriage
 * returns, bells) and bidirectional overrides could rewrite what the user sees. They are shown as
 * U+FFFD there; newlines and tabs pass. Output to a pipe or file is left as produced.
 */
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/** `text` made safe to write to a terminal. */
export function sanitizeForTerminal(text: string): string {
  return text.replace(UNSAFE, '\uFFFD');
}

/** Writes model text to `stream`, sanitized when the stream is a terminal. */
export function writeModelText(stream: NodeJS.WriteStream, text: string): void {
  stream.write(stream.isTTY ? sanitizeForTerminal(text) : text);
}
