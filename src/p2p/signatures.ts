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
import { keccak_256 } from '@noble/hashes/sha3.js';
import { bytesToHex, getAddress, hexToBytes, type Address, type Hex } from 'viem';
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
  return getAddress(bytesToHex(keccak_256(raw.subarray(1)).subarray(12)));
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

  return {
    recover(digest, signature, expected) {
      assertCanonicalSignature(signature, 'gossiped');
      const bytes = hexToBytes(signature);
      const r = bigintOf(bytes.subarray(0, 32));
      const s = bigintOf(bytes.subarray(32, 64));
      const bit = bytes[64] - 27;
      if (r === 0n || r >= N || s === 0n) return zeroSigner(signature);
      const known = expected === undefined ? undefined : keys.get(expected);
      if (known && expected) {
        const w = invert(s);
        const z = bigintOf(digest) % N;
        const R = Point.BASE.multiplyUnsafe((z * w) % N).add(known.multiplyUnsafe((r * w) % N));
        if (!R.is0()) {
          const a = R.toAffine();
          if (a.x === r && Number(a.y & 1n) === bit) return expected;
        }
      }
      let point: P;
      try {
        point = new secp256k1.Signature(r, s).addRecoveryBit(bit).recoverPublicKey(digest);
      } catch {
        return zeroSigner(signature);
      }
      const address = addressOf(point);
      if (!keys.has(address)) remember(address, Point.fromBytes(point.toBytes(false)).precompute(window, false));
      return address;
    },
    get size() {
      return keys.size;
    },
  };
}

/** What `ecrecover` answers for an unrecoverable signature: the zero address (never a registered node). */
function zeroSigner(_signature: Hex): Address {
  return '0x0000000000000000000000000000000000000000';
}
