import { zeroHash, type Address, type Hex, type LocalAccount } from 'viem';
import { BaseError } from '../errors.ts';
import { charge, type Price } from '../payments/pricing.ts';
import { VOUCHER_HEADER, encodeVoucherHeader } from '../payments/voucher.ts';
import { PaymentRefusedError, PriceAboveMaxError, ReceiptMismatchError, errorResponse } from './errors.ts';
import { LaneBook, type ClientLane, type NodeLaneView, type ReceiptJson } from './lanes.ts';
import { createNonce, deriveNonceKey, type RequestBound } from './nonce.ts';
import type { PaidClientStore } from './store.ts';

/** Header of the request nonce (the node hashes it into the receipt's `requestId`). */
export const REQUEST_NONCE_HEADER = 'x-openlora-request-nonce';

export interface CreatePaidClientParameters {
  /** Node base URL, e.g. http://127.0.0.1:8547. */
  url: string;
  /** The channel's authorizer: signs vouchers. */
  account: LocalAccount;
  channelId: Hex;
  /** NodeRegistry address (the receipts' EIP-712 domain), from the deployment. */
  nodeRegistry: Address;
  /** Underlying fetch; default the global one. */
  fetch?: typeof fetch;
  /** Most the payer pays per 1,000 prompt and completion tokens; a node asking more is refused (`PriceAboveMaxError`, HTTP 402). Default: any. */
  maxPrice?: Price;
  /** Keeps each lane's acknowledged total across restarts (`createFileStore`, `createLocalStorageStore`). */
  store?: PaidClientStore;
  /**
   * Prompt tokens a request may be charged beyond its text's UTF-8 bytes (no token covers less than
   * a byte; chat templates add a few per message). Default 256 plus 32 per message.
   */
  promptAllowance?: (messages: number) => number;
}

/** A payer's connection to one paid node. */
export interface PaidClient {
  /** A `fetch` that pays: give it to the official `openai` client (`new OpenAI({ fetch })`). Refusals come back as HTTP errors. */
  fetch: typeof fetch;
  /** Acknowledges everything verified so far with `POST /v1/vouchers` (the tail no next request pays). */
  payTail(): Promise<void>;
  /** Per-lane state: the acknowledged (verified) total. */
  lanes(): Array<{ adapterId: Hex; charged: bigint }>;
  /** Settles pending receipt checks (streams verify when they end). */
  idle(): Promise<void>;
  /** Why the client stopped paying the node, if it did (`NodeEquivocatedError` carries the proof). */
  readonly error: ReceiptMismatchError | undefined;
}

interface Requirements {
  node: Address;
  chainId: number;
  contracts: { paymentChannels: Address; token: Address };
  adapterId: Hex;
  price: { inputPer1k: string; outputPer1k: string };
  limits?: { defaultMaxTokens: number; maxTokensCap: number; contextLength: number };
  lane?: NodeLaneView;
}

/** Bytes of a chat request's tool list prompt (openlora's tool prompt, or the template's) beyond the tools' own JSON. */
const TOOL_PROMPT_ALLOWANCE = 1024;

/**
 * What a request may be charged: `n × max_tokens` completion tokens and a ceiling from its text
 * (its messages, earlier tool calls and the tools it lists: no token covers less than a byte).
 */
