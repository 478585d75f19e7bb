import { readFileSync } from 'node:fs';

/** Values a shader variant is compiled with: booleans drive `#if`, numbers fill `${NAME}`. */
export type ShaderDefines = Readonly<Record<string, boolean | number>>;

const SHADER_DIR = new URL('../../../shaders/', import.meta.url);
const files = new Map<string, string>();

function readShader(name: string): string {
  let text = files.get(name);
  if (text === undefined) {
    text = readFileSync(new URL(name, SHADER_DIR), 'utf8');
    files.set(name, text);
  }
  return text;
}

/**
 * WGSL source of `shaders/<file>` with a tiny preprocessor: `#include "x.wgsl"` (once per
 * file), `#if NAME` / `#if !NAME` / `#else` / `#endif` on boolean defines, `#unroll I COUNT` ...
 * `#endunroll` (repeats its lines COUNT times with `${I}` = 0, 1, ...; COUNT a number or numeric
 * define; shader compilers do not always unroll register-tile loops, and an array indexed in a
 * loop that is not unrolled lives in memory), and `${NAME}` replaced by numeric defines. Unknown
 * names in `#if` are false; unknown `${NAME}` throw.
 */
export function shaderSource(file: string, defines: ShaderDefines = {}): string {
  const included = new Set<string>();
  const expand = (name: string): string[] => {
    if (included.has(name)) return [];
    included.add(name);
    const out: string[] = [];
    const stack: boolean[] = [];
    const active = () => stack.every(Boolean);
    for (const line of readShader(name).split('\n')) {
      const t = line.trim();
      let m: RegExpMatchArray | null;
      if ((m = t.match(/^#if\s+(!?)(\w+)$/))) stack.push(Boolean(defines[m[2]]) !== (m[1] === '!'));
      else if (t === '#else') stack.push(!stack.pop());
      else if (t === '#endif') stack.pop();
      else if (!active()) continue;
      else if ((m = t.match(/^#include\s+"([\w.]+)"$/))) out.push(...expand(m[1]));
      else out.push(line);
    }
    if (stack.length) throw new Error(`shaders/${name}: unterminated #if`);
    return out;
  };
  return unroll(expand(file), defines, file)
    .join('\n')
    .replace(/\$\{(\w+)\}/g, (_, key: string) => {
      const v = defines[key];
      if (typeof v !== 'number') throw new Error(`shaders/${file}: define ${key} needs a number`);
      return String(v);
    });
}

/** A stable name for a variant, used as the pipeline cache key: `linear.wgsl[F16,ROWS=8]`. */
export function variantName(file: string, defines: ShaderDefines): string {
  const parts = Object.keys(defines)
    .sort()
    .filter((k) => defines[k] !== false)
    .map((k) => (defines[k] === true ? k : `${k}=${defines[k]}`));
  return `${file}[${parts.join(',')}]`;
}

function unroll(lines: string[], defines: ShaderDefines, file: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const m = lines[i].trim().match(/^#unroll\s+(\w+)\s+(\w+)$/);
    if (!m) {
      out.push(lines[i]);
      continue;
    }
    let depth = 1;
    let end = i + 1;
    for (; end < lines.length; end++) {
      const t = lines[end].trim();
      if (t.startsWith('#unroll ')) depth++;
      else if (t === '#endunroll' && --depth === 0) break;
    }
    if (depth !== 0) throw new Error(`shaders/${file}: unterminated #unroll`);
    const count = /^\d+$/.test(m[2]) ? Number(m[2]) : defines[m[2]];
    if (typeof count !== 'number') throw new Error(`shaders/${file}: #unroll count ${m[2]} needs a number`);
    const body = lines.slice(i + 1, end);
    const pattern = new RegExp(`\\$\\{${m[1]}\\}`, 'g');
    for (let k = 0; k < count; k++) out.push(...unroll(body.map((l) => l.replace(pattern, String(k))), defines, file));
    i = end;
  }
  return out;
}
