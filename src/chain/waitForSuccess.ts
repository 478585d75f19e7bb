import type { Hex, PublicClient, TransactionReceipt } from 'viem';
import { TransactionRevertedError } from './errors.ts';

/**
 * Waits for a transaction to be mined; throws `TransactionRevertedError` when it reverted. The one
 * place openlora waits for its transactions.
 */
export async function waitForSuccess(publicClient: Pick<PublicClient, 'waitForTransactionReceipt'>, hash: Hex, what?: string, confirmations?: number): Promise<TransactionReceipt> {
  const receipt = await publicClient.waitForTransactionReceipt({ hash, confirmations });
  if (receipt.status !== 'success') throw new TransactionRevertedError(hash, what);
  return receipt;
}
