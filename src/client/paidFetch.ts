import { zeroHash, type Address, type Hex, type LocalAccount } from 'viem';
import type { Price } from '../payments/pricing.ts';
import { VOUCHER_HEADER, encodeVoucherHeader } from '../payments/voucher.ts';
import { PaymentRefusedError } from './errors.ts';
import { LaneBook, type ClientLane, type ReceiptJson } from './lanes.ts';

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
}

/** A payer's connection to one paid node. */
export interface PaidClient {
  /** A `fetch` that pays: give it to the official `openai` client (`new OpenAI({ fetch })`). */
  fetch: typeof fetch;
  /** Acknowledges everything verified so far with `POST /v1/vouchers` (the tail no next request pays). */
  payTail(): Promise<void>;
  /** Per-lane state: verified charged total. */
  lanes(): Array<{ adapterId: Hex; charged: bigint }>;
  /** Settles pending receipt checks (streams verify when they end). */
  idle(): Promise<void>;
}

interface Requirements {
  node: Address;
  chainId: number;
  contracts: { paymentChannels: Address; token: Address };
  adapterId: Hex;
  price: { inputPer1k: string; outputPer1k: string };
}

/**
 * The payer side of protocol.md's money flow: for every inference request, attaches a voucher
 * acknowledging exactly what the lane's verified receipts add up to; checks each receipt before
 * it is acknowledged; on HTTP 402 for credit signs up to the verified total and retries once.
 */
export async function createPaidClient(p: CreatePaidClientParameters): Promise<PaidClient> {
  const base = p.url.replace(/\/$/, '');
  const http = p.fetch ?? fetch;
  const byModel = new Map<string, Promise<{ req: Requirements; lane: ClientLane }>>();
  const first = (await (await http(`${base}/v1/payment`)).json()) as Requirements;
  const book = new LaneBook({
    account: p.account,
    channelId: p.channelId,
    node: first.node,
    chainId: first.chainId,
    paymentChannels: first.contracts.paymentChannels,
    nodeRegistry: p.nodeRegistry,
    fetchReceipts: async (channelId, adapterId) => {
      const out: ReceiptJson[] = [];
      let after: string | null = null;
      do {
        const page = (await (await http(`${base}/v1/receipts?channel=${channelId}&adapter=${adapterId}&limit=1000${after ? `&after=${after}` : ''}`)).json()) as { data: ReceiptJson[]; next: string | null };
        out.push(...page.data);
        after = page.next;
      } while (after);
      return out;
    },
  });
  const pending = new Set<Promise<unknown>>();
  const track = <T>(promise: Promise<T>): Promise<T> => {
    pending.add(promise);
    void promise.finally(() => pending.delete(promise)).catch(() => undefined);
    return promise;
  };

  function laneFor(model: string) {
    let entry = byModel.get(model);
    if (!entry) {
      entry = (async () => {
        const response = await http(`${base}/v1/payment?model=${encodeURIComponent(model)}`);
        const req = (await response.json()) as Requirements;
        if (!response.ok) throw new PaymentRefusedError('unknown_model', `model ${model}`, req as unknown as Record<string, unknown>);
        const price: Price = { inputPer1k: BigInt(req.price.inputPer1k), outputPer1k: BigInt(req.price.outputPer1k) };
        return { req, lane: book.lane(req.adapterId ?? zeroHash, price) };
      })();
      byModel.set(model, entry);
      entry.catch(() => byModel.delete(model));
    }
    return entry;
  }

  async function send(input: string | URL | Request, init: RequestInit, lane: ClientLane): Promise<Response> {
    const voucher = await book.voucher(lane);
    const headers = new Headers(init.headers);
    headers.set(VOUCHER_HEADER, encodeVoucherHeader(voucher));
    return http(input, { ...init, headers });
  }

  async function settleReceipt(lane: ClientLane, receipt: ReceiptJson | undefined, usage: { prompt_tokens: number; completion_tokens: number } | undefined): Promise<void> {
    try {
      if (receipt && usage) await book.verify(lane, receipt, { promptTokens: usage.prompt_tokens, completionTokens: usage.completion_tokens });
    } finally {
      lane.inflight--;
    }
    await book.reconcile(lane);
  }

  /** Reads the final SSE events of a stream copy for usage and receipt. */
  async function watchStream(body: ReadableStream<Uint8Array>, lane: ClientLane): Promise<void> {
    const decoder = new TextDecoder();
    let buffer = '';
    let receipt: ReceiptJson | undefined;
    let usage: { prompt_tokens: number; completion_tokens: number } | undefined;
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
    await settleReceipt(lane, receipt, usage);
  }

  const paidFetch: typeof fetch = async (input, init = {}) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    const isInference = /\/v1\/(chat\/)?completions$/.test(new URL(url).pathname) && (init.method ?? 'GET').toUpperCase() === 'POST';
    if (!isInference) return http(input, init);
    book.assertTrusted();
    const body = JSON.parse(typeof init.body === 'string' ? init.body : new TextDecoder().decode(init.body as ArrayBuffer)) as { model: string };
    const { lane } = await laneFor(body.model);
    await Promise.all(pending);
    lane.inflight++;
    let response: Response;
    try {
      response = await send(input, init, lane);
      if (response.status === 402) {
        const refusal = ((await response.clone().json()) as { error: { payment?: { reason: string; lane?: { charged: string } }; message: string } }).error;
        const reason = refusal.payment?.reason ?? 'unknown';
        if (reason === 'credit_exhausted' || reason === 'stale_voucher') {
          // Acknowledge everything verified (after the receipts still arriving), then retry once.
          lane.inflight--;
          try {
            await Promise.all(pending);
            await book.reconcile(lane);
          } finally {
            lane.inflight++;
          }
          response = await send(input, init, lane);
        }
        if (response.status === 402) {
          const again = ((await response.json()) as { error: { payment?: Record<string, unknown>; message: string } }).error;
          throw new PaymentRefusedError(String(again.payment?.reason ?? reason), again.message, again.payment ?? {});
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
      track(watchStream(mine, lane));
      return new Response(theirs, { status: response.status, statusText: response.statusText, headers: response.headers });
    }
    const header = response.headers.get('x-openlora-receipt');
    const json = (await response.clone().json()) as { usage?: { prompt_tokens: number; completion_tokens: number } };
    const receipt = header ? (JSON.parse(new TextDecoder().decode(Uint8Array.from(atob(header), (c) => c.charCodeAt(0)))) as ReceiptJson) : undefined;
    await track(settleReceipt(lane, receipt, json.usage));
    return response;
  };

  return {
    fetch: paidFetch,
    async payTail() {
      await Promise.all(pending);
      for (const lane of book.lanes()) {
        await book.reconcile(lane);
        const v = await book.voucher(lane);
        const response = await http(`${base}/v1/vouchers`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ channelId: v.voucher.channelId, adapterId: v.voucher.adapterId, cumulativeAmount: v.voucher.cumulativeAmount.toString(), signature: v.signature }),
        });
        if (!response.ok) {
          const error = ((await response.json()) as { error: { message: string; payment?: Record<string, unknown> } }).error;
          throw new PaymentRefusedError('voucher_refused', error.message, error.payment ?? {});
        }
      }
    },
    lanes: () => book.lanes().map((l) => ({ adapterId: l.adapterId, charged: l.charged })),
    async idle() {
      await Promise.all(pending);
    },
  };
}
