import { basename, join, resolve } from 'node:path';
import { getAddress, zeroAddress, zeroHash, type Account, type Address, type Chain, type Hex, type LocalAccount, type PublicClient, type Transport, type WalletClient } from 'viem';
import { createApiServer, type ApiServer } from '../api/server.ts';
import { createNodeMetrics } from '../api/metrics.ts';
import type { Deployment } from '../chain/deployment.ts';
import type { Config } from '../config/schema.ts';
import { kvBlockBytes, type Backend, type BackendKind } from '../engine/backend.ts';
import { resolveBackend } from '../engine/chooseBackend.ts';
import { gpuPageTableBytes } from '../engine/webgpu/lora/pagePool.ts';
import { slotElements } from '../lora/checkWeights.ts';
import type { ModelConfig } from '../model/config.ts';
import { createPagePool, type PagePool } from '../scheduler/memory.ts';
import { openLedgerDatabase } from '../ledger/db.ts';
import { createReceiptLedger, type ReceiptLedger } from '../ledger/receipts.ts';
import { componentLogger, createLogger, type Logger } from '../log.ts';
import { createHostCache } from '../lora/hostCache.ts';
import { createSlotManager } from '../lora/slots.ts';
import { createPeftLoader } from '../lora/peftLoader.ts';
import { createAdapterStore } from '../lora/store.ts';
import { loadModel, type LoadedModel } from '../model/load.ts';
import type { PaymentGate } from '../payments/gate.ts';
import { createOpenGate } from '../payments/open.ts';
import { createReceiptIssuer } from '../payments/receipts.ts';
import { createScheduler, type Scheduler } from '../scheduler/scheduler.ts';
import { createInferenceService, type InferenceService } from '../serving/inference.ts';
import { createNodeAdapters, type NodeAdapters } from './adapters.ts';
import { createBackend } from './backend.ts';
import { createChainClients } from '../chain/clients.ts';
import { createNetwork, type Network } from '../p2p/network.ts';
import { createStatusReader } from './status.ts';
import { createMoneyParts } from './statusMoney.ts';
import { readAttributionReport } from '../attribution/reportFile.ts';
import { createPaidMode, type PaidMode } from './paid.ts';
import { readAttributionRoots } from './attribution.ts';
import { NodeConfigError } from './errors.ts';
import { lockDataDir, type DataDirLock } from './dataDirLock.ts';
import { createSettleableLaneCheck } from './settleableLane.ts';

/** What `createNode` takes besides the configuration. */
export interface NodeComponents {
  /** The node key (signs receipts). */
  account: LocalAccount;
  /** Contract addresses; without them receipts are signed for chainId 0 and a zero verifying contract (open mode only). */
  deployment?: Deployment;
  /** Overrides the payment gate (the paid mode plugs in here). */
  gate?: (parts: { adapters: NodeAdapters; ledger: ReceiptLedger }) => PaymentGate;
  /** Chain clients for the P2P network (default: from `chain.rpcUrl` with the node key). */
  chain?: { publicClient: PublicClient; walletClient?: WalletClient<Transport, Chain | undefined, Account> };
}

/** A running node: engine, scheduler, adapters, ledger and HTTP API. */
export interface OpenloraNode {
  readonly url: string;
  /** Address of the node key (signs receipts). */
  readonly address: `0x${string}`;
  readonly model: LoadedModel;
  readonly backend: Backend;
  readonly scheduler: Scheduler;
  readonly inference: InferenceService;
  readonly adapters: NodeAdapters;
  readonly ledger: ReceiptLedger;
  readonly api: ApiServer;
  /** Paid mode's gate and settlement worker (absent in open mode). */
  readonly paid?: PaidMode;
  /** The P2P network, when `p2p.enabled`. */
  readonly network?: Network;
  readonly log: Logger;
  /** Stops accepting requests, fails those still queued, releases the GPU and closes the ledger. */
  stop(): Promise<void>;
}

