/**
 * openlora client SDK (`openlora/client`): pay a node per token through a payment channel with
 * the official `openai` client, verifying every receipt before acknowledging it.
 *
 * ```ts
 * const paid = await createPaidClient({ url, account, channelId, nodeRegistry });
 * const openai = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'unused', fetch: paid.fetch });
 * ```
 */
export * from './channel.ts';
export * from './errors.ts';
export { LaneBook, type ClientLane, type ReceiptJson } from './lanes.ts';
export * from './paidFetch.ts';
export * from './slash.ts';
