import { keccak256, toHex } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { describe, expect, it } from 'vitest';
import { createLocalStorageStore, createNonce, deriveNonceKey, readNonce } from '../../src/client/index.ts';

const lane = { channelId: keccak256(toHex('channel')), adapterId: keccak256(toHex('lane')) };
const bound = { maxCompletionTokens: 8, maxAmount: 1234n, price: { inputPer1k: 1000n, outputPer1k: 2000n } };

describe('request nonces', () => {
  it('carry their request\'s bounds, readable only by the payer that made them, for that lane', async () => {
    const account = privateKeyToAccount(generatePrivateKey());
    const key = await deriveNonceKey(account, lane.channelId);
    expect(await deriveNonceKey(account, lane.channelId)).toEqual(key); // every process of the payer derives the same key
    const nonce = createNonce(key, lane, bound);
    expect(nonce).toMatch(/^[A-Za-z0-9._:-]{8,256}$/); // what the node accepts
    expect(readNonce(key, lane, nonce)).toEqual({ nonce, ...bound });
    expect(createNonce(key, lane, bound)).not.toBe(nonce);
    const other = await deriveNonceKey(privateKeyToAccount(generatePrivateKey()), lane.channelId);
    expect(readNonce(other, lane, nonce)).toBeUndefined();
    expect(readNonce(key, { ...lane, adapterId: keccak256(toHex('other lane')) }, nonce)).toBeUndefined();
    const [r, , maxAmount, ...rest] = nonce.split('.');
    expect(readNonce(key, lane, [r, '80', maxAmount, ...rest].join('.'))).toBeUndefined(); // max_tokens raised by the node
    expect(readNonce(key, lane, undefined)).toBeUndefined();
  });

  it('a Web Storage store round-trips lane state', async () => {
    const data = new Map<string, string>();
    const store = createLocalStorageStore({ getItem: (k) => data.get(k) ?? null, setItem: (k, v) => void data.set(k, v) });
    await store.set('lane', '{"acked":"5"}');
    expect(await store.get('lane')).toBe('{"acked":"5"}');
    expect([...data.keys()]).toEqual(['openlora:lane']);
  });
});
