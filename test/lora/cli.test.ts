import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCliInProcess as runCli } from '../fixtures/cliInProcess.ts';
import { tempDir, tinyModel } from './helpers.ts';

describe('openlora adapter', () => {
  it('create writes an adapter and inspect prints its id, rank, targets and bytes', async () => {
    const root = await tempDir();
    const model = await tinyModel(root);
    const out = join(root, 'ad');
    const created = await runCli(['adapter', 'create', '--model', model, '--rank', '4', '--alpha', '8', '--targets', 'q_proj,down_proj', '--seed', '3', '--out', out, '--json']);
    expect(created.code).toBe(0);
    const result = JSON.parse(created.stdout);
    expect(result).toMatchObject({ rank: 4, alpha: 8, targets: ['q_proj', 'down_proj'] });
    const inspected = await runCli(['adapter', 'inspect', out, '--model', model, '--json']);
    expect(inspected.code).toBe(0);
    expect(JSON.parse(inspected.stdout)).toMatchObject({ id: result.id, rank: 4, targets: ['q_proj', 'down_proj'], fileBytes: result.bytes, layers: 2 });
    const bad = await runCli(['adapter', 'create', '--model', model, '--rank', '4', '--targets', 'q_proj,lm_head', '--out', join(root, 'bad')]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/OPENLORA_LORA_TARGET_UNKNOWN.*lm_head/);
  });
});
