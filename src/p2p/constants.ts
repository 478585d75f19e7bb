/** Defaults and limits of the gossip layer (docs/p2p.md; the arithmetic behind each is there). */
import type { Address } from 'viem';

/** Topic of one node's batch headers: only the nodes that follow it subscribe. */
export const batchesTopic = (chainId: number, node: Address): string => `/openlora/${chainId}/batches/${node.toLowerCase()}/1`;
/** Node announcements topic of a chain. */
export const nodesTopic = (chainId: number): string => `/openlora/${chainId}/nodes/1`;
/** Request-response protocol that serves batches, samples with Merkle proofs, and recent headers. */
export const batchProtocol = (chainId: number): string => `/openlora/${chainId}/batch/1`;

/** One batch entry: receipt words (11 x 32), voucher words (3 x 32), voucher signature (65), bytes. */
export const BATCH_ENTRY_BYTES = 352 + 96 + 65;
/** Most receipts in one batch (a batch body is at most ~2 MiB). */
export const MAX_BATCH_RECEIPTS = 4096;
/** A batch header message: node, (batchSeq, root, count, timestamp), signature, ABI-encoded. */
export const MAX_HEADER_MESSAGE_BYTES = 320;
/** Largest announcement message, bytes. */
export const MAX_ANNOUNCEMENT_MESSAGE_BYTES = 16 * 1024;
/** Largest gossipsub RPC frame accepted from a peer (several messages per frame). */
export const MAX_RPC_FRAME_BYTES = 1024 * 1024;
/** Largest frame on the batch protocol: a whole batch. */
export const MAX_BATCH_FRAME_BYTES = MAX_BATCH_RECEIPTS * BATCH_ENTRY_BYTES + 1024;
/** Announcement limits. */
export const MAX_ANNOUNCED_ADAPTERS = 256;
export const MAX_ANNOUNCED_MULTIADDRS = 16;
export const MAX_URL_LENGTH = 512;
export const MAX_MULTIADDR_LENGTH = 256;
export const MAX_ADAPTER_NAME_LENGTH = 64;

/** Receipts and batches more than this far in the future are ignored (clock skew allowance), seconds. */
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
/** Chain look-ups (isActive, channelOf) started per second at most; the rest wait in a bounded queue. */
export const DEFAULT_CHAIN_LOOKUPS_PER_S = 20;
/** Chain look-ups waiting for the budget at most; beyond it a look-up fails at once (the message is ignored). */
export const MAX_QUEUED_CHAIN_LOOKUPS = 256;

/** Default interval of this node's announcements, ms (stretched on large networks, see `announceInterval`). */
export const DEFAULT_ANNOUNCE_INTERVAL_MS = 5_000;
/** Announcements per second the whole network sends at most: each node's interval grows with the node count. */
export const NETWORK_ANNOUNCEMENTS_PER_S = 20;
/** How often the dialer checks connections and redials bootstrap and registered peers, ms. */
export const DEFAULT_REDIAL_INTERVAL_MS = 2_000;
/** How often the watcher polls the chain for `LaneSettled` and endpoint events, ms. */
export const DEFAULT_CHAIN_POLL_MS = 2_000;
/** Gossipsub heartbeat, ms (the gossipsub v1.1 default). */
export const DEFAULT_HEARTBEAT_MS = 1_000;

/** A batch is committed when its oldest receipt is this old, ms, or when it holds `DEFAULT_BATCH_RECEIPTS`. */
export const DEFAULT_BATCH_INTERVAL_MS = 250;
/** The longest batch interval a node may be configured with (`p2p.batchIntervalMs`), ms. */
export const MAX_BATCH_INTERVAL_MS = 60_000;
/** Receipts per batch before the interval is up: big enough to amortise a header, small enough that checking one (~40 ms) never stalls a follower. */
export const DEFAULT_BATCH_RECEIPTS = 1024;
/** Nodes each node follows (fetches every batch of): its successors on the ring of registered nodes. */
export const DEFAULT_FOLLOW = 4;
/** How often a node audits one random node it does not follow, ms; receipts sampled per audit. */
export const DEFAULT_SAMPLE_INTERVAL_MS = 10_000;
export const DEFAULT_SAMPLE_RECEIPTS = 4;
/** A batch fetch (or an audit) from one peer gives up after this long, ms, and the next peer is asked. */
export const BATCH_FETCH_TIMEOUT_MS = 15_000;

/**
 * How long a settlement above the receipts held of its lane waits for more before it is flagged, ms
 * (`p2p.watcher.settlementGraceMs`; docs/p2p.md "Settlement flags"). A node may settle right after
 * serving, and its receipts reach a follower only after its batch interval (at most
 * `MAX_BATCH_INTERVAL_MS`: a follower does not know the node's), a few gossip heartbeats (gossipsub
 * gossips a header it missed for 3) and a batch fetch that may time out once before another peer
 * serves it: 60 + 3 + 30 = 93 s. A flag is a warning for the operator, so waiting costs little.
 */
export const DEFAULT_SETTLEMENT_GRACE_MS = MAX_BATCH_INTERVAL_MS + 3 * DEFAULT_HEARTBEAT_MS + 2 * BATCH_FETCH_TIMEOUT_MS;
/** Settlements waiting for their receipts at most; past it the oldest is decided at once. */
export const MAX_PENDING_SETTLEMENT_CHECKS = 1_024;

/** Gossip messages validated per second per peer (burst twice that); more are ignored and cost the peer score. */
export const DEFAULT_PEER_MESSAGES_PER_S = 200;
/** Validations of one peer's messages in flight at most. */
export const DEFAULT_PEER_CONCURRENCY = 16;
/** Batch-protocol requests served per second per peer, and at once per peer / in all. */
export const DEFAULT_PEER_REQUESTS_PER_S = 20;
export const MAX_PEER_STREAMS = 4;
export const MAX_SERVED_STREAMS = 32;

/** Receipts kept per followed node, and in all; oldest batches go first. */
export const DEFAULT_PEER_RECEIPTS_PER_NODE = 1_000_000;
export const DEFAULT_PEER_RECEIPTS_TOTAL = 4_000_000;
/** Batches (own and peers') are kept this long: past the unbonding delay, so evidence outlives stake. */
export const DEFAULT_RETENTION_MS = 8 * 24 * 3_600_000;
