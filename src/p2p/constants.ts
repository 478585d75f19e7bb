/** Defaults and limits of the gossip layer (protocol.md "Gossip"). */

/** Receipts topic of a chain. */
export const receiptsTopic = (chainId: number): string => `/openlora/${chainId}/receipts/1`;
/** Node announcements topic of a chain. */
export const nodesTopic = (chainId: number): string => `/openlora/${chainId}/nodes/1`;

/**
 * Largest receipt message: ABI head 16 words (receipt 11, offset, voucher 3, offset) + two
 * 65-byte signatures each as length word + 3 words = 512 + 128 + 128 bytes.
 */
export const MAX_RECEIPT_MESSAGE_BYTES = 768;
/** Largest announcement message, bytes. */
export const MAX_ANNOUNCEMENT_MESSAGE_BYTES = 16 * 1024;
/** Largest gossipsub RPC frame accepted from a peer (several messages per frame). */
export const MAX_RPC_FRAME_BYTES = 1024 * 1024;
/** Announcement limits. */
export const MAX_ANNOUNCED_ADAPTERS = 256;
export const MAX_ANNOUNCED_MULTIADDRS = 16;
export const MAX_URL_LENGTH = 512;
export const MAX_MULTIADDR_LENGTH = 256;
export const MAX_ADAPTER_NAME_LENGTH = 64;

/** Receipts more than this far in the future are ignored (clock skew allowance), seconds. */
export const MAX_RECEIPT_CLOCK_SKEW_S = 600;
/** Announcements older than this are ignored as stale or replayed, seconds. */
export const MAX_ANNOUNCEMENT_AGE_S = 120;
/** An announced node drops out of routing after this long without a new announcement, ms. */
export const ANNOUNCEMENT_TTL_MS = 60_000;

/** Cache lifetime of a positive `isActive` answer, ms; negative answers live `NEGATIVE_CACHE_MS`. */
export const REGISTRATION_CACHE_MS = 60_000;
export const NEGATIVE_CACHE_MS = 2_000;
/** Cache lifetime of a known channel (payer, node and authorizer never change), ms. */
export const CHANNEL_CACHE_MS = 10 * 60_000;

/** Default interval of this node's announcements, ms. */
export const DEFAULT_ANNOUNCE_INTERVAL_MS = 5_000;
/** How often the dialer checks connections and redials bootstrap and registered peers, ms. */
export const DEFAULT_REDIAL_INTERVAL_MS = 2_000;
/** How often the watcher polls the chain for `LaneSettled` and endpoint events, ms. */
export const DEFAULT_CHAIN_POLL_MS = 2_000;
/** Gossipsub heartbeat, ms (the gossipsub v1.1 default). */
export const DEFAULT_HEARTBEAT_MS = 1_000;
