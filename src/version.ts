/**
 * What build this is: the package version, the git commit and the hash of the engine's shaders
 * (`openlora --version`, `GET /v1/node/status`). The single binary has them baked in at build
 * time (`scripts/build-binary.ts` defines `OPENLORA_BUILD`); run from the repository they come from
 * git and the files.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import packageJson from '../package.json' with { type: 'json' };

/** The build facts `openlora --version` prints. */
export interface VersionInfo {
  version: string;
  /** Git commit (40 hex, `-dirty` when the tree had changes), or `unknown`. */
  commit: string;
  /** sha256 over the shaders' relative paths and contents (see {@link shaderHash}). */
  shaderHash: string;
  /** `binary` for the single executable, `source` when run from the repository. */
  build: 'binary' | 'source';
}

/** Replaced by the binary build (esbuild `define`); undefined when run from the repository. */
declare const OPENLORA_BUILD: Omit<VersionInfo, 'build'> | undefined;

/** The repository root (the binary maps it to its extracted resources). */
const ROOT = fileURLToPath(new URL('../', import.meta.url));

/** Files under `dir`, relative with `/` separators, sorted (byte order). */
function filesUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const path = join(d, e.name);
      if (e.isDirectory()) walk(path);
      else if (e.isFile()) out.push(relative(dir, path).split(sep).join('/'));
    }
  };
  walk(dir);
  return out.sort();
}

/**
 * The engine's shader hash: sha256 over every file of `shaders/` as `<path>\0<length>\0<bytes>`,
 * paths sorted. Two builds with the same hash run the same WGSL.
 */
export function shaderHash(dir = join(ROOT, 'shaders')): string {
  const hash = createHash('sha256');
  for (const name of filesUnder(dir)) {
    const bytes = readFileSync(join(dir, name));
    hash.update(`${name}\0${bytes.length}\0`).update(bytes);
  }
  return hash.digest('hex');
}

/** The git commit of the repository at `root` (with `-dirty` for uncommitted changes), else undefined. */
export function gitCommit(root = ROOT): string | undefined {
  const git = (...args: string[]) => spawnSync('git', args, { cwd: root, encoding: 'utf8', timeout: 5_000 });
  const head = git('rev-parse', 'HEAD');
  if (head.status !== 0) return undefined;
  const dirty = git('status', '--porcelain', '--untracked-files=no').stdout.trim() !== '';
  return head.stdout.trim() + (dirty ? '-dirty' : '');
}

let cached: VersionInfo | undefined;

/** This build's version, commit and shader hash. */
export function versionInfo(): VersionInfo {
  if (typeof OPENLORA_BUILD !== 'undefined') return { ...OPENLORA_BUILD, build: 'binary' };
  cached ??= {
    version: packageJson.version,
    commit: gitCommit() ?? (packageJson as { gitHead?: string }).gitHead ?? 'unknown',
    shaderHash: shaderHash(),
    build: 'source',
  };
  return cached;
}

/** The lines `openlora --version` prints. */
export function formatVersion(v: VersionInfo): string {
  return [`openlora ${v.version} (${v.build})`, `commit  ${v.commit}`, `shaders ${v.shaderHash}`, `node    ${process.version}`].join('\n');
}
