import { bytesToHex, keccak256 } from 'viem';
import { describe, expect, it } from 'vitest';
import { keccak256Bytes, keccakReady } from '../../src/chain/keccak.ts';

describe('keccak256Bytes', () => {
  it('hashes as viem does, before and after the WebAssembly hasher is ready', async () => {
    const inputs = [new Uint8Array(0), new Uint8Array(64).fill(7), new TextEncoder().encode('openlora receipt '.repeat(25))];
    const early = inputs.map((d) => bytesToHex(keccak256Bytes(d)));
    await keccakReady;
    expect(inputs.map((d) => bytesToHex(keccak256Bytes(d)))).toEqual(early);
    expect(early).toEqual(inputs.map((d) => keccak256(d)));
  });
});
