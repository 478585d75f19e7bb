import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { describeConfig, envName, loadConfig } from '../../src/config/load.ts';
import { ConfigFileError, ConfigInvalidError, ConfigUnknownKeyError } from '../../src/config/errors.ts';

const dir = mkdtempSync(join(tmpdir(), 'openlora-config-'));
function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}
function error(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an error');
}

describe('loadConfig', () => {
  it('fills every default', () => {
    const config = loadConfig({ env: {} });
    expect(config.api).toMatchObject({ host: '127.0.0.1', port: 8547 });
    expect(config.chain.rpcUrl).toBe('http://127.0.0.1:8545');
    expect(config.model.backend).toBe('auto');
  });

  it('layers file < env < flags, coercing strings to the key type', () => {
    const path = file('a.json', JSON.stringify({ api: { port: 9000, host: '0.0.0.0' }, log: { level: 'debug' } }));
    const config = loadConfig({ file: path, env: { OPENLORA_API_PORT: '9001', OPENLORA_LOG_LEVEL: 'warn' }, overrides: { 'log.level': 'error' } });
    expect(config.api).toMatchObject({ host: '0.0.0.0', port: 9001 });
    expect(config.log.level).toBe('error');
  });

  it('names the key, the source and the expected type for a bad value', () => {
    const e = error(() => loadConfig({ env: { OPENLORA_API_PORT: 'eighty' } }));
    expect(e).toBeInstanceOf(ConfigInvalidError);
    expect(e.message).toContain('"api.port" (from env OPENLORA_API_PORT)');
    expect(e.message).toContain('expected an integer in [0, 65535]');
    expect(e.message).toContain('value: "eighty"');

    const f = error(() => loadConfig({ file: file('b.json', '{"model":{"dtype":"f8"}}'), env: {} }));
    expect(f.message).toContain(`"model.dtype" (from file ${join(dir, 'b.json')})`);
    expect(f.message).toContain('one of "auto", "f16", "bf16", "f32"');

    const g = error(() => loadConfig({ env: {}, overrides: { 'chain.rpcUrl': 'ftp://x' } }));
    expect(g.message).toContain('(from --set chain.rpcUrl)');
  });

  it('rejects unknown keys with a suggestion', () => {
    const e = error(() => loadConfig({ env: {}, overrides: { 'api.prot': '1' } }));
    expect(e).toBeInstanceOf(ConfigUnknownKeyError);
    expect(e.message).toContain('Did you mean "api.port"?');
    expect(e.message).toContain('(from --set api.prot)');
    const f = error(() => loadConfig({ env: {}, file: file('c.json', '{"apii":{"port":1}}') }));
    expect((f as ConfigUnknownKeyError).code).toBe('OPENLORA_CONFIG_UNKNOWN_KEY');
  });

  it('reports unreadable and malformed files', () => {
    expect(error(() => loadConfig({ env: {}, file: join(dir, 'missing.json') }))).toBeInstanceOf(ConfigFileError);
    expect(error(() => loadConfig({ env: {}, file: file('d.json', '{ not json') })).message).toContain('not valid JSON');
    expect(error(() => loadConfig({ env: {}, file: file('e.json', '[1]') })).message).toContain('top level must be a JSON object');
  });

  it('derives env names from keys and documents every key', () => {
    expect(envName('chain.rpcUrl')).toBe('OPENLORA_CHAIN_RPC_URL');
    expect(envName('dataDir')).toBe('OPENLORA_DATA_DIR');
    const keys = describeConfig();
    expect(keys.map((k) => k.key)).toContain('api.port');
    for (const k of keys) expect(k.description.length).toBeGreaterThan(3);
  });
});

describe('lora.dtype', () => {
  it('defaults to auto (the base model\'s, as vLLM\'s --lora-dtype auto) and takes f16 or f32 from a file, env or flag; other dtypes are refused', () => {
    expect(loadConfig({ env: {} }).lora.dtype).toBe('auto');
    expect(loadConfig({ env: { OPENLORA_LORA_DTYPE: 'f16' } }).lora.dtype).toBe('f16');
    expect(loadConfig({ env: {}, overrides: { 'lora.dtype': 'f16' } }).lora.dtype).toBe('f16');
    expect(loadConfig({ env: {}, overrides: { 'lora.dtype': 'f32' } }).lora.dtype).toBe('f32');
    const e = error(() => loadConfig({ env: {}, file: file('dtype.json', '{"lora":{"dtype":"bf16"}}') }));
    expect(e).toBeInstanceOf(ConfigInvalidError);
    expect(e.message).toContain('"lora.dtype"');
    expect(e.message).toContain('one of "auto", "f32", "f16"');
  });

  it('refuses explicit f16 with unified memory (pages hold f32 factors), naming both keys and what to do; auto and f32 go', () => {
    expect(loadConfig({ env: {}, overrides: { 'engine.memory.mode': 'unified' } }).lora.dtype).toBe('auto');
    expect(loadConfig({ env: {}, overrides: { 'engine.memory.mode': 'unified', 'lora.dtype': 'f32' } }).lora.dtype).toBe('f32');
    const e = error(() => loadConfig({ env: { OPENLORA_LORA_DTYPE: 'f16' }, overrides: { 'engine.memory.mode': 'unified' } })) as ConfigInvalidError;
    expect(e).toBeInstanceOf(ConfigInvalidError);
    expect(e.message).toContain('"lora.dtype" (from env OPENLORA_LORA_DTYPE)');
    expect(e.message).toContain('engine.memory.mode: unified');
    expect(e.hint).toContain('lora.dtype: f32');
    expect(e.hint).toContain('engine.memory.mode: split');
  });
});

describe('loadConfig arrays', () => {
  it('reads arrays from env as JSON or comma lists', () => {
    const keys = [{ id: 'team-a', sha256: 'a'.repeat(64) }];
    const config = loadConfig({ env: { OPENLORA_PAYMENTS_API_KEYS: JSON.stringify(keys) } });
    expect(config.payments.apiKeys).toEqual(keys);
    const e = error(() => loadConfig({ env: { OPENLORA_PAYMENTS_API_KEYS: '[{"id":"x"}]' } }));
    expect(e.message).toContain('"payments.apiKeys"');
  });
});
