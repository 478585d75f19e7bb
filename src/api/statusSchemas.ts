/**
 * Response schemas of the node's status endpoints (the operator page reads them): TypeBox, so the
 * JSON shape, its TypeScript type and `/openapi.json` come from one place. Token amounts are
 * decimal strings of token base units; times are unix milliseconds.
 */
import Type, { type Static } from 'typebox';

const Hex = Type.String({ pattern: '^0x[0-9a-fA-F]*$' });
const Amount = Type.String({ pattern: '^[0-9]+$', description: 'Token base units (decimal).' });
const Count = Type.Integer({ minimum: 0 });
const Nullable = <T extends Type.TSchema>(t: T) => Type.Union([t, Type.Null()]);

/** Build facts (`openlora --version`). */
export const VersionSchema = Type.Object({
  version: Type.String(),
  commit: Type.String(),
  shader_hash: Type.String({ description: 'sha256 of shaders/ (paths and contents).' }),
  build: Type.Union([Type.Literal('binary'), Type.Literal('source')]),
});

export const EngineSchema = Type.Object({
  backend: Type.Union([Type.Literal('webgpu'), Type.Literal('cpu'), Type.Literal('reference')]),
  dtype: Type.String({ description: 'Weight dtype on the device.' }),
  adapter: Nullable(
    Type.Object({
      vendor: Type.String(),
      architecture: Type.String(),
      device: Type.String(),
      description: Type.String(),
      software: Type.Boolean({ description: 'A CPU implementation of WebGPU (lavapipe, SwiftShader).' }),
    }),
  ),
  context_length: Count,
  kv_blocks: Count,
  kv_block_tokens: Count,
  lora_slots: Count,
  lora_max_rank: Count,
  lora_dtype: Type.Union([Type.Literal('f32'), Type.Literal('f16')], { description: 'Dtype adapter factors are held in: `lora.dtype` as the engine resolved it (auto: f16 on a 16-bit or quantized base, else f32).' }),
  memory: Type.Object({
    mode: Type.Union([Type.Literal('split'), Type.Literal('unified')], { description: '`engine.memory.mode`: split sizes the KV blocks and adapter slots apart; unified pages both out of one budget.' }),
    page_bytes: Nullable(Count),
    budget_pages: Nullable(Type.Integer({ minimum: 0, description: 'Unified: pages of `page_bytes` (one KV block each) KV blocks and adapters share.' })),
    weights_bytes: Nullable(Count),
    kv_cache_bytes: Nullable(Type.Integer({ minimum: 0, description: 'Bytes of the KV pool on the device; unified memory (CPU and WebGPU backends): the whole budget, KV blocks and adapters (`adapters_in_pages`).' })),
    lora_slots_bytes: Nullable(Type.Integer({ minimum: 0, description: 'Bytes of the adapter slots beside the KV pool: padded slots, or when adapters live in its pages only their run tables (WebGPU; 0 on the CPU backend).' })),
    adapters_in_pages: Type.Boolean({ description: 'Unified memory on the device: adapters are written into pages of the KV pool (the CPU and WebGPU backends); false: padded slots apart (split mode, the reference).' }),
    host_cache_budget_bytes: Count,
  }),
});

/** Totals and gauges, the same numbers `/metrics` shows (rates come from two readings). */
export const LiveSchema = Type.Object({
  tokens_prompt_total: Count,
  tokens_completion_total: Count,
  requests_total: Count,
  receipts_total: Count,
  steps_total: Count,
  step_seconds_total: Type.Number({ minimum: 0 }),
  queue_depth: Count,
  running: Count,
  batch_sequences: Count,
  kv_blocks_used: Count,
  kv_blocks_total: Count,
  memory_pages: Nullable(Type.Object({ kv: Count, adapters: Count, free: Count, wanted: Count }, { description: 'Unified memory: pages KV blocks, adapters and nobody hold, and pages adapter loads wait for.' })),
});

const TierCounts = { loads: Count, evictions: Count, hits: Count, misses: Count };

export const TiersSchema = Type.Object({
  gpu: Type.Object({ slots: Count, resident: Count, loading: Count, ...TierCounts, prefetches: Count, prefetches_unused: Count, avg_load_ms: Type.Number({ minimum: 0 }) }),
  host: Type.Object({ entries: Count, bytes: Count, budget_bytes: Count, ...TierCounts }),
  disk: Type.Object({ adapters: Count }),
});

