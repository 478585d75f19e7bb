/**
 * The pages' static files, once per process: from the binary's assets (built with it), else built
 * from `src/ui/web` with esbuild on first use.
 */
import { isSea, getAsset } from 'node:sea';
import { uiFile, type UiFiles } from './files.ts';

/** Names of the page files the binary carries (defined by `scripts/build-binary.ts`). */
declare const OPENLORA_UI_FILES: readonly string[] | undefined;

let files: Promise<UiFiles> | undefined;

/** The pages' files; the first call builds them (about a second) unless the binary carries them. */
export function uiAssets(): Promise<UiFiles> {
  files ??= (async () => {
    if (isSea() && typeof OPENLORA_UI_FILES !== 'undefined') return new Map(OPENLORA_UI_FILES.map((name) => [name, uiFile(name, Buffer.from(getAsset(`ui/${name}`)))]));
    const { buildUi } = await import('./build.ts');
    return (await buildUi()).files;
  })();
  files.catch(() => (files = undefined)); // a failed build is retried by the next request
  return files;
}
