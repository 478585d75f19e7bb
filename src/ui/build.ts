/**
 * Builds the node's web pages (the operator page at `/`, the contributor page at `/rewards`) with
 * esbuild: one ES module and one stylesheet per page, minified, plus the HTML. Run from the
 * repository by the node itself (first request, in memory) and by `npm run build:ui` /
 * `npm run build:binary` (files).
 */
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { uiFile, type UiFiles } from './files.ts';

const WEB = fileURLToPath(new URL('./web/', import.meta.url));

/** Entry modules, one per page. */
export const UI_PAGES = { operator: 'operator.ts', rewards: 'rewards.ts' } as const;

/** HTML documents (`/` serves `index.html`, `/rewards` serves `rewards.html`): a shell loading the page's module and styles by relative URL, so the files also work from any static host. */
const HTML = { 'index.html': { page: 'operator', title: 'openlora node' }, 'rewards.html': { page: 'rewards', title: 'openlora contributor rewards' } } as const;

function shell(page: string, title: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="ui/${page}.css">
</head>
<body>
<main id="app"><p>Loading…</p></main>
<script type="module" src="ui/${page}.js"></script>
</body>
</html>
`;
}

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
  for (const [name, { page, title }] of Object.entries(HTML)) files.set(name, uiFile(name, Buffer.from(shell(page, title))));
  return { files };
}
