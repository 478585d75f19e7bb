import { describe, expect, it } from 'vitest';
import { runNode } from './fixtures/cli.ts';

describe('componentLogger', () => {
  it('writes one `component` key per line (pino would repeat a child\'s binding)', async () => {
    const script = `
      import { componentLogger, createLogger } from './src/log.ts';
      const node = createLogger({ name: 'node' });
      componentLogger(node, 'p2p').info('from p2p');
    `;
    const result = await runNode(['--input-type=module', '-e', script], { env: { OPENLORA_LOG_LEVEL: 'info' } });
    const line = result.stderr.split('\n').find((l) => l.includes('from p2p'))!;
    expect(line.match(/"component":/g)).toHaveLength(1);
    expect(JSON.parse(line)).toMatchObject({ component: 'p2p', msg: 'from p2p' });
  });
});
