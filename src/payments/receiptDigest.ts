import { bytesToHex, encodeAbiParameters, keccak256, stringToHex, type Address, type Hex } from 'viem';
import { EIP712_NAME, EIP712_VERSION, usageReceiptDigest, usageReceiptTypes, type UsageReceipt } from '../chain/eip712.ts';
import { keccak256Bytes } from '../chain/keccak.ts';

/** `UsageReceipt(bytes32 channelId,...,uint64 timestamp)`, from the one definition of the type. */
const TYPE_STRING = `UsageReceipt(${usageReceiptTypes.UsageReceipt.map((f) => `${f.type} ${f.name}`).join(',')})`;
const TYPE_HASH = Buffer.from(keccak256(stringToHex(TYPE_STRING)).slice(2), 'hex');
const DOMAIN_TYPE_HASH = keccak256(stringToHex('EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)'));
const BYTES32 = /^0x[0-9a-fA-F]{64}$/;
const UINT_BITS: Record<string, bigint> = { uint32: 32n, uint64: 64n, uint256: 256n };

/**
 * The EIP-712 digest of usage receipts for one domain, equal to `usageReceiptDigest` and ~50x
 * faster: the domain separator is computed once and the struct (11 static fields, one 32-byte word
 * each) is encoded straight into a buffer. A receipt with a value the encoding cannot hold goes
 * to `usageReceiptDigest`, which throws viem's error for it.
 */
export function createUsageReceiptHasher({ chainId, nodeRegistry }: { chainId: number; nodeRegistry: Address }): (receipt: UsageReceipt) => Hex {
  const domainSeparator = keccak256(encodeAbiParameters(
    [{ type: 'bytes32' }, { type: 'bytes32' }, { type: 'bytes32' }, { type: 'uint256' }, { type: 'address' }],
    [DOMAIN_TYPE_HASH, keccak256(stringToHex(EIP712_NAME)), keccak256(stringToHex(EIP712_VERSION)), BigInt(chainId), nodeRegistry],
  ));
  const prefix = Buffer.from(`1901${domainSeparator.slice(2)}`, 'hex'); // [2 + 32] bytes
  const fields = usageReceiptTypes.UsageReceipt;
  return (receipt) => {
    const struct = Buffer.alloc(32 * (fields.length + 1)); // [typeHash, field words...]
    TYPE_HASH.copy(struct, 0);
    for (let i = 0; i < fields.length; i++) {
      const { name, type } = fields[i];
      const value = receipt[name] as unknown;
      if (type === 'bytes32') {
        if (typeof value !== 'string' || !BYTES32.test(value)) return usageReceiptDigest({ receipt, chainId, nodeRegistry });
        struct.write(value.slice(2), 32 * (i + 1), 'hex');
      } else {
        const n = typeof value === 'bigint' ? value : typeof value === 'number' && Number.isSafeInteger(value) ? BigInt(value) : -1n;
        if (n < 0n || n >> UINT_BITS[type] !== 0n) return usageReceiptDigest({ receipt, chainId, nodeRegistry });
        struct.write(n.toString(16).padStart(64, '0'), 32 * (i + 1), 'hex');
      }
    }
    return bytesToHex(keccak256Bytes(Buffer.concat([prefix, keccak256Bytes(struct)])));
  };
}
