/**
 * A file path or an `http(s)://` URL, read as text: what `--deployment` and `--attribution` take, so
 * a contributor can claim straight from a node's published files (`GET /v1/chain/deployment`,
 * `GET /v1/attribution/reports/:id`; the chain checks every root).
 */
import { readFile } from 'node:fs/promises';

/** Largest document fetched from a URL, bytes (a report of a very large Datanet stays far below). */
export const MAX_SOURCE_BYTES = 64 * 2 ** 20;

/** Whether `source` names a URL rather than a file. */
export const isUrl = (source: string): boolean => /^https?:\/\//i.test(source);

/** Reads a file, or GETs a URL (30 s, at most {@link MAX_SOURCE_BYTES}); throws the underlying error. */
export async function readSource(source: string, signal?: AbortSignal): Promise<string> {
  if (!isUrl(source)) return readFile(source, 'utf8');
  const response = await fetch(source, { signal: signal ? AbortSignal.any([signal, AbortSignal.timeout(30_000)]) : AbortSignal.timeout(30_000), headers: { accept: 'application/json' } });
  if (!response.ok) throw new Error(`GET ${source}: HTTP ${response.status}`);
  if (Number(response.headers.get('content-length') ?? 0) > MAX_SOURCE_BYTES) throw new Error(`GET ${source}: larger than ${MAX_SOURCE_BYTES} bytes`);
  const text = await response.text();
  if (text.length > MAX_SOURCE_BYTES) throw new Error(`GET ${source}: larger than ${MAX_SOURCE_BYTES} bytes`);
  return text;
}