function boundOf(route: 'chat' | 'completions', body: Record<string, unknown>, req: Requirements, price: Price, allowance: (messages: number) => number): Omit<RequestBound, 'nonce'> {
  const bytes = (s: unknown) => (typeof s === 'string' ? new TextEncoder().encode(s).length : 0);
  let promptTokens: number;
  if (route === 'chat') {
    type Message = { content?: unknown; role?: unknown; name?: unknown; tool_call_id?: unknown; tool_calls?: Array<{ id?: unknown; function?: { name?: unknown; arguments?: unknown } }> };
    const messages = Array.isArray(body.messages) ? (body.messages as Message[]) : [];
    const calls = (m: Message) => (Array.isArray(m.tool_calls) ? m.tool_calls.reduce((k, c) => k + bytes(c?.id) + bytes(c?.function?.name) + bytes(c?.function?.arguments) + 64, 0) : 0);
    const text = messages.reduce((n, m) => n + bytes(m.role) + bytes(m.name) + bytes(m.tool_call_id) + calls(m) + (Array.isArray(m.content) ? m.content.reduce((k: number, part: { text?: unknown }) => k + bytes(part?.text), 0) : bytes(m.content)), 0);
    const tools = Array.isArray(body.tools) && body.tools.length > 0 ? bytes(JSON.stringify(body.tools)) * 2 + TOOL_PROMPT_ALLOWANCE : 0;
    promptTokens = text + tools + allowance(messages.length);
  } else {
    const prompt = Array.isArray(body.prompt) && typeof body.prompt[0] === 'number' ? body.prompt : undefined;
    promptTokens = prompt ? prompt.length : bytes(Array.isArray(body.prompt) ? body.prompt[0] : body.prompt) + allowance(0);
  }
  const explicit = (body.max_completion_tokens ?? body.max_tokens) as number | null | undefined;
  const fallback = route === 'chat' ? Math.min(req.limits?.defaultMaxTokens ?? 256, req.limits?.contextLength ?? 256) : 16;
  const n = typeof body.n === 'number' ? body.n : 1;
  const maxCompletionTokens = n * (typeof explicit === 'number' ? explicit : fallback);
  return { maxCompletionTokens, maxAmount: charge(price, { promptTokens, completionTokens: maxCompletionTokens }), price };
}

/**
 * The payer side of protocol.md's money flow. Every inference request carries a fresh nonce
 * bound to its limits and a voucher for exactly what the lane's verified chain of receipts adds up
 * to; each receipt is checked before it is acknowledged. A restarted payer (or a second process of
 * the same payer) resumes each lane from its own latest voucher, which the node shows and the SDK
 * checks against its own key, and the receipts after it, each tied to one of its own requests.
 * Refusals (the node's 402s, a price above `maxPrice`, a node caught lying) reach the caller as HTTP
 * error responses with the reason, which the `openai` client raises as `APIError`.
 */
