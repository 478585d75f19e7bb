import { existsSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DEV_DIR_MARKER, DevDirForeignError } from './errors.ts';

/**
 * Deletes `entries` of the dev directory `dir` for a new run, only when `dir` is dev's own: it
 * holds {@link DEV_DIR_MARKER} (written here) or a `session.json` (dev directories from before the
 * marker). Anything else that holds one of the entries is refused with {@link DevDirForeignError},
 * before anything is deleted. `dir` must exist.
 */
export async function clearDevDir(dir: string, entries: readonly string[]): Promise<void> {
  const ours = existsSync(join(dir, DEV_DIR_MARKER)) || existsSync(join(dir, 'session.json'));
  const present = entries.filter((e) => existsSync(join(dir, e)));
  if (!ours && present.length > 0) throw new DevDirForeignError(dir, present);
  await writeFile(join(dir, DEV_DIR_MARKER), 'Made by `openlora dev`, which rewrites its chain state here on every start.\n');
  await Promise.all(present.map((e) => rm(join(dir, e), { recursive: true, force: true })));
}