export const AdapterStatusSchema = Type.Object({
  id: Hex,
  lane_id: Hex,
  name: Type.String(),
  rank: Count,
  tier: Type.Union([Type.Literal('gpu'), Type.Literal('host'), Type.Literal('disk')]),
  requests_total: Count,
  tokens_total: Count,
  loads: Count,
  evictions: Count,
});

/** `GET /v1/node/status`. */
export const NodeStatusSchema = Type.Object({
  object: Type.Literal('node.status'),
  time: Count,
  version: VersionSchema,
  node: Hex,
  model: Type.String(),
  payment_mode: Type.Union([Type.Literal('open'), Type.Literal('paid')]),
  uptime_s: Count,
  p2p: Type.Boolean(),
  engine: EngineSchema,
  live: LiveSchema,
  tiers: TiersSchema,
  adapters: Type.Array(AdapterStatusSchema),
  adapters_total: Count,
});
export type NodeStatus = Static<typeof NodeStatusSchema>;

export const LaneMoneySchema = Type.Object({
  channel_id: Hex,
  adapter_id: Hex,
  name: Nullable(Type.String({ description: 'The adapter served on the lane, when this node knows it.' })),
  charged: Amount,
  acknowledged: Amount,
  settled: Amount,
  pending_settlement: Type.String({ description: 'Acknowledged and not yet paid out by the chain.' }),
  unacknowledged: Type.String({ description: 'Charged and not yet covered by a voucher: credit in use.' }),
});

export const SettlementSchema = Type.Object({
  id: Count,
  tx_hash: Nullable(Hex),
  status: Type.String(),
  lanes: Count,
  amount: Amount,
  block: Nullable(Type.String()),
  error: Nullable(Type.String()),
});

/** `GET /admin/node/money` (admin token). */
export const MoneyStatusSchema = Type.Object({
  object: Type.Literal('node.money'),
  time: Count,
  payment_mode: Type.Union([Type.Literal('open'), Type.Literal('paid')]),
  token: Nullable(Hex),
  lanes: Type.Array(LaneMoneySchema),
  channels: Type.Array(Type.Object({ channel_id: Hex, lanes: Count, credit_in_use: Amount, credit_limit: Amount })),
  totals: Type.Object({ charged: Amount, acknowledged: Amount, settled: Amount, pending_settlement: Amount }),
  settlement: Nullable(
    Type.Object({
      epoch_ms: Count,
      threshold: Amount,
      last_at: Nullable(Count),
      next_at: Nullable(Type.Integer({ description: 'When the epoch forces the next settlement (sooner once the backlog passes the threshold); null with nothing to settle.' })),
      backlog: Type.Object({ amount: Amount, lanes: Count, oldest_s: Type.Number({ minimum: 0 }) }),
      recent: Type.Array(SettlementSchema),
    }),
  ),
  chain: Nullable(
    Type.Object({
      credits: Type.Object({ payment_channels: Amount, node_registry: Amount }),
      stake: Amount,
      registered: Type.Boolean(),
      read_at: Count,
      error: Nullable(Type.String()),
    }),
  ),
});
export type MoneyStatus = Static<typeof MoneyStatusSchema>;

/** `GET /admin/node/network` (admin token). */
export const NetworkStatusSchema = Type.Object({
  object: Type.Literal('node.network'),
  time: Count,
  enabled: Type.Boolean(),
  peer_id: Nullable(Type.String()),
  multiaddrs: Type.Array(Type.String()),
  peers: Type.Array(Type.Object({ peer_id: Type.String(), score: Type.Number() })),
  messages: Type.Record(Type.String(), Type.Record(Type.String(), Count), { description: 'Gossip messages received by topic kind and validation result (totals: rates come from two readings).' }),
  nodes: Type.Array(Type.Object({ node: Hex, url: Type.String(), seen_at: Count })),
  flagged: Type.Array(Type.Object({ node: Hex, kind: Type.String(), detail: Type.String(), at: Count })),
});
export type NetworkStatus = Static<typeof NetworkStatusSchema>;
