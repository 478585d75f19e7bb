import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { bf16BitsToF32, f16BitsToF32, f32ToBf16Bits, f32ToBytes, f32ToF16Bits } from '../../src/model/dtype.ts';
import { openSafetensors } from '../../src/model/safetensors.ts';
import { writeSafetensors } from '../../src/model/safetensorsWrite.ts';
import { makeTempDir } from '../fixtures/model.ts';

/** A raw safetensors file from a header object and data bytes (no validation). */
function rawFile(header: unknown, data: Uint8Array, headerLength?: bigint): Buffer {
  const json = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(headerLength ?? BigInt(json.length));
  return Buffer.concat([len, json, data]);
}

let dir: string;
beforeAll(async () => {
  dir = await makeTempDir('openlora-st-');
});

async function openRaw(name: string, bytes: Uint8Array) {
  const path = join(dir, name);
  await writeFile(path, bytes);
  return openSafetensors({ path });
}

async function expectCode(promise: Promise<unknown>, code: string, ...fragments: string[]) {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, `expected ${code}`).toBeDefined();
  expect((error as { code?: string }).code).toBe(code);
  for (const f of fragments) expect((error as Error).message).toContain(f);
  expect((error as Error).message).toContain('Hint:');
}

describe('safetensors write/read', () => {
  for (const dtype of ['F32', 'F16', 'BF16'] as const) {
    it(`round-trips ${dtype}, lazily per tensor, with __metadata__`, async () => {
      const a = Float32Array.from([0, 1, -2.5, 0.1, 1 / 3, 1000, -0.0001, 3]);
      const b = Float32Array.from([7, 8, 9]);
      const path = join(dir, `rt-${dtype}.safetensors`);
      await writeSafetensors({
        path,
        metadata: { format: 'pt' },
        tensors: [
          { name: 'a', dtype, shape: [2, 4], data: () => [f32ToBytes(a.subarray(0, 4), dtype), f32ToBytes(a.subarray(4), dtype)] },
          { name: 'b', dtype, shape: [3], data: () => f32ToBytes(b, dtype) },
        ],
      });
      const file = await openSafetensors({ path });
      expect(file.header.metadata).toEqual({ format: 'pt' });
      expect(file.header.tensors.get('a')).toMatchObject({ dtype, shape: [2, 4] });
      const back = await file.readF32('a');
      const round = dtype === 'F32' ? (x: number) => Math.fround(x) : dtype === 'F16' ? (x: number) => f16BitsToF32(f32ToF16Bits(x)) : (x: number) => bf16BitsToF32(f32ToBf16Bits(x));
      expect([...back]).toEqual([...a].map(round));
      const halves = await file.readF16('a');
      expect([...halves]).toEqual([...a].map((x) => f32ToF16Bits(round(x))));
      expect([...(await file.readF32('b'))]).toEqual([7, 8, 9]);
      await file.close();
      // The header is padded to 8 bytes.
      const bytes = await readFile(path);
      expect(Number(bytes.readBigUInt64LE(0)) % 8).toBe(0);
    });
  }
});

describe('safetensors never trusts the header', () => {
  const tensor = { dtype: 'F32', shape: [2], data_offsets: [0, 8] };
  const data = new Uint8Array(8);

  it('file shorter than 8 bytes', () => expectCode(openRaw('short.st', new Uint8Array(5)), 'OPENLORA_MODEL_SAFETENSORS_INVALID', 'short.st', '5 bytes'));

  it('header length past EOF', () =>
    expectCode(openRaw('len.st', rawFile({ t: tensor }, data, 1_000_000n)), 'OPENLORA_MODEL_SAFETENSORS_INVALID', 'len.st', '1000000', 'past the end'));

  it('truncated data section', async () => {
    const full = rawFile({ t: tensor }, data);
    await expectCode(openRaw('trunc.st', full.subarray(0, full.length - 3)), 'OPENLORA_MODEL_SAFETENSORS_INVALID', 'trunc.st', '"t"', 'truncated');
  });

  it('JSON that does not parse', () => expectCode(openRaw('json.st', rawFile('{"t": {', data)), 'OPENLORA_MODEL_SAFETENSORS_INVALID', 'does not parse'));

  it('overlapping offsets', () =>
    expectCode(
      openRaw('overlap.st', rawFile({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, new Uint8Array(12))),
      'OPENLORA_MODEL_SAFETENSORS_INVALID',
      'overlap',
      '"a"',
      '"b"',
    ));

  it('offsets out of range', () =>
    expectCode(openRaw('range.st', rawFile({ t: { dtype: 'F32', shape: [2], data_offsets: [8, 16] } }, data)), 'OPENLORA_MODEL_SAFETENSORS_INVALID', '[8, 16]', 'data section (8 bytes)'));

  it('negative or inverted offsets', () =>
    expectCode(openRaw('inv.st', rawFile({ t: { dtype: 'F32', shape: [0], data_offsets: [8, 0] } }, data)), 'OPENLORA_MODEL_SAFETENSORS_INVALID', 'invalid data_offsets'));

  it('shape disagreeing with byte length', () =>
    expectCode(openRaw('shape.st', rawFile({ t: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, data)), 'OPENLORA_MODEL_SAFETENSORS_INVALID', '"t"', '8 bytes', 'needs 12'));

  it('unknown dtype', () =>
    expectCode(openRaw('dtype.st', rawFile({ t: { dtype: 'I8', shape: [8], data_offsets: [0, 8] } }, data)), 'OPENLORA_MODEL_DTYPE_UNSUPPORTED', 'dtype.st', '"t"', 'I8'));

  it('bad __metadata__', () =>
    expectCode(openRaw('meta.st', rawFile({ __metadata__: { a: 1 }, t: tensor }, data)), 'OPENLORA_MODEL_SAFETENSORS_INVALID', '__metadata__'));

  it('missing file', () => expectCode(openSafetensors({ path: join(dir, 'nope.safetensors') }), 'OPENLORA_MODEL_FILE_NOT_FOUND', 'nope.safetensors'));
});
