/**
 * The single binary's files on disk. Node's single executable holds the shaders and Dawn's native
 * module (`dawn.node`, which `process.dlopen` can only load from a file) as assets; on first use
 * they are written to `$XDG_CACHE_HOME/openlora/<hash>/` (default `~/.cache`), where `<hash>` is
 * the sha256 of every asset: a new build gets a new directory and an old one is never overwritten.
 * Each file is written to a unique temporary name and renamed, so two processes starting at once
 * both end with whole files. The bundle maps `import.meta.url` of every module to its path under
 * that directory (`scripts/build-binary.ts`), so code that finds files next to itself runs as is.
 */
import { randomBytes } from 'node:crypto';
import { lstatSync, mkdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import { getRawAsset } from 'node:sea';
import { pathToFileURL } from 'node:url';
import { BinaryCacheError } from './errors.ts';

/** The extracted files (defined by the binary build). */
declare const OPENLORA_RESOURCES: { hash: string; files: ReadonlyArray<{ path: string; size: number }> };

/** `$XDG_CACHE_HOME` (absolute only, as the XDG spec says), else `~/.cache`. */
export function cacheBase(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env.XDG_CACHE_HOME;
  return xdg && isAbsolute(xdg) ? xdg : join(homedir(), '.cache');
}

/** Creates `dir` (0700) and refuses one another user owns or others can write (they could swap `dawn.node`). */
function privateDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (error) {
    throw new BinaryCacheError(dir, 'cannot be created', error);
  }
  const st = lstatSync(dir);
  if (!st.isDirectory()) throw new BinaryCacheError(dir, 'is not a directory');
  if (process.getuid && st.uid !== process.getuid()) throw new BinaryCacheError(dir, `belongs to uid ${st.uid}, not to this user (${process.getuid()})`);
  if ((st.mode & 0o022) !== 0) throw new BinaryCacheError(dir, `is writable by others (mode ${(st.mode & 0o777).toString(8)})`);
}

let root: string | undefined;

/** The directory holding the extracted resources; extracts what is missing on first call. */
export function resourceRoot(): string {
  if (root) return root;
  const base = join(cacheBase(), 'openlora');
  privateDir(base);
  const dir = join(base, OPENLORA_RESOURCES.hash);
  for (const file of OPENLORA_RESOURCES.files) {
    const target = join(dir, file.path);
    try {
      if (statSync(target).size === file.size) continue;
    } catch {
      // missing: extract it
    }
    const tmp = `${target}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
    try {
      mkdirSync(dirname(target), { recursive: true, mode: 0o700 });
      writeFileSync(tmp, new Uint8Array(getRawAsset(file.path)), { mode: 0o644 });
      renameSync(tmp, target);
    } catch (error) {
      rmSync(tmp, { force: true });
      throw new BinaryCacheError(dir, `cannot hold ${file.path}`, error);
    }
  }
  root = dir;
  return dir;
}

/** The `file:` URL of `path` (relative to the repository root) in the extracted tree: what `import.meta.url` becomes in the bundle. */
export function resourceUrl(path: string): string {
  return pathToFileURL(join(resourceRoot(), path)).href;
}
