/** The offline CLI path: `datanet create|add`, `attribution compute --out`, `attribution verify` against the report. */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildAttributionTree } from '../../src/chain/merkle.ts';
import { main } from '../../src/cli/main.ts';
import { createTinyModel, makeTempDir } from '../fixtures/model.ts';
import { fitAdapter } from './fitAdapter.ts';
import { CONTRIBUTORS, TEXTS } from './fixture.ts';

async function run(args: string[]): Promise<{ code: number; out: string }> {
  const out: string[] = [];
  const write = process.stdout.write.bind(process.stdout);
  const writeErr = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((chunk: string) => (out.push(String(chunk)), true)) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string) => (out.push(String(chunk)), true)) as typeof process.stderr.write;
  process.exitCode = undefined;
  try {
    const code = await main(['node', 'openlora', ...args]);
    return { code, out: out.join('') };
  } finally {
    process.stdout.write = write;
    process.stderr.write = writeErr;
    process.exitCode = undefined;
  }
}

describe('openlora datanet / attribution CLI', () => {
  let model: string;
  let root: string;
  beforeAll(async () => {
    model = await createTinyModel();
    root = await makeTempDir('openlora-cli-');
  });

  it('builds a Datanet, computes a report with progress, and verifies it; a tampered report fails naming the contributor', async () => {
    const dn = join(root, 'dn');
    expect((await run(['datanet', 'create', dn, '--name', 'cli', '--dataset-version', '1.0.0'])).code).toBe(0);
    for (const [k, texts] of TEXTS.entries()) {
      for (const [j, text] of texts.entries()) {
        const file = join(root, `t${k}${j}.txt`);
        await writeFile(file, text);
        const r = await run(['datanet', 'add', dn, '--file', file, '--contributor', CONTRIBUTORS[k], '--model', model]);
        expect(r.code, r.out).toBe(0);
      }
    }
    const adapter = join(root, 'adapter');
    await fitAdapter({ model, texts: TEXTS[0], out: adapter, steps: 30 });
    const out = join(root, 'attribution.json');
    const compute = await run(['attribution', 'compute', '--model', model, '--adapter', adapter, '--datanet', dn, '--out', out]);
    expect(compute.code, compute.out).toBe(0);
    expect(compute.out).toMatch(/scoring \[#+\] 12\/12 .* left/);
    expect(compute.out).toContain(CONTRIBUTORS[0]);
    const verify = await run(['attribution', 'verify', out, '--model', model, '--adapter', adapter, '--datanet', dn]);
    expect(verify.code, verify.out).toBe(0);
    expect(verify.out).toContain('OK: the recomputed root is the published root');

    // A report whose tree was rebuilt with an inflated weight: verify names that contributor.
    const report = JSON.parse(await readFile(out, 'utf8'));
    const leaves = report.contributors.filter((c: { weight: string }) => BigInt(c.weight) > 0n)
      .map((c: { contributor: `0x${string}`; weight: string }) => ({ contributor: c.contributor, weight: BigInt(c.weight) + (c.contributor === CONTRIBUTORS[1] ? 5_000_000n : 0n) }));
    const tree = buildAttributionTree({ adapterId: report.adapterId, leaves });
    await writeFile(out, JSON.stringify({ ...report, root: tree.root, totalWeight: tree.totalWeight.toString(), tree: tree.tree.dump() }));
    const bad = await run(['attribution', 'verify', out, '--model', model, '--adapter', adapter, '--datanet', dn]);
    expect(bad.code).toBe(1);
    expect(bad.out).toContain(`contributor ${CONTRIBUTORS[1]}: published weight`);
    expect(bad.out).not.toContain(`contributor ${CONTRIBUTORS[0]}:`);

    // A tree edited by hand no longer matches its root: the report is refused as such.
    const edited = JSON.parse(await readFile(out, 'utf8'));
    edited.tree.values[0].value[2] = '1';
    await writeFile(out, JSON.stringify(edited));
    const broken = await run(['attribution', 'verify', out, '--model', model, '--adapter', adapter, '--datanet', dn]);
    expect(broken.code).toBe(1);
    expect(broken.out).toContain('OPENLORA_ATTRIBUTION_REPORT_INVALID');
  });
});
