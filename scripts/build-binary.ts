/**
 * `npm run build:binary`: one executable for linux-x64 holding Node, the app, the shaders, the
 * contract ABIs and bytecode, the web pages and Dawn's native module.
 *
 * 1. esbuild bundles `src/binary/main.ts` (the CLI) into one CommonJS script: what Node's single
 *    executable applications (SEA) run. Every `import.meta.url` becomes the module's path in the
 *    binary's extracted resource tree (src/binary/resources.ts), so code that reads files next to
 *    itself (the shaders, webgpu's `dawn.node`) runs unchanged. Dynamic imports are bundled too.
 * 2. The shaders and `dawn.node` become SEA assets, extracted once to a content-addressed cache
 *    directory; the pages' static files are assets served from memory.
 * 3. `node --experimental-sea-config` (the Node being embedded, so its code cache matches) writes
 *    the blob; postject injects it into a copy of that Node binary.
 *
 * Usage: node scripts/build-binary.ts [--out out/binary/openlora] [--node PATH]
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, mkdirSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as esbuild from 'esbuild';
import { PEFT_THREAD_ASSET } from '../src/lora/peftLoader.ts';
import { buildUi } from '../src/ui/build.ts';
import { versionInfo } from '../src/version.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const require = createRequire(import.meta.url);

/** The fuse Node looks for to know a blob was injected (Node's SEA docs). */
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

/**
 * Modules that start worker threads, and the worker's own entry: `[asset name, source]` bundled
 * alone into the binary, or null where the worker runs from inline source.
 */
const WORKER_ENTRIES: Record<string, [string, string] | null> = {
  'src/engine/cpu/threads.ts': null,
  'src/lora/peftLoader.ts': [PEFT_THREAD_ASSET, 'src/lora/peftThread.ts'],
};

/** Modules replaced in the binary: what they need lives only in a repository checkout. */
const REPO_ONLY: Record<string, string> = {
  'src/dev/localChain.ts': 'src/binary/devChain.ts',
  'src/ui/build.ts': 'src/binary/uiBuild.ts',
};

export interface BuildBinaryParameters {
  /** The executable to write. Default `out/binary/openlora`. */
  out?: string;
  /** Node binary to embed. Default the `node` devDependency (Node 24). */
  node?: string;
  /** Progress lines. */
  onProgress?: (line: string) => void;
}

export interface BuildBinaryReturnType {
  file: string;
  bytes: number;
  /** Bytes of the bundled script and of the assets. */
  bundleBytes: number;
  assetBytes: number;
  resourcesHash: string;
  seconds: number;
}

/** Files under `dir` (relative paths with `/`), sorted. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)).split(sep).join('/'))
    .sort();
}

/** Maps `import.meta.url` to the module's path in the extracted tree, and swaps the repository-only modules. */
function binaryPlugin(): esbuild.Plugin {
  const resources = join(ROOT, 'src/binary/resources.ts');
  return {
    name: 'openlora-binary',
    setup(build) {
      build.onLoad({ filter: /\.(?:[cm]?[jt]s)$/ }, async (args) => {
        const rel = relative(ROOT, args.path).split(sep).join('/');
        const swap = REPO_ONLY[rel];
        const path = swap ? join(ROOT, swap) : args.path;
        const text = readFileSync(path, 'utf8');
        if (!swap && !text.includes('import.meta')) return undefined;
        const loader = path.endsWith('ts') ? 'ts' : 'js';
        if (swap) return { contents: text, loader, resolveDir: dirname(path) };
        if (rel.startsWith('src/') && /import\.meta\.(?!url\b)/.test(text)) throw new Error(`${rel} uses import.meta other than import.meta.url; the binary maps only import.meta.url`);
        const contents = `import { resourceUrl as __openloraResourceUrl } from ${JSON.stringify(resources)};\n` + text.replace(/\bimport\.meta\.url\b/g, `__openloraResourceUrl(${JSON.stringify(rel)})`);
        return { contents, loader, resolveDir: dirname(args.path) };
      });
    },
  };
}

