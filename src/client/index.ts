/**
 * openlora client SDK (`@openlora/client`): pay a node per token through a payment channel with
 * the official `openai` client, verifying every receipt before acknowledging it.
 *
 * ```ts
 * const account = privateKeyToAccount(PAYER_KEY);
 * const { publicClient, walletClient } = await createChainClients({ rpcUrl, account });
 * const { channelId } = await openChannel({ publicClient, walletClient: walletClient!, deployment }, { node, amount: parseUnits('10', 18) });
 * const paid = await createPaidClient({ url, account, channelId, nodeRegistry: deployment.contracts.nodeRegistry, maxPrice, store: createFileStore('lanes.json') });
 * const openai = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'unused', fetch: paid.fetch });
 * ```
 */
export * from './channel.ts';
export type { ClientDeployment } from './deployment.ts';
export * from './errors.ts';
export { LaneBook, type ClientLane, type NodeLaneView, type ReceiptJson } from './lanes.ts';
export { createNonce, deriveNonceKey, readNonce, type RequestBound } from './nonce.ts';
export * from './paidFetch.ts';
export * from './slash.ts';
export * from './store.ts';
export { createChainClients, RpcUnreachableError, type ChainClients, type CreateChainClientsParameters } from '../chain/clients.ts';
export { BaseError } from '../errors.ts';
// What a dApp needs from viem to make its payer account and amounts, so it installs nothing else.
export { generatePrivateKey, mnemonicToAccount, privateKeyToAccount } from 'viem/accounts';
export { custom, formatUnits, http, parseUnits, type Account, type Address, type Hex, type LocalAccount } from 'viem';
