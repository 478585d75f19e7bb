import { createHash } from 'node:crypto';

/** One static file of the pages. */
export interface UiFile {
  body: Buffer;
  /** Content-Type. */
  type: string;
  /** Strong ETag (sha256 prefix of the body). */
  etag: string;
}

/** The pages' files by path relative to the pages' root (`index.html`, `ui/operator.js`, ...). */
export type UiFiles = Map<string, UiFile>;

const TYPES: Record<string, string> = { '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.html': 'text/html; charset=utf-8' };

/** A file with its type (from the extension) and ETag. */
export function uiFile(name: string, body: Buffer): UiFile {
  const type = TYPES[name.slice(name.lastIndexOf('.'))] ?? 'application/octet-stream';
  return { body, type, etag: `"${createHash('sha256').update(body).digest('hex').slice(0, 32)}"` };
}
