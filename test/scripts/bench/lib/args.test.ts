/**
 * Benchmarks' command lines (scripts/bench/lib/args.ts): `--help` prints the script's doc comment
 * and options, a bad option is one line with a hint whose command exists, and every benchmark
 * script goes through it with an `npm run bench:NAME` entry.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, runNode } from '../../../fixtures/cli.ts';
import { makeTempDir } from '../../../fixtures/model.ts';

const BENCH = join(ROOT, 'scripts/bench');

describe('benchmark arguments', () => {
  it('--help, a bad option and good options of a script', async () => {
    const dir = await makeTempDir('openlora-bench-args-');
    const script = join(dir, 'probe.ts');
    await writeFile(script, `/**\n * Probe benchmark: says what it got.\n */\nimport { benchArgs, oneOf, positiveNumber } from ${JSON.stringify(join(BENCH, 'lib/args.ts'))};\nconst args = benchArgs(import.meta.url, { rounds: { type: 'string', default: '3' }, quick: { type: 'boolean', default: false }, out: { type: 'string' }, clock: { type: 'string', default: 'real' } });\npositiveNumber('rounds', args.rounds);\noneOf('clock', args.clock, ['real', 'virtual']);\nconsole.log(JSON.stringify(args));\n`);
    const help = await runNode([script, '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Probe benchmark: says what it got.');
    expect(help.stdout).toMatch(/--rounds VALUE \(default 3\)\n {2}--quick\n {2}--out VALUE\n {2}--clock VALUE \(default real\)\n {2}--help/);
    const bad = await runNode([script, '--round', '4']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe("bench:probe: Unknown option '--round'\nSee the options: npm run bench:probe -- --help\n");
    const notNumber = await runNode([script, '--rounds', 'many']);
    expect(notNumber.code).toBe(2);
    expect(notNumber.stderr).toBe('bench:probe: --rounds must be a positive number, got "many"\nSee the options: npm run bench:probe -- --help\n');
    const notChoice = await runNode([script, '--clock', 'wall']);
    expect(notChoice.code).toBe(2);
    expect(notChoice.stderr).toBe('bench:probe: --clock must be one of real, virtual, got "wall"\nSee the options: npm run bench:probe -- --help\n');
    const good = await runNode([script, '--rounds', '4', '--quick']);
    expect(good.code, good.stderr).toBe(0);
    expect(JSON.parse(good.stdout)).toEqual({ rounds: '4', quick: true, clock: 'real' });
  });

  it('every benchmark parses its options with benchArgs and has its npm script (the hint runs it)', () => {
    const scripts = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
    const files = readdirSync(BENCH).filter((f) => f.endsWith('.ts'));
    expect(files.length).toBeGreaterThan(10);
    for (const file of files) {
      const text = readFileSync(join(BENCH, file), 'utf8');
      expect(text, file).toContain('benchArgs(import.meta.url');
      expect(text, file).not.toMatch(/\bparseArgs\(/);
      expect(scripts[`bench:${file.replace(/\.ts$/, '')}`], file).toBe(`node scripts/bench/${file}`);
    }
  });
});
