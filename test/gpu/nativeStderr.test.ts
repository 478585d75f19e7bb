import { spawn } from 'node:child_process';
import { openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../fixtures/cli.ts';
import { makeTempDir } from '../fixtures/model.ts';

describe('filterNativeStderr', () => {
  // stderr is a file here, as for `openlora dev 2>log`; a terminal or shell pipe works the same.
  // (Node's own child pipes are sockets, which cannot be reopened: there the output passes as is.)
  it('drops Dawn\'s limit notices of the adapter request and keeps everything else printed to fd 2', async () => {
    const script = `
      import { writeSync } from 'node:fs';
      import { filterNativeStderr } from './src/gpu/nativeStderr.ts';
      import { requestAdapter } from './src/gpu/device.ts';
      filterNativeStderr(() => {
        writeSync(2, 'Warning: maxDynamicUniformBuffersPerPipelineLayout artificially reduced from 1000000 to 16 to fit dynamic offset allocation limit.\\n');
        writeSync(2, 'a real driver error\\n');
      });
      const adapter = await requestAdapter();
      process.stderr.write('stderr still works ' + (adapter !== undefined) + '\\n');
    `;
    const file = join(await makeTempDir('openlora-stderr-'), 'stderr.txt');
    const fd = openSync(file, 'w');
    const code = await new Promise<number | null>((resolve, reject) => {
      const child = spawn(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, stdio: ['ignore', 'ignore', fd] });
      child.once('error', reject);
      child.once('exit', resolve);
    });
    const stderr = readFileSync(file, 'utf8');
    expect(code, stderr).toBe(0);
    expect(stderr).not.toContain('artificially reduced');
    expect(stderr).toContain('a real driver error\n');
    expect(stderr).toContain('stderr still works true');
  });
});
