import type { Logger } from '../log.ts';
import type { PaymentGate } from '../payments/gate.ts';
import type { PaidGate } from '../payments/paid.ts';
import type { Price } from '../payments/pricing.ts';
import type { ReceiptIssuer } from '../payments/receipts.ts';
import type { ReceiptLedger } from '../ledger/receipts.ts';
import type { Scheduler } from '../scheduler/scheduler.ts';
import type { InferenceService } from '../serving/inference.ts';
import type { NodeMetrics } from './metrics.ts';
import type { Network } from '../p2p/network.ts';
import type { AnnouncedTerms } from '../chain/terms.ts';
import type { Deployment } from '../chain/deployment.ts';
import type { AttributionReport } from '../attribution/report.ts';
import type { MoneyStatus, NetworkStatus, NodeStatus } from './statusSchemas.ts';

/** An adapter as `GET /v1/models` and the admin API show it. */
export interface AdapterListing {
  /** Content id (hash of the files). */
  id: `0x${string}`;
  /** Payment lane / on-chain AdapterRegistry id (the content id when no owner is configured). */
  laneId: `0x${string}`;
  name: string;
  rank: number;
  targets: string[];
  resident: 'gpu' | 'host' | 'disk';
  price: Price;
}

/** Adapter operations the API exposes (the node's adapter manager implements them). */
export interface AdapterAdmin {
  list(): AdapterListing[];
  /** Registers an adapter directory from the node's adapter store; returns its listing. */
  /** In paid mode the lane (owner, content id) must be registered in AdapterRegistry, or it could never settle. */
  register(parameters: { path: string; name?: string; price?: Price; owner?: `0x${string}` }): Promise<AdapterListing>;
  /** Loads onto the GPU (and pins nothing). */
  load(idOrName: string): Promise<AdapterListing>;
  /** Drops from GPU and host caches (stays registered). */
  unload(idOrName: string): Promise<AdapterListing>;
}

/** Limits of the HTTP API (config `api.*`). */
export interface ApiLimits {
  /** Largest `max_tokens` accepted. */
  maxTokensCap: number;
  /** `max_tokens` when the request gives none. */
  defaultMaxTokens: number;
  /** Wall-clock limit of one request, ms. */
  requestTimeoutMs: number;
}

/** Read-only views of the node: the status endpoints and the operator page. */
export interface NodeStatusReader {
  /** Sets the gauges of `/metrics` from the node's parts (each scrape). */
  refresh(): void;
  /** `GET /v1/node/status`. */
  read(): Promise<NodeStatus>;
  /** `GET /admin/node/money`. */
  money(): Promise<MoneyStatus>;
  /** `GET /admin/node/network`. */
  network(): NetworkStatus;
}

/** Everything the routes use. */
export interface ApiContext {
  inference: InferenceService;
  scheduler: Scheduler;
  gate: PaymentGate;
  /** The paid-mode gate (vouchers, requirements); absent in open mode. */
  paid?: PaidGate;
  issuer: ReceiptIssuer;
  ledger: ReceiptLedger;
  adapters: AdapterAdmin;
  metrics: NodeMetrics;
  limits: ApiLimits;
  log: Logger;
  /** Attribution digest of an adapter (zero without a published root). */
  attributionDigestOf(adapterId: `0x${string}` | null): `0x${string}`;
  /** The split terms the node serves a lane at (paid mode), for `GET /v1/models`; undefined when never read. */
  termsOf?(laneId: `0x${string}`): AnnouncedTerms | undefined;
  /** Operator token for `/admin/*`; admin routes are off without one. */
  adminToken?: string;
  /** When the node started (unix ms), for /health. */
  startedAt: number;
  /** The P2P network, when `p2p.enabled` (discovery routes use its routing table). */
  network?: Network;
  /** Request nonces of requests being served (a nonce names one request). */
  inflightNonces: Set<string>;
  status: NodeStatusReader;
  /** Serve the web pages at `/` and `/rewards` (config `ui.enabled`). */
  pages: boolean;
  /** The deployment and the RPC URL browsers may read it through (`GET /v1/chain`); absent without a deployment. */
  chain?: { deployment: Deployment; browserRpcUrl: string | null };
  /** Published attribution reports of the adapters served (`GET /v1/attribution/reports`). */
  attributionReports: readonly AttributionReport[];
}