/** Builds the single executable. */
export async function buildBinary(p: BuildBinaryParameters = {}): Promise<BuildBinaryReturnType> {
  const started = performance.now();
  const say = p.onProgress ?? ((line: string) => process.stderr.write(`build-binary: ${line}\n`));
  if (process.platform !== 'linux' || process.arch !== 'x64') throw new Error(`build:binary targets linux-x64; this is ${process.platform}-${process.arch}`);
  const out = resolve(p.out ?? join(ROOT, 'out/binary/openlora'));
  const node = realpathSync(p.node ?? join(ROOT, 'node_modules/.bin/node'));
  const work = `${out}.build`;
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });

  // Extracted at run time: the shaders and Dawn's native module, under their repository paths.
  const dawn = join(dirname(require.resolve('webgpu')), 'dist/linux-x64/dawn.node');
  const extracted = [...filesUnder(join(ROOT, 'shaders')).map((f) => `shaders/${f}`), 'wasm/kernels.wasm', relative(ROOT, dawn).split(sep).join('/')];
  const hash = createHash('sha256');
  const files = extracted.map((path) => {
    const bytes = readFileSync(join(ROOT, path));
    hash.update(`${path}\0${bytes.length}\0`).update(bytes);
    return { path, size: bytes.length };
  });
  const resourcesHash = hash.digest('hex').slice(0, 32);
  const assets: Record<string, string> = Object.fromEntries(extracted.map((path) => [path, join(ROOT, path)]));

  say('building the web pages');
  const ui = await buildUi();
  for (const [name, file] of ui.files) {
    const path = join(work, 'ui', name);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, file.body);
    assets[`ui/${name}`] = path;
  }

  say('bundling the app');
  const { commit, shaderHash, version } = versionInfo();
  const bundle = join(work, 'openlora.cjs');
  const common: esbuild.BuildOptions = {
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node24',
    minify: true,
    keepNames: true,
    legalComments: 'none',
    logLevel: 'warning',
    define: {
      OPENLORA_BUILD: JSON.stringify({ version, commit, shaderHash }),
      OPENLORA_RESOURCES: JSON.stringify({ hash: resourcesHash, files }),
      OPENLORA_UI_FILES: JSON.stringify([...ui.files.keys()]),
    },
    plugins: [binaryPlugin()],
  };
  const result = await esbuild.build({ ...common, entryPoints: [join(ROOT, 'src/binary/main.ts')], outfile: bundle, metafile: true });
  // A worker thread needs its own entry script: the CPU backend's workers run from inline source
  // (eval); the adapter loader's thread is bundled alone below and started from its asset.
  for (const [input, meta] of Object.entries(result.metafile.inputs)) {
    if (input.startsWith('src/') && !(input in WORKER_ENTRIES) && meta.imports.some((i) => /^(node:)?worker_threads$/.test(i.path))) throw new Error(`${input} imports worker_threads: give the worker its own entry in scripts/build-binary.ts`);
  }
  for (const [asset, entry] of Object.values(WORKER_ENTRIES).filter((e): e is [string, string] => e !== null)) {
    const file = join(work, asset);
    await esbuild.build({ ...common, entryPoints: [join(ROOT, entry)], outfile: file });
    assets[asset] = file;
  }
  const script = readFileSync(bundle, 'utf8');
  if (/\bimport\(/.test(script.replace(/"[^"\n]*import\([^"\n]*"/g, ''))) say('warning: the bundle keeps a dynamic import(); it fails inside the binary if reached');

  say('writing the SEA blob');
  const blob = join(work, 'sea.blob');
  const seaConfig = join(work, 'sea-config.json');
  writeFileSync(seaConfig, JSON.stringify({ main: bundle, output: blob, disableExperimentalSEAWarning: true, useCodeCache: true, assets }, null, 2));
  execFileSync(node, ['--experimental-sea-config', seaConfig], { stdio: ['ignore', 'ignore', 'inherit'] });

  say(`injecting into a copy of ${node} (Node ${execFileSync(node, ['--version'], { encoding: 'utf8' }).trim()})`);
  mkdirSync(dirname(out), { recursive: true });
  const tmp = `${out}.tmp`;
  copyFileSync(node, tmp);
  chmodSync(tmp, 0o755);
  const { inject } = require('postject') as { inject(file: string, name: string, data: Buffer, options: { sentinelFuse: string }): Promise<void> };
  await inject(tmp, 'NODE_SEA_BLOB', readFileSync(blob), { sentinelFuse: SEA_FUSE });
  renameSync(tmp, out); // a running copy of the old binary keeps its inode
  const assetBytes = Object.values(assets).reduce((s, f) => s + statSync(f).size, 0);
  rmSync(work, { recursive: true, force: true });
  return { file: out, bytes: statSync(out).size, bundleBytes: Buffer.byteLength(script), assetBytes, resourcesHash, seconds: (performance.now() - started) / 1000 };
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { out: { type: 'string' }, node: { type: 'string' } } });
  const r = await buildBinary({ out: values.out, node: values.node });
  const mib = (n: number) => (n / 2 ** 20).toFixed(1);
  process.stdout.write(`${relative(process.cwd(), r.file)}: ${mib(r.bytes)} MiB (bundle ${mib(r.bundleBytes)} MiB, assets ${mib(r.assetBytes)} MiB), built in ${r.seconds.toFixed(1)} s\n`);
}