/**
 * The KV pool and (unified memory) the page budget KV blocks and adapters share: split mode keeps
 * `engine.kvBlocks` blocks and `lora.slots` slots apart; unified mode turns the budget (by default
 * what split would take) into pages of one KV block, and the engine gets as many KV blocks as the
 * budget holds beside the slots' run tables, the budget deciding what is in use. The budget is all
 * the engine allocates for KV blocks and adapters: on WebGPU the run tables (words of the `info`
 * buffer, sized for `lora.maxRank`, `gpuPageTableBytes`) come out of it; the CPU backend allocates
 * none (its tables are a few objects per resident adapter on the JavaScript heap, beside the
 * engine's memory, as the scheduler's own state is), nor does the reference. Whether an adapter's
 * rows fit the pieces a page is cut into is the backend's to check as it starts (its geometry,
 * `src/lora/pages.ts`).
 */
export function memoryPlan(config: Config, model: ModelConfig, kind: BackendKind): { kvBlocks: number; pages?: PagePool } {
  if (config.engine.memory.mode === 'split') return { kvBlocks: config.engine.kvBlocks };
  const pageBytes = kvBlockBytes(model);
  const budget = config.engine.memory.budgetMiB !== undefined ? config.engine.memory.budgetMiB * 2 ** 20 : config.engine.kvBlocks * pageBytes + config.lora.slots * slotElements(model, config.lora.maxRank) * 4;
  const tables = kind === 'webgpu' ? gpuPageTableBytes(model, config.lora.slots, config.lora.maxRank) : 0;
  const totalPages = Math.floor((budget - tables) / pageBytes);
  if (totalPages < 1) {
    const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(2)} MiB`;
    throw new NodeConfigError('engine.memory.budgetMiB', `the unified memory budget of ${mib(budget)} holds no page of ${pageBytes} bytes beside the run tables of ${config.lora.slots} adapter slots (${mib(tables)})`, `Run with --set engine.memory.budgetMiB=${Math.ceil((tables + pageBytes) / 2 ** 20)} or more, or lower lora.slots or lora.maxRank.`);
  }
  return { kvBlocks: totalPages, pages: createPagePool({ totalPages, pageBytes }) };
}

/** What the engine allocated for KV and adapters (the engine-ready line): the KV pool, padded slots beside it (0 when adapters live in its pages). */
function engineBytes(backend: Backend): { kvBytes?: number; loraSlotBytes: number; adaptersInPages: boolean } {
  return { ...(backend.kvBytes !== undefined ? { kvBytes: backend.kvBytes } : {}), loraSlotBytes: backend.lora.bytesPerSlot * backend.lora.slots, adaptersInPages: backend.lora.inPages ?? false };
}

/** Starts a node from its configuration: loads the model, registers adapters, listens. */
export async function startNode(config: Config, components: NodeComponents): Promise<OpenloraNode> {
  const log = createLogger({ name: 'node' });
  if (!config.model.dir) throw new NodeConfigError('model.dir', 'no base model directory is configured', 'Pass --model DIR (or set model.dir / OPENLORA_MODEL_DIR); `openlora model create --preset tiny --out DIR` makes one.');
  // One process per data directory: two would sign receipts with one key from two ledgers.
  const lock = lockDataDir({ dir: config.dataDir });
  const cleanup: Array<() => unknown> = [() => lock.release()];
  try {
    return await startLockedNode(config, components, log, lock, cleanup);
  } catch (error) {
    for (const undo of cleanup.reverse()) {
      try {
        await undo();
      } catch {
        // best effort: the start already failed
      }
    }
    throw error;
  }
}

async function startLockedNode(config: Config, components: NodeComponents, log: Logger, lock: DataDirLock, cleanup: Array<() => unknown>): Promise<OpenloraNode> {
  const modelDir = config.model.dir!;
  const dataDir = resolve(config.dataDir);
  // The ledger first: a damaged one (or a clock behind its last seq epoch) refuses before the model loads.
  const db = openLedgerDatabase(join(dataDir, 'ledger.db'));
  cleanup.push(() => db.close());
  const ledger = createReceiptLedger(db);
  // Published reports are checked (tree against root) before anything loads.
  const attributionReports = await Promise.all(config.attribution.reports.map((file) => readAttributionReport(file)));
  log.info({ dir: config.model.dir, backend: config.model.backend }, 'loading model');
  const model = await loadModel({ dir: modelDir, dtype: config.model.dtype === 'auto' ? undefined : config.model.dtype, quantize: config.model.quantize === 'none' ? undefined : config.model.quantize });
  const loadStarted = performance.now();
  let reported = 0;
  const onProgress = (done: number, total: number) => {
    // A line per tenth of the model: large models take minutes to upload.
    if (done === total || done / total - reported >= 0.1) {
      reported = done / total;
      log.info({ layers: `${done}/${total}`, seconds: Math.round((performance.now() - loadStarted) / 100) / 10 }, 'loading weights');
    }
  };
  cleanup.push(() => model.close());
  const resolved = await resolveBackend(config.model.backend);
  const memory = memoryPlan(config, model.config, resolved.kind);
  const { backend, maxContext, reason, warmup } = await createBackend({ model, kind: config.model.backend, resolved, numKvBlocks: memory.kvBlocks, pageBytes: memory.pages?.pageBytes, loraSlots: config.lora.slots, maxLoraRank: config.lora.maxRank, loraDtype: config.lora.dtype, onProgress });
  cleanup.push(() => backend.destroy());
  const kernels = warmup && { kernels: warmup.kernels, compileMs: Math.round(warmup.ms), compileHelpers: warmup.helperDevices, firstPassMs: Math.round(warmup.firstPassMs) };
  log.info({ kind: backend.kind, reason, dtype: backend.dtype, loraDtype: backend.lora.dtype, loraDtypeSetting: config.lora.dtype, kvBlocks: backend.numKvBlocks, loraSlots: backend.lora.slots, memory: config.engine.memory.mode, ...(memory.pages ? { budgetPages: memory.pages.totalPages, pageBytes: memory.pages.pageBytes } : {}), ...engineBytes(backend), fairness: config.engine.fairness.policy, ...kernels }, 'engine ready');

  // Adapter files are read and parsed on a worker thread: a cold load does not stall the steps.
  const peftLoader = createPeftLoader();
  cleanup.push(() => peftLoader.close());
  const store = createAdapterStore({ dir: join(dataDir, 'adapters'), config: model.config, maxRank: backend.lora.maxRank, loader: peftLoader, slotImage: backend.lora.imageLayout });
  const hostCache = createHostCache({ budgetBytes: config.lora.hostCacheMiB * 2 ** 20, load: (id, signal) => store.load(id, signal) });
  const slots = createSlotManager({ pool: backend.lora, store, hostCache, pages: memory.pages });
  const defaultPrice = { inputPer1k: BigInt(config.payments.inputPer1k), outputPer1k: BigInt(config.payments.outputPer1k) };
  let checkLane: ((lane: { contentId: Hex; laneId: Hex; owner?: Address }) => Promise<void>) | undefined;
  const adapters = createNodeAdapters({ store, hostCache, slots, defaultPrice, modelDir: config.model.dir, log, checkLane: async (lane) => checkLane?.(lane) });
  const scanned = await store.scan();
  for (const failure of scanned.failed) log.warn({ dir: failure.dir, err: failure.error }, 'adapter in the store is invalid; skipped');
  for (const a of config.lora.adapters) {
    const price = a.inputPer1k !== undefined || a.outputPer1k !== undefined ? { inputPer1k: BigInt(a.inputPer1k ?? config.payments.inputPer1k), outputPer1k: BigInt(a.outputPer1k ?? config.payments.outputPer1k) } : undefined;
    await adapters.register({ path: a.path, name: a.name, price, owner: a.owner as `0x${string}` | undefined });
  }
  log.info({ adapters: adapters.list().length }, 'adapters registered');

  const metrics = createNodeMetrics({ collect: () => status.refresh() });
  const scheduler = createScheduler(
    { maxBatchTokens: config.engine.maxBatchTokens, maxRunning: config.engine.maxRunning, maxWaiting: config.engine.maxWaiting, maxContext, fairness: config.engine.fairness, prefetchHeadroom: config.engine.memory.prefetchHeadroom },
    { backend, adapters: slots, pages: memory.pages, onStep: (step) => metrics.observeStep(step) },
  );
  // Served as the model directory's name unless node.name is set.
  const baseModelName = config.node.name === 'openlora' ? basename(resolve(modelDir)) : config.node.name;
  const inference = createInferenceService({ model, scheduler, baseModelName, adapters, contextLength: maxContext, grammar: { grammars: config.grammar.grammars, maskCacheBytes: config.grammar.maskCacheMiB * 2 ** 20 } });
  const issuer = createReceiptIssuer({
    account: components.account,
    chainId: components.deployment?.chainId ?? 0,
    nodeRegistry: components.deployment?.contracts.nodeRegistry ?? zeroAddress,
    ledger,
    onReceipt: (signed, voucher) => {
      // A receipt that names a voucher is gossiped only with it (validators reject it otherwise).
      if (!network || (signed.receipt.voucherDigest !== zeroHash && !voucher)) return;
      network.publishReceipt(signed, voucher).catch((err: unknown) => log.warn({ err, seq: signed.receipt.seq.toString() }, 'publishing the receipt failed'));
    },
  });
  const limits = { defaultMaxTokens: config.api.defaultMaxTokens, maxTokensCap: config.api.maxTokensCap, contextLength: inference.contextLength };
  const paid = config.payments.mode === 'paid' ? await createPaidMode({ config, account: components.account, deployment: components.deployment, db, ledger, adapters, limits, chain: components.chain, log, beforeSettle: () => network?.flush() ?? Promise.resolve() }) : undefined;
  if (paid && components.deployment) {
    // Adapters registered from now on (POST /admin/adapters) must settle; those of the config are the operator's word.
    checkLane = createSettleableLaneCheck({ publicClient: paid.publicClient, adapterRegistry: components.deployment.contracts.adapterRegistry });
  }
  const gate = components.gate?.({ adapters, ledger }) ?? paid?.gate ?? createOpenGate({ apiKeys: config.payments.apiKeys, priceOf: (id) => adapters.priceOf(id), ledger });
  const roots = components.deployment
    ? await readAttributionRoots({
        publicClient: components.chain?.publicClient ?? (await createChainClients({ rpcUrl: config.chain.rpcUrl, chainId: components.deployment.chainId, timeoutMs: config.chain.rpcTimeoutMs })).publicClient,
        adapterRegistry: components.deployment.contracts.adapterRegistry,
        lanes: adapters.list().map((a) => ({ contentId: a.id, laneId: a.laneId })),
        log,
      })
    : new Map<`0x${string}`, `0x${string}`>();
  let network: Network | undefined;
  let url = '';
  if (config.p2p.enabled) {
    if (!components.deployment) throw new NodeConfigError('p2p.enabled', 'the P2P network needs the contract deployment', 'Set chain.deployment to the file `openlora chain deploy` wrote, or disable p2p.');
    const chain = components.chain ?? (await createChainClients({ rpcUrl: config.chain.rpcUrl, account: components.account, timeoutMs: config.chain.rpcTimeoutMs }));
    network = await createNetwork({
      options: { listen: config.p2p.listen, announce: config.p2p.announce, bootstrap: config.p2p.bootstrap, maxPeers: config.p2p.maxPeers, peerKeyFile: config.p2p.peerKeyFile ?? join(dataDir, 'peer-key'), slash: config.p2p.watcher.slash, settlementGraceMs: config.p2p.watcher.settlementGraceMs, announceIntervalMs: config.p2p.announceIntervalMs, creditLimit: BigInt(config.p2p.creditLimit), batchIntervalMs: config.p2p.batchIntervalMs, follow: config.p2p.follow, followNodes: config.p2p.followNodes.map((a) => getAddress(a)), sampleIntervalMs: config.p2p.sampleIntervalMs },
      account: components.account,
      deployment: components.deployment,
      publicClient: chain.publicClient,
      walletClient: chain.walletClient,
      storeFile: join(dataDir, 'p2p.db'),
      registry: metrics.registry,
      status: () => {
        const s = scheduler.stats();
        const listed = adapters.list().map((a) => ({ id: a.id, name: a.name.slice(0, 64), resident: a.resident, inputPer1k: a.price.inputPer1k, outputPer1k: a.price.outputPer1k }));
        return { url, adapters: listed, queueDepth: s.waiting, running: s.running, freeKvBlocks: s.kvBlocksFree, totalKvBlocks: s.kvBlocksTotal };
      },
      log: componentLogger(log, 'p2p'),
    });
  }
  const status = createStatusReader({
    node: components.account.address,
    model: baseModelName,
    contextLength: inference.contextLength,
    paymentMode: gate.mode,
    p2p: network !== undefined,
    startedAt: Date.now(),
    backend,
    scheduler,
    adapters,
    slots,
    hostCache,
    metrics,
    network,
    money:
      paid && components.deployment
        ? createMoneyParts({
            node: components.account.address,
            deployment: components.deployment,
            publicClient: paid.publicClient,
            lanes: paid.lanes,
            settlement: paid.settlement,
            settings: { epochMs: config.payments.settleEpochMs, threshold: BigInt(config.payments.settleThreshold), channelCreditLimit: BigInt(config.payments.channelCreditLimit) },
            nameOf: (laneId) => adapters.list().find((a) => a.laneId === laneId)?.name ?? null,
          })
        : undefined,
  });
  const api = await createApiServer(
    { host: config.api.host, port: config.api.port, bodyLimit: config.api.bodyLimit, rateLimit: { max: config.api.rateLimitPerMinute, timeWindowMs: 60_000 }, corsOrigins: config.api.corsOrigins },
    {
      inference,
      scheduler,
      gate,
      paid: paid?.gate,
      issuer,
      ledger,
      adapters,
      metrics,
      limits: { maxTokensCap: config.api.maxTokensCap, defaultMaxTokens: config.api.defaultMaxTokens, requestTimeoutMs: config.api.requestTimeoutMs },
      log,
      attributionDigestOf: (adapterId) => (adapterId ? roots.get(adapterId) : undefined) ?? zeroHash,
      termsOf: paid ? (laneId) => paid.terms.announced(laneId) : undefined,
      adminToken: config.api.adminToken,
      startedAt: Date.now(),
      network,
      status,
      pages: config.ui.enabled,
      chain: components.deployment && { deployment: components.deployment, browserRpcUrl: config.ui.rpcUrl ?? null },
      attributionReports,
    },
  );
  await paid?.terms.start();
  cleanup.push(() => paid?.terms.stop());
  cleanup.push(() => api.stop());
  url = await api.start();
  await network?.start();
  cleanup.push(() => network?.stop());
  paid?.settlement.start();
  log.info({ url, node: components.account.address, mode: gate.mode }, 'node listening');
  let stopping: Promise<void> | undefined;
  return {
    url,
    address: components.account.address,
    model,
    backend,
    scheduler,
    inference,
    adapters,
    ledger,
    api,
    paid,
    network,
    log,
    stop() {
      stopping ??= (async () => {
        // Drain: no new connections; requests in flight get up to 10 s, then the scheduler fails the rest.
        const drained = api.stop();
        const deadline = setTimeout(() => void scheduler.stop(), 10_000);
        await drained;
        clearTimeout(deadline);
        await scheduler.stop();
        await paid?.settlement.stop();
        paid?.terms.stop();
        slots.stop();
        await peftLoader.close();
        backend.destroy();
        await network?.stop();
        db.close();
        await model.close();
        lock.release();
        log.info('node stopped');
      })();
      return stopping;
    },
  };
}
