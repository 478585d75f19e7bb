import { describe, expect, it } from 'vitest';
import { buildFullProgram } from '../../src/cli/main.ts';
import { runCli, runNode } from '../fixtures/cli.ts';
import { runCliInProcess } from '../fixtures/cliInProcess.ts';

describe('openlora CLI', () => {
  it('prints help for the program and every command and subcommand', async () => {
    const top = await runCliInProcess(['--help']);
    expect(top.code).toBe(0);
    expect(top.stdout).toContain('Usage: openlora');
    const listed = [...top.stdout.matchAll(/^ {2}([a-z][a-z-]*)\b/gm)].map((m) => m[1]).filter((c) => c !== 'help');
    const program = await buildFullProgram();
    expect(listed).toEqual(program.commands.map((c) => c.name()));
    for (const command of program.commands) {
      const paths = [[command.name()], ...command.commands.map((sub) => [command.name(), sub.name()])];
      for (const path of paths) {
        const help = await runCliInProcess([...path, '--help']);
        expect(help.code, path.join(' ')).toBe(0);
        expect(help.stdout).toContain(`Usage: openlora ${path.join(' ')}`);
      }
    }
  });

  it('suggests the closest command for an unknown one, with a code and a hint', async () => {
    const result = await runCliInProcess(['doctr']);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain("error [OPENLORA_CLI_USAGE]: Unknown command 'doctr'");
    expect(result.stderr).toContain('Did you mean doctor?');
    expect(result.stderr).toContain('Hint: `openlora --help` shows the usage.');
  });

  it('reports a bad config value with its key and the flag as written', async () => {
    const result = await runCliInProcess(['doctor', '--offline', '--set', 'api.port=http']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('[OPENLORA_CONFIG_INVALID]');
    expect(result.stderr).toContain('"api.port" (from --set api.port)');
    const unknown = await runCliInProcess(['doctor', '--offline', '--set', 'api.prot=1']);
    expect(unknown.stderr).toContain('Unknown configuration key "api.prot" (from --set api.prot)');
    expect(unknown.stderr).toContain('Did you mean "api.port"?');
  });

  it('runs from the clone as `npx openlora` (the package\'s own bin)', async () => {
    const { execFile } = await import('node:child_process');
    const { NODE_PATH } = await import('../fixtures/sdkPackage.ts');
    const { ROOT } = await import('../fixtures/cli.ts');
    const stdout = await new Promise<string>((resolve, reject) => execFile('npx', ['--no-install', 'openlora', '--version'], { cwd: ROOT, env: { ...process.env, PATH: NODE_PATH } }, (error, out) => (error ? reject(error) : resolve(out))));
    expect(stdout).toMatch(/^openlora \d+\.\d+\.\d+ \(source\)\ncommit  ([0-9a-f]{40}(-dirty)?|unknown)\nshaders [0-9a-f]{64}\n/);
  });

  // Speed is a ratio to Node's own start on the same machine at the same moment, the minimum of
  // several runs of each (robust to a busy machine), never an absolute time.
  it('starts for --help and doctor --help without loading the heavy modules (a few times `node -e 0`)', async () => {
    const timeOf = async (run: () => Promise<{ code: number | null }>) => {
      let best = Infinity;
      for (let i = 0; i < 7; i++) {
        const started = performance.now();
        expect((await run()).code).toBe(0);
        best = Math.min(best, performance.now() - started);
      }
      return best;
    };
    const node = await timeOf(() => runNode(['-e', '0']));
    const help = await timeOf(() => runCli(['--help']));
    const doctorHelp = await timeOf(() => runCli(['doctor', '--help']));
    console.log(`node -e 0 ${node.toFixed(0)} ms; openlora --help ${help.toFixed(0)} ms (${(help / node).toFixed(1)}x); openlora doctor --help ${doctorHelp.toFixed(0)} ms (${(doctorHelp / node).toFixed(1)}x)`);
    // Loading every command (viem, the engine, libp2p) costs 30-50x `node -e 0`.
    expect(help / node).toBeLessThan(15);
    expect(doctorHelp / node).toBeLessThan(15);
  });
});
