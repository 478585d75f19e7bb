/**
 * Many view calls in one `eth_call` through the ReadBatch test helper (contracts/test/ReadBatch.sol):
 * the invariant tests read every balance, credit, stake and pool after each step. ReadBatch takes the
 * calls packed (target, data length, data) and returns the results packed (length, data); each
 * read's packed call is encoded once, and plain uint256 results are decoded directly.
 */
import { decodeFunctionResult, encodeFunctionData, encodePacked, hexToBigInt, size, type Abi, type Address, type Hex } from 'viem';
import { readBatchAbi, readBatchBytecode } from '../../src/chain/generated/abis.ts';
import type { Chain } from './fixture.ts';

export interface Read {
  abi: Abi;
  to: Address;
  fn: string;
  args: readonly (string | bigint)[];
  /** Decode with the ABI (otherwise the result is one uint256). */
  struct?: boolean;
}

/** One call as ReadBatch.read takes it: its target (20 bytes), its data's length (4 bytes), its data; hex without `0x`. */
export function packCall(target: Address, data: Hex): string {
  return encodePacked(['address', 'uint32', 'bytes'], [target, size(data), data]).slice(2);
}

/** Splits ReadBatch.read's result into each call's return data (each packed as a 32-byte length, then the data). */
export function unpackResults(packed: Hex): Hex[] {
  const results: Hex[] = [];
  let at = 2;
  while (at < packed.length) {
    const bytes = Number.parseInt(packed.slice(at, at + 64), 16);
    at += 64;
    if (!Number.isSafeInteger(bytes) || at + 2 * bytes > packed.length) throw new Error(`ReadBatch result is truncated at hex offset ${at}: a result of ${bytes} bytes does not fit in ${packed.length} characters`);
    results.push(`0x${packed.slice(at, at + 2 * bytes)}`);
    at += 2 * bytes;
  }
  return results;
}

/** Deploys ReadBatch on `c`; `readAll` reads all of `reads` at the latest block, in order. */
export async function deployReadBatch(c: Chain) {
  const address = (await c.wait(c.wallets[0].deployContract({ abi: readBatchAbi, bytecode: readBatchBytecode }))).contractAddress!;
  const packed = new Map<string, string>();
  async function readAll(reads: Read[]): Promise<unknown[]> {
    const calls = reads.map((r) => {
      const key = `${r.to}:${r.fn}:${r.args.join(',')}`;
      let call = packed.get(key);
      if (call === undefined) packed.set(key, (call = packCall(r.to, encodeFunctionData({ abi: r.abi, functionName: r.fn, args: r.args } as never))));
      return call;
    });
    const data = encodeFunctionData({ abi: readBatchAbi, functionName: 'read', args: [`0x${calls.join('')}`] });
    const raw = (await c.connection.provider.request({ method: 'eth_call', params: [{ to: address, data }, 'latest'] })) as Hex;
    const results = unpackResults(decodeFunctionResult({ abi: readBatchAbi, functionName: 'read', data: raw }));
    if (results.length !== reads.length) throw new Error(`ReadBatch returned ${results.length} results for ${reads.length} reads`);
    return results.map((result, i) => (reads[i].struct ? decodeFunctionResult({ abi: reads[i].abi, functionName: reads[i].fn, data: result } as never) : hexToBigInt(result)));
  }
  return { address, readAll };
}
