import type { Account, Chain, Hex, PublicClient, Transport, WalletClient } from 'viem';
import { nodeRegistryAbi } from '../chain/generated/abis.ts';
import { recoverUsageReceiptSigner } from '../chain/eip712.ts';
import { waitForSuccess } from '../chain/waitForSuccess.ts';
import { BaseError } from '../errors.ts';
import { receiptFromJson } from '../payments/receiptJson.ts';
import type { ClientDeployment } from './deployment.ts';
import type { ReceiptJson } from './lanes.ts';

/** Two receipts that do not prove an equivocation. */
export class NotAnEquivocationError extends BaseError {
  override name = 'NotAnEquivocationError' as const;
  constructor(problem: string) {
    super('OPENLORA_CLIENT_NOT_EQUIVOCATION', `These receipts do not prove an equivocation: ${problem}.`, { hint: 'An equivocation is two different receipts signed by one node key with the same seq.' });
  }
}

/**
 * Submits the equivocation proof `NodeRegistry.slash(receiptA, sigA, receiptB, sigB)`: two receipts
 * signed by the same node with the same `seq` and different contents. Checks them first, so a
 * transaction that would revert is never sent. The prover's reward is credited to the sender.
 */
export async function proveEquivocation(p: {
  publicClient: PublicClient;
  walletClient: WalletClient<Transport, Chain | undefined, Account>;
  deployment: ClientDeployment;
  a: ReceiptJson;
  b: ReceiptJson;
}): Promise<Hex> {
  const a = receiptFromJson(p.a);
  const b = receiptFromJson(p.b);
  const domain = { chainId: p.deployment.chainId, nodeRegistry: p.deployment.contracts.nodeRegistry };
  if (a.seq !== b.seq) throw new NotAnEquivocationError(`their seqs differ (${a.seq} and ${b.seq})`);
  const signerA = await recoverUsageReceiptSigner({ receipt: a, signature: p.a.signature, ...domain });
  const signerB = await recoverUsageReceiptSigner({ receipt: b, signature: p.b.signature, ...domain });
  if (signerA !== signerB) throw new NotAnEquivocationError(`they are signed by ${signerA} and ${signerB}`);
  if (JSON.stringify(p.a.receipt) === JSON.stringify(p.b.receipt)) throw new NotAnEquivocationError('they are the same receipt');
  const { request } = await p.publicClient.simulateContract({
    address: p.deployment.contracts.nodeRegistry,
    abi: nodeRegistryAbi,
    functionName: 'slash',
    args: [a, p.a.signature, b, p.b.signature],
    account: p.walletClient.account,
  });
  const hash = await p.walletClient.writeContract(request);
  await waitForSuccess(p.publicClient, hash, 'slash');
  return hash;
}
