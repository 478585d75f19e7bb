/**
 * Fast secp256k1 signer checks for gossip validation.
 *
 * Recovering a public key costs two general scalar multiplications (~2-4 ms in pure JS), too slow
 * for 1,000 receipts/s. A verifier given the signer it expects (the node last seen signing for a
 * channel, an announcement's node) checks the signature against that signer's cached public key
 * with precomputed tables (~0.6 ms), and checks the recovery bit too, so a signature it accepts is
 * exactly one `ecrecover` (and OpenZeppelin `ECDSA.recover`) maps to that signer. Without a cached
 * key, or when the check fails, it falls back to full recovery and caches the key it found.
 */
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { keccak256Bytes } from '../chain/keccak.ts';
import { bytesToHex, getAddress, hexToBytes, isAddressEqual, zeroAddress, type Address, type Hex } from 'viem';
import { assertCanonicalSignature } from '../chain/eip712.ts';

const { Point } = secp256k1;
type P = InstanceType<typeof Point>;
const N = Point.CURVE().n;

/** Recovers signers of 32-byte digests, with a bounded cache of public keys. */
export interface SignatureVerifier {
  /**
   * The address that signed `digest`. Throws `InvalidSignatureError` for signatures the contracts
   * reject (length, high s, v); `expected` is a hint, not a requirement.
   */
  recover(digest: Uint8Array, signature: Hex, expected?: Address): Address;
  /**
   * Whether `expected` signed `digest`. With `expected`'s key cached this is one check with no
   * recovery (exact: it accepts what `ecrecover` maps to `expected` and nothing else), so a forged
   * signature costs one check; otherwise the key is recovered once, and cached only when it is
   * `expected`'s (strangers' keys never evict known ones). Throws like `recover`.
   */
  verify(digest: Uint8Array, signature: Hex, expected: Address): boolean;
  /** Public keys cached. */
  readonly size: number;
}

export interface CreateSignatureVerifierParameters {
  /** Public keys kept (least recently used dropped). Default 256. */
  maxKeys?: number;
  /** wNAF window of the precomputed tables (memory grows as 2^w). Default 6. */
  window?: number;
}

function bigintOf(bytes: Uint8Array): bigint {
  return BigInt(bytesToHex(bytes));
}

function invert(a: bigint): bigint {
  let [t, nt, r, nr] = [0n, 1n, N, a % N];
  while (nr !== 0n) {
    const q = r / nr;
    [t, nt] = [nt, t - q * nt];
    [r, nr] = [nr, r - q * nr];
  }
  return t < 0n ? t + N : t;
}

function addressOf(point: P): Address {
  const raw = point.toBytes(false);
  return getAddress(bytesToHex(keccak256Bytes(raw.subarray(1)).subarray(12)));
}

/** Creates a verifier with its own key cache. */
export function createSignatureVerifier(p: CreateSignatureVerifierParameters = {}): SignatureVerifier {
  const maxKeys = p.maxKeys ?? 256;
  const window = p.window ?? 6;
  const keys = new Map<Address, P>();

  function remember(address: Address, point: P): void {
    keys.delete(address);
    keys.set(address, point);
    if (keys.size > maxKeys) keys.delete(keys.keys().next().value as Address);
  }

  function parse(signature: Hex) {
    assertCanonicalSignature(signature, 'gossiped');
    const bytes = hexToBytes(signature);
    return { r: bigintOf(bytes.subarray(0, 32)), s: bigintOf(bytes.subarray(32, 64)), bit: bytes[64] - 27 };
  }

  /** The fast check against a known key: R = (z/s)G + (r/s)Q must have x = r and the recovery bit's parity. */
  function matches(digest: Uint8Array, sig: { r: bigint; s: bigint; bit: number }, key: P): boolean {
    const w = invert(sig.s);
    const z = bigintOf(digest) % N;
    const R = Point.BASE.multiplyUnsafe((z * w) % N).add(key.multiplyUnsafe((sig.r * w) % N));
    if (R.is0()) return false;
    const a = R.toAffine();
    return a.x === sig.r && Number(a.y & 1n) === sig.bit;
  }

  function recoverPoint(digest: Uint8Array, sig: { r: bigint; s: bigint; bit: number }): P | undefined {
    try {
      return new secp256k1.Signature(sig.r, sig.s).addRecoveryBit(sig.bit).recoverPublicKey(digest);
    } catch {
      return undefined;
    }
  }

  const precomputed = (point: P) => Point.fromBytes(point.toBytes(false)).precompute(window, false);

  return {
    recover(digest, signature, expected) {
      const sig = parse(signature);
      if (sig.r === 0n || sig.r >= N || sig.s === 0n) return zeroAddress;
      const known = expected === undefined ? undefined : keys.get(expected);
      if (known && expected && matches(digest, sig, known)) return expected;
      const point = recoverPoint(digest, sig);
      if (!point) return zeroAddress;
      const address = addressOf(point);
      if (!keys.has(address)) remember(address, precomputed(point));
      return address;
    },
    verify(digest, signature, expected) {
      const sig = parse(signature);
      if (sig.r === 0n || sig.r >= N || sig.s === 0n) return false;
      const known = keys.get(expected);
      if (known) return matches(digest, sig, known);
      const point = recoverPoint(digest, sig);
      if (!point || !isAddressEqual(addressOf(point), expected)) return false;
      remember(expected, precomputed(point));
      return true;
    },
    get size() {
      return keys.size;
    },
  };
}
