import { describe, expect, it } from 'vitest';
import { runCli } from '../fixtures/cli.ts';

describe('openlora CLI', () => {
  it('prints help for the program and every command', async () => {
    const top = await runCli(['--help']);
    expect(top.code).toBe(0);
    expect(top.stdout).toContain('Usage: openlora');
    const commands = [...top.stdout.matchAll(/^ {2}([a-z][a-z-]*)\b/gm)].map((m) => m[1]).filter((c) => c !== 'help');
    expect(commands).toContain('doctor');
    for (const command of commands) {
      const help = await runCli([command, '--help']);
      expect(help.code, command).toBe(0);
      expect(help.stdout).toContain(`Usage: openlora ${command}`);
    }
  });

  it('suggests the closest command for an unknown one and exits non-zero', async () => {
    const result = await runCli(['doctr']);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain("unknown command 'doctr'");
    expect(result.stderr).toContain('Did you mean doctor?');
  });

  it('rejects an unknown flag', async () => {
    const result = await runCli(['doctor', '--bogus']);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain("unknown option '--bogus'");
  });

  it('reports a bad config value with its key and exits 1', async () => {
    const result = await runCli(['doctor', '--offline', '--set', 'api.port=http']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('[OPENLORA_CONFIG_INVALID]');
    expect(result.stderr).toContain('"api.port" (from flag --api.port)');
  });
});