export async function createPaidClient(p: CreatePaidClientParameters): Promise<PaidClient> {
  const base = p.url.replace(/\/$/, '');
  const http = p.fetch ?? fetch;
  const allowance = p.promptAllowance ?? ((messages: number) => 256 + 32 * messages);
  const byModel = new Map<string, Promise<{ req: Requirements; lane: ClientLane } | { response: Response }>>();
  const first = (await (await http(`${base}/v1/payment`)).json()) as Requirements;
  const nonceKey = await deriveNonceKey(p.account, p.channelId);
  /** The model each lane was first used with (its `GET /v1/payment` view). */
  const modelOf = new Map<Hex, string>();
  const book = new LaneBook({
    account: p.account,
    channelId: p.channelId,
    node: first.node,
    chainId: first.chainId,
    paymentChannels: first.contracts.paymentChannels,
    nodeRegistry: p.nodeRegistry,
    nonceKey,
    store: p.store,
    fetchReceipts: async (adapterId, after) => {
      const response = await http(`${base}/v1/receipts?channel=${p.channelId}&adapter=${adapterId}&limit=1000${after === undefined ? '' : `&after=${after}`}`);
      if (!response.ok) throw new PaymentRefusedError('receipts_unavailable', `GET /v1/receipts answered HTTP ${response.status}`, {});
      return (await response.json()) as { data: ReceiptJson[]; next: string | null };
    },
  });
  const pending = new Set<Promise<unknown>>();
  const track = <T>(promise: Promise<T>): Promise<T> => {
    pending.add(promise);
    void promise.finally(() => pending.delete(promise)).catch(() => undefined);
    return promise;
  };
  const settled = async () => {
    while (pending.size > 0) await Promise.allSettled(pending);
  };

  /** `GET /v1/payment?model=&channel=`: the model's requirements and the lane as the node shows it. */
  const requirementsOf = (model: string) => http(`${base}/v1/payment?model=${encodeURIComponent(model)}&channel=${p.channelId}`);

  async function viewOf(model: string): Promise<NodeLaneView | undefined> {
    const response = await requirementsOf(model);
    return response.ok ? ((await response.json()) as Requirements).lane : undefined;
  }

  /** The lane of a model, resumed from the node's view on first use; or the node's error response (unknown model...). */
  function laneFor(model: string) {
    let entry = byModel.get(model);
    if (!entry) {
      entry = (async () => {
        const response = await requirementsOf(model);
        if (!response.ok) return { response };
        const req = (await response.json()) as Requirements;
        const price: Price = { inputPer1k: BigInt(req.price.inputPer1k), outputPer1k: BigInt(req.price.outputPer1k) };
        if (p.maxPrice && (price.inputPer1k > p.maxPrice.inputPer1k || price.outputPer1k > p.maxPrice.outputPer1k)) throw new PriceAboveMaxError(model, price, p.maxPrice);
        const lane = book.lane(req.adapterId ?? zeroHash, price);
        modelOf.set(lane.adapterId, model);
        await book.resume(lane, req.lane);
        return { req, lane };
      })();
      byModel.set(model, entry);
      entry.then((e) => 'response' in e && byModel.delete(model), () => byModel.delete(model));
    }
    return entry;
  }

  async function send(input: string | URL | Request, init: RequestInit, lane: ClientLane, nonce: string): Promise<Response> {
    const voucher = await book.voucher(lane);
    const headers = new Headers(init.headers);
    headers.set(VOUCHER_HEADER, encodeVoucherHeader(voucher));
    headers.set(REQUEST_NONCE_HEADER, nonce);
    return http(input, { ...init, headers });
  }

  /** After a response: verify its receipt; with nothing else in flight, account for receipts never delivered. */
  async function afterResponse(lane: ClientLane, model: string, bound: RequestBound, receipt: ReceiptJson | undefined, usage: { prompt_tokens: number; completion_tokens: number } | undefined): Promise<void> {
    try {
      if (receipt) await book.verify(lane, receipt, bound, usage && { promptTokens: usage.prompt_tokens, completionTokens: usage.completion_tokens });
    } finally {
      lane.inflight--;
    }
    if (lane.inflight === 0 && (lane.waiting.size > 0 || lane.claimed > lane.acked)) await book.resume(lane, await viewOf(model));
  }

  /** Reads the final SSE events of a stream copy for usage and receipt. */
  async function watchStream(body: ReadableStream<Uint8Array>, lane: ClientLane, model: string, bound: RequestBound): Promise<void> {
    const decoder = new TextDecoder();
    let buffer = '';
    let receipt: ReceiptJson | undefined;
    let usage: { prompt_tokens: number; completion_tokens: number } | undefined;
    try {
      for await (const chunk of body) {
        buffer += decoder.decode(chunk, { stream: true });
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const event = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = event.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
          if (!data || data === '[DONE]') continue;
          try {
            const json = JSON.parse(data) as { receipt?: ReceiptJson; usage?: { prompt_tokens: number; completion_tokens: number } };
            if (json.receipt) receipt = json.receipt;
            if (json.usage) usage = json.usage;
          } catch {
            // not JSON: ignore
          }
        }
      }
    } catch {
      // the stream broke: its receipt, if any, is listed by /v1/receipts
    }
    await afterResponse(lane, model, bound, receipt, usage);
  }

  async function paidFetch(input: string | URL | Request, init: RequestInit = {}): Promise<Response> {
    const url = new URL(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url);
    const route = url.pathname.endsWith('/chat/completions') ? 'chat' : url.pathname.endsWith('/completions') ? 'completions' : undefined;
    if (!route || (init.method ?? 'GET').toUpperCase() !== 'POST') return http(input, init);
    book.assertTrusted();
    const body = JSON.parse(typeof init.body === 'string' ? init.body : new TextDecoder().decode(init.body as ArrayBuffer)) as Record<string, unknown>;
    const model = String(body.model);
    const entry = await laneFor(model);
    if ('response' in entry) return entry.response.clone();
    const { req, lane } = entry;
    const bound = { ...boundOf(route, body, req, lane.price, allowance), nonce: '' };
    const fresh = () => (bound.nonce = createNonce(nonceKey, { channelId: p.channelId, adapterId: lane.adapterId }, bound));
    await settled();
    lane.inflight++;
    let response: Response;
    try {
      response = await send(input, init, lane, fresh());
      if (response.status === 402) {
        const reason = ((await response.clone().json()) as { error?: { payment?: { reason?: string } } }).error?.payment?.reason;
        if (reason === 'credit_exhausted' || reason === 'stale_voucher' || reason === 'channel_credit_exhausted') {
          // Catch up (receipts still arriving, the payer's own newer voucher), acknowledge, retry once.
          lane.inflight--;
          try {
            await settled();
            if (reason === 'channel_credit_exhausted') await payTail();
            else await book.resume(lane, await viewOf(model));
          } finally {
            lane.inflight++;
          }
          response = await send(input, init, lane, fresh());
        }
      }
    } catch (error) {
      lane.inflight--;
      throw error;
    }
    if (!response.ok) {
      lane.inflight--;
      return response;
    }
    if ((response.headers.get('content-type') ?? '').startsWith('text/event-stream') && response.body) {
      const [mine, theirs] = response.body.tee();
      track(watchStream(mine, lane, model, { ...bound }));
      return new Response(theirs, { status: response.status, statusText: response.statusText, headers: response.headers });
    }
    const header = response.headers.get('x-openlora-receipt');
    const json = (await response.clone().json()) as { usage?: { prompt_tokens: number; completion_tokens: number } };
    const receipt = header ? (JSON.parse(new TextDecoder().decode(Uint8Array.from(atob(header), (c) => c.charCodeAt(0)))) as ReceiptJson) : undefined;
    await track(afterResponse(lane, model, { ...bound }, receipt, json.usage));
    return response;
  }

  async function payTail(): Promise<void> {
    await settled();
    for (const lane of book.lanes()) {
      const model = modelOf.get(lane.adapterId);
      // Catch up first: receipts not delivered, and the payer's own newer voucher (another process of it).
      if (model) await book.resume(lane, await viewOf(model));
      for (let attempt = 0; ; attempt++) {
        const v = await book.voucher(lane);
        const response = await http(`${base}/v1/vouchers`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ channelId: v.voucher.channelId, adapterId: v.voucher.adapterId, cumulativeAmount: v.voucher.cumulativeAmount.toString(), signature: v.signature }),
        });
        if (response.ok) break;
        const error = ((await response.json()) as { error: { message: string; payment?: Record<string, unknown> } }).error;
        const reason = String(error.payment?.reason ?? 'voucher_refused');
        if (reason !== 'stale_voucher' || attempt > 0 || !model) throw new PaymentRefusedError(reason, error.message, error.payment ?? {});
        await book.resume(lane, await viewOf(model)); // another process acknowledged more meanwhile
      }
    }
  }

  return {
    async fetch(input, init) {
      try {
        return await paidFetch(input, init);
      } catch (error) {
        if (error instanceof ReceiptMismatchError) return errorResponse(error, 502);
        if (error instanceof PriceAboveMaxError) return errorResponse(error, 402);
        if (error instanceof BaseError && error.code === 'OPENLORA_CLIENT_PAYMENT_REFUSED') return errorResponse(error, 402);
        throw error;
      }
    },
    payTail,
    lanes: () => book.lanes().map((l) => ({ adapterId: l.adapterId, charged: l.acked })),
    async idle() {
      await settled();
    },
    get error() {
      return book.error;
    },
  };
}
