import Type, { type Static } from 'typebox';
import { DEFAULT_API_HOST, DEFAULT_API_PORT, DEFAULT_DATA_DIR, DEFAULT_RPC_URL } from '../constants.ts';
import { DEFAULT_BATCH_INTERVAL_MS, DEFAULT_FOLLOW, DEFAULT_SAMPLE_INTERVAL_MS, DEFAULT_SETTLEMENT_GRACE_MS, MAX_BATCH_INTERVAL_MS } from '../p2p/constants.ts';
import { GRAMMAR_DEFAULTS } from '../grammar/limits.ts';
import { DEFAULT_LORA_DTYPE, LORA_DTYPE_SETTINGS } from '../lora/dtype.ts';
import { FAIRNESS_DEFAULTS } from '../scheduler/fairness.ts';
import { PREFETCH_DEFAULTS } from '../scheduler/prefetch.ts';
import { DEFAULT_ACCOUNT_CACHE_SIZE, DEFAULT_CHANNEL_CACHE_SIZE, DEFAULT_CHANNEL_LOOKUPS_PER_SECOND } from '../payments/limits.ts';

/**
 * The node's configuration. Sources, lowest precedence first: defaults here, a JSON config
 * file, `OPENLORA_*` environment variables (named from the key path, see `envName`), and
 * command-line flags. Each subsystem adds its section here.
 */
