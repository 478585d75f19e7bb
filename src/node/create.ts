import { basename, join, resolve } from 'node:path';
import { zeroAddress, type LocalAccount } from 'viem';
import { createApiServer, type ApiServer } from '../api/server.ts';
import { createNodeMetrics } from '../api/metrics.ts';
import type { Deployment } from '../chain/deployment.ts';
import type { Config } from '../config/schema.ts';
import type { Backend } from '../engine/backend.ts';
import { openLedgerDatabase } from '../ledger/db.ts';
import { createReceiptLedger, type ReceiptLedger } from '../ledger/receipts.ts';
import { createLogger, type Logger } from '../log.ts';
import { createHostCache } from '../lora/hostCache.ts';
import { createSlotManager } from '../lora/slots.ts';
import { createAdapterStore } from '../lora/store.ts';
import { loadModel, type LoadedModel } from '../model/load.ts';
import { ZERO_BYTES32, type PaymentGate } from '../payments/gate.ts';
import { createOpenGate } from '../payments/open.ts';
import { createReceiptIssuer } from '../payments/receipts.ts';
import { createScheduler, type Scheduler } from '../scheduler/scheduler.ts';
import { createInferenceService, type InferenceService } from '../serving/inference.ts';
import { createNodeAdapters, type NodeAdapters } from './adapters.ts';
import { createBackend } from './backend.ts';
import { NodeConfigError } from './errors.ts';

/** What `createNode` takes besides the configuration. */
export interface NodeComponents {
  /** The node key (signs receipts). */
  account: LocalAccount;
  /** Contract addresses; without them receipts are signed for chainId 0 and a zero verifying contract (open mode only). */
  deployment?: Deployment;
  /** Overrides the payment gate (the paid mode plugs in here). */
  gate?: (parts: { adapters: NodeAdapters; ledger: ReceiptLedger }) => PaymentGate;
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
  readonly log: Logger;
  /** Stops accepting requests, fails those still queued, releases the GPU and closes the ledger. */
  stop(): Promise<void>;
}

/** Starts a node from its configuration: loads the model, registers adapters, listens. */
export async function startNode(config: Config, components: NodeComponents): Promise<OpenloraNode> {
  const log = createLogger({ name: 'node' });
  if (!config.model.dir) throw new NodeConfigError('model.dir', 'no base model directory is configured', 'Pass --model DIR (or set model.dir / OPENLORA_MODEL_DIR); `openlora model create --preset tiny --out DIR` makes one.');
  log.info({ dir: config.model.dir, backend: config.model.backend }, 'loading model');
  const model = await loadModel({ dir: config.model.dir, dtype: config.model.dtype === 'auto' ? undefined : config.model.dtype });
  const { backend, maxContext } = await createBackend({ model, kind: config.model.backend, numKvBlocks: config.engine.kvBlocks, loraSlots: config.lora.slots, maxLoraRank: config.lora.maxRank });
  log.info({ kind: backend.kind, dtype: backend.dtype, kvBlocks: backend.numKvBlocks, loraSlots: backend.lora.slots }, 'engine ready');

  const dataDir = resolve(config.dataDir);
  const store = createAdapterStore({ dir: join(dataDir, 'adapters'), config: model.config, maxRank: backend.lora.maxRank });
  const hostCache = createHostCache({ budgetBytes: config.lora.hostCacheMiB * 2 ** 20, load: (id, signal) => store.load(id, signal) });
  const slots = createSlotManager({ pool: backend.lora, store, hostCache });
  const defaultPrice = { inputPer1k: BigInt(config.payments.inputPer1k), outputPer1k: BigInt(config.payments.outputPer1k) };
  const adapters = createNodeAdapters({ store, hostCache, slots, defaultPrice });
  const scanned = await store.scan();
  for (const failure of scanned.failed) log.warn({ dir: failure.dir, err: failure.error }, 'adapter in the store is invalid; skipped');
  for (const a of config.lora.adapters) {
    const price = a.inputPer1k !== undefined || a.outputPer1k !== undefined ? { inputPer1k: BigInt(a.inputPer1k ?? config.payments.inputPer1k), outputPer1k: BigInt(a.outputPer1k ?? config.payments.outputPer1k) } : undefined;
    await adapters.register({ path: a.path, name: a.name, price });
  }
  log.info({ adapters: adapters.list().length }, 'adapters registered');

  const scheduler = createScheduler({ maxBatchTokens: config.engine.maxBatchTokens, maxRunning: config.engine.maxRunning, maxWaiting: config.engine.maxWaiting, maxContext }, { backend, adapters: slots });
  // Served as the model directory's name unless node.name is set.
  const baseModelName = config.node.name === 'openlora' ? basename(resolve(config.model.dir)) : config.node.name;
  const inference = createInferenceService({ model, scheduler, baseModelName, adapters, contextLength: maxContext });
  const db = openLedgerDatabase(join(dataDir, 'ledger.db'));
  const ledger = createReceiptLedger(db);
  const issuer = createReceiptIssuer({
    account: components.account,
    chainId: components.deployment?.chainId ?? 0,
    nodeRegistry: components.deployment?.contracts.nodeRegistry ?? zeroAddress,
    ledger,
  });
  const gate = components.gate?.({ adapters, ledger }) ?? createOpenGate({ apiKeys: config.payments.apiKeys, priceOf: (id) => adapters.priceOf(id), ledger });
  const metrics = createNodeMetrics();
  const api = await createApiServer(
    { host: config.api.host, port: config.api.port, bodyLimit: config.api.bodyLimit, rateLimit: { max: config.api.rateLimitPerMinute, timeWindowMs: 60_000 } },
    {
      inference,
      scheduler,
      gate,
      issuer,
      ledger,
      adapters,
      metrics,
      limits: { maxTokensCap: config.api.maxTokensCap, defaultMaxTokens: config.api.defaultMaxTokens, requestTimeoutMs: config.api.requestTimeoutMs },
      log,
      attributionDigestOf: () => ZERO_BYTES32,
      adminToken: config.api.adminToken,
      startedAt: Date.now(),
    },
  );
  const url = await api.start();
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
    log,
    stop() {
      stopping ??= (async () => {
        // Drain: no new connections; requests in flight get up to 10 s, then the scheduler fails the rest.
        const drained = api.stop();
        const deadline = setTimeout(() => void scheduler.stop(), 10_000);
        await drained;
        clearTimeout(deadline);
        await scheduler.stop();
        slots.stop();
        backend.destroy();
        db.close();
        await model.close();
        log.info('node stopped');
      })();
      return stopping;
    },
  };
}
