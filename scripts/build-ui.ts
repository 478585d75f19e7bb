/**
 * `npm run build:ui`: writes the node's web pages as static files (default `out/ui/`). The
 * contributor page (`rewards.html`) then runs from any static host given an RPC URL, a deployment
 * and attribution reports in its query string (README, "Contributor page").
 *
 * Usage: node scripts/build-ui.ts [--out DIR]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { buildUi } from '../src/ui/build.ts';

const { values } = parseArgs({ options: { out: { type: 'string', default: 'out/ui' } } });
const out = resolve(values.out!);
const { files } = await buildUi();
for (const [name, file] of files) {
  mkdirSync(dirname(join(out, name)), { recursive: true });
  writeFileSync(join(out, name), file.body);
}
process.stdout.write(`wrote ${files.size} files to ${out}\n`);
