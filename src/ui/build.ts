/**
 * Builds the node's web pages (the operator page at `/`, the contributor page at `/rewards`) with
 * esbuild: one ES module and one stylesheet per page, minified, plus the HTML. Run from the
 * repository by the node itself (first request, in memory) and by `npm run build:ui` /
 * `npm run build:binary` (files).
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { uiFile, type UiFiles } from './files.ts';

const WEB = fileURLToPath(new URL('./web/', import.meta.url));

/** Entry modules, one per page. */
export const UI_PAGES = { operator: 'operator.ts', rewards: 'rewards.ts' } as const;

/** HTML documents: `/` serves `index.html`, `/rewards` serves `rewards.html`. */
const HTML = ['index.html', 'rewards.html'];

/** Bundles the pages. */
export async function buildUi(): Promise<{ files: UiFiles }> {
  const esbuild = await import('esbuild');
  const result = await esbuild.build({
    entryPoints: Object.fromEntries(Object.entries(UI_PAGES).map(([name, file]) => [name, WEB + file])),
    outdir: '/ui',
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['chrome120', 'firefox120', 'safari17'],
    minify: true,
    legalComments: 'none',
    write: false,
    logLevel: 'silent',
  });
  const files: UiFiles = new Map();
  for (const f of result.outputFiles) files.set(`ui/${basename(f.path)}`, uiFile(f.path, Buffer.from(f.contents)));
  for (const name of HTML) files.set(name, uiFile(name, readFileSync(WEB + name)));
  return { files };
}