export const ConfigSchema = Type.Object(
  {
    dataDir: Type.String({ default: DEFAULT_DATA_DIR, description: 'Directory for the ledger, keys and adapter store.' }),
    log: Type.Object(
      {
        level: Type.Union(
          ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)),
          { default: 'info', description: 'Log level.' },
        ),
      },
      { default: {}, additionalProperties: false },
    ),
    chain: Type.Object(
      {
        rpcUrl: Type.String({ default: DEFAULT_RPC_URL, pattern: '^(https?|wss?)://', description: 'EVM JSON-RPC endpoint.' }),
        deployment: Type.Optional(Type.String({ description: 'Deployment file (chainId, contract addresses).' })),
        rpcTimeoutMs: Type.Integer({ minimum: 100, maximum: 120_000, default: 3_000, description: 'RPC request timeout.' }),
      },
      { default: {}, additionalProperties: false },
    ),
    model: Type.Object(
      {
        dir: Type.Optional(Type.String({ description: 'Base model: a Hugging Face directory or a GGUF file.' })),
        dtype: Type.Union([Type.Literal('auto'), Type.Literal('f16'), Type.Literal('bf16'), Type.Literal('f32')], { default: 'auto', description: 'Weight dtype on the device; auto: the checkpoint\'s (src/model/deviceTensor.ts).' }),
        backend: Type.Union([Type.Literal('auto'), Type.Literal('webgpu'), Type.Literal('cpu'), Type.Literal('reference')], { default: 'auto', description: 'Engine backend: auto (WebGPU on a hardware adapter, else the WebAssembly CPU backend), webgpu, cpu, or reference (the plain TypeScript oracle).' }),
        quantize: Type.Union([Type.Literal('none'), Type.Literal('q8_0'), Type.Literal('q4_0'), Type.Literal('q4_k')], { default: 'none', description: 'Quantize the weight matrices at load (ggml formats, src/model/quant); none keeps the dtype.' }),
      },
      { default: {}, additionalProperties: false },
    ),
    engine: Type.Object(
      {
        kvBlocks: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 512, description: 'KV-cache blocks of 16 positions (shared by all running sequences).' }),
        maxBatchTokens: Type.Integer({ minimum: 1, maximum: 65_536, default: 512, description: 'Rows one engine step runs (decode rows plus prefill chunks).' }),
        maxRunning: Type.Integer({ minimum: 1, maximum: 4096, default: 64, description: 'Sequences running at once.' }),
        maxWaiting: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 1024, description: 'Queued sequences; beyond it the payer with the most queued loses its newest request (HTTP 429), or the new one is refused.' }),
        fairness: Type.Object(
          {
            policy: Type.Union([Type.Literal('vtc'), Type.Literal('fifo')], { default: FAIRNESS_DEFAULTS.policy, description: 'vtc: per-payer virtual token counters (OSDI 2024), the payer served least goes first; fifo: arrival order.' }),
            promptWeight: Type.Number({ minimum: 0, maximum: 1000, default: FAIRNESS_DEFAULTS.promptWeight, description: 'Counter units per prompt token computed for a payer.' }),
            completionWeight: Type.Number({ minimum: 0, maximum: 1000, default: FAIRNESS_DEFAULTS.completionWeight, description: 'Counter units per token generated for a payer.' }),
            preempt: Type.Boolean({ default: FAIRNESS_DEFAULTS.preempt, description: 'vtc: while every running slot is taken, a payer running at least two sequences fewer than another (and served no more) takes one of its slots; that payer\'s latest sequence is paused, keeping its KV blocks, and resumes where it stopped.' }),
          },
          { default: {}, additionalProperties: false },
        ),
        memory: Type.Object(
          {
            mode: Type.Union([Type.Literal('split'), Type.Literal('unified')], { default: 'split', description: 'split: engine.kvBlocks KV blocks and lora.slots adapter slots, sized apart; unified: one budget of pages for both (S-LoRA), adapters at their own rank (written into pages of the KV cache on the CPU and WebGPU backends, the budget being all they allocate; the reference keeps padded slots beside it).' }),
            budgetMiB: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_048_576, description: 'unified: MiB for KV blocks and adapter weights together (on WebGPU the adapter slots\' run tables too: all the engine allocates for them); default what split takes (engine.kvBlocks blocks + lora.slots slots of lora.maxRank).' })),
            prefetchHeadroom: Type.Number({ minimum: 0, maximum: 1, default: PREFETCH_DEFAULTS.headroom, description: 'unified: the fraction of the budget adapter prefetch leaves free, beyond the running sequences\' next KV blocks (prefetch loads the next queued requests\' adapters into pages no running or admissible request needs; 1: no prefetch).' }),
          },
          { default: {}, additionalProperties: false },
        ),
      },
      { default: {}, additionalProperties: false },
    ),
    lora: Type.Object(
      {
        slots: Type.Integer({ minimum: 0, maximum: 4096, default: 16, description: 'Adapters resident on the GPU at once.' }),
        maxRank: Type.Integer({ minimum: 1, maximum: 128, default: 64, description: 'Largest adapter rank a GPU slot holds.' }),
        dtype: Type.Union(
          LORA_DTYPE_SETTINGS.map((d) => Type.Literal(d)),
          { default: DEFAULT_LORA_DTYPE, description: 'Dtype adapter factors A and B are held and read in on every backend: auto (as vLLM\'s --lora-dtype auto: f16 on a 16-bit or quantized base model, f32 on an f32 one, in unified memory or on a GPU without shader-f16), f32 (as loaded), or f16 (half the words the LoRA kernels load; values rounded to nearest even on every backend alike, an adapter with a value beyond ±65504 refused; split memory only: unified pages hold f32).' },
        ),
        hostCacheMiB: Type.Integer({ minimum: 0, maximum: 1_048_576, default: 2048, description: 'Host-memory cache of parsed adapters, MiB.' }),
        adapters: Type.Array(
          Type.Object({ path: Type.String({ minLength: 1 }), name: Type.Optional(Type.String({ minLength: 1 })), owner: Type.Optional(Type.String({ pattern: '^0x[0-9a-fA-F]{40}$', description: 'AdapterRegistry owner: the lane id is then keccak256(abi.encode(owner, contentId)).' })), inputPer1k: Type.Optional(Type.String({ pattern: '^[0-9]{1,30}$' })), outputPer1k: Type.Optional(Type.String({ pattern: '^[0-9]{1,30}$' })) }, { additionalProperties: false }),
          { default: [], description: 'Adapters registered at start (PEFT directories).' },
        ),
      },
      { default: {}, additionalProperties: false },
    ),
    api: Type.Object(
      {
        host: Type.String({ default: DEFAULT_API_HOST, description: 'HTTP listen address.' }),
        port: Type.Integer({ minimum: 0, maximum: 65535, default: DEFAULT_API_PORT, description: 'HTTP listen port (0 = any free port).' }),
        bodyLimit: Type.Integer({ minimum: 1024, maximum: 64 * 1024 * 1024, default: 1024 * 1024, description: 'Largest request body, bytes.' }),
        maxTokensCap: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 4096, description: 'Largest max_tokens a request may ask for.' }),
        defaultMaxTokens: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 256, description: 'max_tokens of chat requests that give none.' }),
        requestTimeoutMs: Type.Integer({ minimum: 100, maximum: 3_600_000, default: 300_000, description: 'Wall-clock limit of one request.' }),
        rateLimitPerMinute: Type.Integer({ minimum: 1, maximum: 10_000_000, default: 600, description: 'Requests per minute per verified payer (channel whose voucher verified, or API key), else per client address.' }),
        adminToken: Type.Optional(Type.String({ minLength: 16, description: 'Bearer token of the /admin API (off without one).' })),
        corsOrigins: Type.Array(Type.String({ minLength: 1 }), {
          default: ['*'],
          description: 'Origins whose pages may call the API from a browser (CORS): "*" any (requests pay with vouchers or API keys, never cookies), [] none.',
        }),
      },
      { default: {}, additionalProperties: false },
    ),
    grammar: Type.Object(
      {
        grammars: Type.Integer({ minimum: 1, maximum: 100_000, default: GRAMMAR_DEFAULTS.grammars, description: 'Compiled grammars (response formats, tool lists) kept for reuse (LRU).' }),
        maskCacheMiB: Type.Integer({ minimum: 1, maximum: 65_536, default: GRAMMAR_DEFAULTS.maskCacheBytes / 2 ** 20, description: 'Token masks of grammar states kept for reuse, MiB (LRU).' }),
      },
      { default: {}, additionalProperties: false },
    ),
    node: Type.Object(
      {
        keyFile: Type.Optional(Type.String({ description: 'Encrypted keystore of the node key (openlora key new).' })),
        passphraseFile: Type.Optional(Type.String({ description: 'File holding the keystore passphrase (else OPENLORA_KEY_PASSPHRASE).' })),
        name: Type.String({ default: 'openlora', description: 'Name the base model is served under when the model has none.' }),
      },
      { default: {}, additionalProperties: false },
    ),
    payments: Type.Object(
      {
        mode: Type.Union([Type.Literal('open'), Type.Literal('paid')], { default: 'open', description: 'open: API keys, nothing settled; paid: payment-channel vouchers.' }),
        apiKeys: Type.Array(Type.Object({ id: Type.String({ minLength: 1, pattern: '^[A-Za-z0-9._-]+$' }), sha256: Type.String({ pattern: '^[0-9a-f]{64}$' }) }, { additionalProperties: false }), {
          default: [],
          description: 'Open mode: accepted API keys (id and SHA-256 of the secret); none = anyone on the network may call.',
        }),
        inputPer1k: Type.String({ pattern: '^[0-9]{1,30}$', default: '1000', description: 'Default price per 1,000 prompt tokens, token base units.' }),
        outputPer1k: Type.String({ pattern: '^[0-9]{1,30}$', default: '2000', description: 'Default price per 1,000 completion tokens, token base units.' }),
        creditLimit: Type.String({ pattern: '^[0-9]{1,30}$', default: '1000000000000000', description: 'Paid mode: most a payer may owe unacknowledged per lane, token base units.' }),
        channelCreditLimit: Type.String({ pattern: '^[0-9]{1,30}$', default: '1000000000000000', description: 'Paid mode: most a payer may owe unacknowledged per channel over all its lanes, token base units (402 channel_credit_exhausted).' }),
        channelCacheSize: Type.Integer({ minimum: 1, maximum: 10_000_000, default: DEFAULT_CHANNEL_CACHE_SIZE, description: 'Paid mode: channels whose chain state is cached (LRU), known and unknown ones each.' }),
        channelLookupsPerSecond: Type.Integer({ minimum: 1, maximum: 100_000, default: DEFAULT_CHANNEL_LOOKUPS_PER_SECOND, description: 'Paid mode: chain reads per second for channels not cached; more get HTTP 429.' }),
        accountCacheSize: Type.Integer({ minimum: 1, maximum: 10_000_000, default: DEFAULT_ACCOUNT_CACHE_SIZE, description: 'Paid mode: verified channels whose lane state is kept in memory (LRU; reloaded from the ledger).' }),
        settleEpochMs: Type.Integer({ minimum: 1000, maximum: 7 * 24 * 3_600_000, default: 600_000, description: 'Paid mode: settle at least this often while vouchers are unsettled.' }),
        settleThreshold: Type.String({ pattern: '^[0-9]{1,30}$', default: '1000000000000000000', description: 'Paid mode: settle at once when unsettled acknowledged value reaches this.' }),
        settleConfirmations: Type.Integer({ minimum: 1, maximum: 64, default: 1, description: 'Paid mode: blocks before a settlement counts.' }),
      },
      { default: {}, additionalProperties: false },
    ),
    p2p: Type.Object(
      {
        enabled: Type.Boolean({ default: false, description: 'Join the gossip network (receipts, announcements, watcher).' }),
        listen: Type.Array(Type.String({ minLength: 1 }), { default: ['/ip4/127.0.0.1/tcp/0'], description: 'libp2p listen multiaddrs.' }),
        announce: Type.Array(Type.String({ minLength: 1 }), { default: [], description: 'Multiaddrs announced instead of the listen ones.' }),
        bootstrap: Type.Array(Type.String({ minLength: 1 }), { default: [], description: 'Bootstrap peers (multiaddrs with /p2p/<peer id>), kept connected.' }),
        maxPeers: Type.Integer({ minimum: 1, maximum: 10_000, default: 50, description: 'Most libp2p connections.' }),
        peerKeyFile: Type.Optional(Type.String({ description: 'Persistent libp2p key (default <dataDir>/peer-key).' })),
        announceIntervalMs: Type.Integer({ minimum: 500, maximum: 600_000, default: 5_000, description: 'Interval of this node\'s announcements.' }),
        creditLimit: Type.String({ pattern: '^[0-9]{1,30}$', default: '0', description: 'Per-lane credit this node announces, token base units.' }),
        batchIntervalMs: Type.Integer({ minimum: 10, maximum: MAX_BATCH_INTERVAL_MS, default: DEFAULT_BATCH_INTERVAL_MS, description: 'A batch of this node\'s receipts is signed and published when its oldest receipt is this old.' }),
        follow: Type.Integer({ minimum: 0, maximum: 64, default: DEFAULT_FOLLOW, description: 'Ring successors whose every batch this node fetches and checks (docs/p2p.md "Following").' }),
        followNodes: Type.Array(Type.String({ pattern: '^0x[0-9a-fA-F]{40}$' }), { default: [], maxItems: 64, description: 'Nodes followed besides the ring successors (the nodes this operator pays, for example).' }),
        sampleIntervalMs: Type.Integer({ minimum: 0, maximum: 3_600_000, default: DEFAULT_SAMPLE_INTERVAL_MS, description: 'Interval of random audits of one unfollowed node (0: none).' }),
        watcher: Type.Object(
          {
            slash: Type.Boolean({ default: true, description: 'Submit equivocation proofs automatically (the prover reward goes to the node key).' }),
            settlementGraceMs: Type.Integer({
              minimum: 0,
              maximum: 3_600_000,
              default: DEFAULT_SETTLEMENT_GRACE_MS,
              description: 'A settlement above the gossiped receipts of its lane waits this long for more before it is flagged, ms (0: at once); the default covers the longest batch interval, gossip and a batch fetch that times out once (docs/p2p.md "Settlement flags").',
            }),
          },
          { default: {}, additionalProperties: false },
        ),
      },
      { default: {}, additionalProperties: false },
    ),
    ui: Type.Object(
      {
        enabled: Type.Boolean({ default: true, description: 'Serve the operator page at / and the contributor page at /rewards (read-only; money and network parts need the admin token).' }),
        rpcUrl: Type.Optional(Type.String({ pattern: '^(https?|wss?)://', description: 'JSON-RPC URL the contributor page\'s browsers read the chain through (GET /v1/chain). Default none: the page uses the wallet\'s provider or asks.' })),
      },
      { default: {}, additionalProperties: false },
    ),
    attribution: Type.Object(
      {
        reports: Type.Array(Type.String({ minLength: 1 }), { default: [], description: 'Published attribution report files of adapters this node serves, given to contributors (GET /v1/attribution/reports) to see and claim their rewards.' }),
      },
      { default: {}, additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);

/** The validated configuration, every default filled in. */
export type Config = Static<typeof ConfigSchema>;
