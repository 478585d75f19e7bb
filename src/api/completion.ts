import { randomBytes } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { SamplingParams } from '../engine/backend.ts';
import type { SignedReceipt } from '../ledger/receipts.ts';
import type { PaymentAuthorization } from '../payments/gate.ts';
import { receiptToJson } from '../payments/receipts.ts';
import { requestIdOfNonce } from '../payments/receiptJson.ts';
import type { FinishReason, Usage } from '../scheduler/types.ts';
import type { GeneratedToken, ResolvedModel } from '../serving/inference.ts';
import { admit, requestNonceOf } from './admission.ts';
import type { ApiContext } from './context.ts';
import { ApiError, toOpenAiError } from './errors.ts';

/** A completion request after parsing, common to chat and text completions. */
export interface CompletionJob {
  route: 'chat' | 'completions';
  id: string;
  model: ResolvedModel;
  promptIds: number[];
  maxTokens: number;
  sampling: SamplingParams;
  stop: string[];
  stream: boolean;
  /** The client's request nonce (`x-openlora-request-nonce`), hashed into the receipt's requestId. */
  nonce?: string;
}

/** A prompt as the route parsed it; it is rendered and tokenized only after the payer is verified. */
export interface PromptInput {
  /** Characters of prompt text (message contents), checked against the context before tokenizing. */
  chars: number;
  /** Renders and tokenizes the prompt. */
  tokenize(): number[];
}

/**
 * The front half of both completion routes, cheapest refusals first: model and payer (404, 401,
 * 402, no tokenizing yet), request nonce, prompt size against the context, then tokenizing,
 * `max_tokens`, and the payment reservation of the request's ceiling.
 */
export async function prepareCompletion(ctx: ApiContext, request: FastifyRequest, prompt: PromptInput, requestedMaxTokens: number | null | undefined): Promise<{ model: ResolvedModel; promptIds: number[]; maxTokens: number; nonce?: string; auth: PaymentAuthorization }> {
  const { model, admission } = await admit(ctx, request);
  const nonce = requestNonceOf(ctx, request, requestIdOfNonce);
  ctx.inference.checkPromptSize(prompt.chars);
  const promptIds = prompt.tokenize();
  const maxTokens = maxTokensOf(ctx, requestedMaxTokens, promptIds.length);
  const auth = admission.reserve({ promptTokens: promptIds.length, maxTokens });
  return { model, promptIds, maxTokens, nonce, auth };
}

/** Chat/text-specific rendering of a completion. */
export interface CompletionFormat {
  /** One SSE chunk for a text delta (or the finish reason when `finish` is set). */
  chunk(job: CompletionJob, created: number, delta: { text?: string; tokens?: GeneratedToken[]; first: boolean; finish?: FinishReason }): unknown;
  /** The whole non-streamed response. */
  response(job: CompletionJob, created: number, result: { text: string; tokens: GeneratedToken[]; finish: FinishReason; usage: Usage }): unknown;
}

/** `chatcmpl-…` / `cmpl-…` ids. */
export function newRequestId(prefix: string): string {
  return `${prefix}-${randomBytes(12).toString('hex')}`;
}

/** Resolves sampling fields shared by both endpoints. */
export function samplingOf(body: { temperature?: number | null; top_p?: number | null; top_k?: number | null; seed?: number | null }): SamplingParams {
  return {
    temperature: body.temperature ?? 1,
    topP: body.top_p ?? 1,
    topK: body.top_k ?? 0,
    seed: (body.seed ?? Math.floor(Math.random() * 2 ** 31)) >>> 0,
  };
}

/** Checks `max_tokens` against the cap and the context, and picks the default. */
export function maxTokensOf(ctx: ApiContext, requested: number | null | undefined, promptTokens: number): number {
  if (requested !== null && requested !== undefined && requested > ctx.limits.maxTokensCap) {
    throw new ApiError({ status: 400, code: 'OPENLORA_API_MAX_TOKENS', param: 'max_tokens', message: `max_tokens ${requested} is above this node's limit of ${ctx.limits.maxTokensCap}.`, hint: `Ask for at most ${ctx.limits.maxTokensCap}.` });
  }
  const room = ctx.inference.contextLength - promptTokens;
  if (room <= 0) {
    throw new ApiError({ status: 400, code: 'OPENLORA_API_CONTEXT_EXCEEDED', param: 'messages', message: `The prompt has ${promptTokens} tokens; this model's context is ${ctx.inference.contextLength}.`, hint: 'Shorten the prompt.' });
  }
  return requested ?? Math.min(ctx.limits.defaultMaxTokens, room);
}

/**
 * Serves one completion: authorizes payment, runs inference (streamed as SSE or collected),
 * charges what was produced, signs and durably stores the receipt before the response completes.
 * A client that disconnects cancels the generation at once.
 */
export async function runCompletion(ctx: ApiContext, request: FastifyRequest, reply: FastifyReply, job: CompletionJob, format: CompletionFormat, auth: PaymentAuthorization): Promise<void> {
  if (job.nonce !== undefined) ctx.inflightNonces.add(job.nonce);
  try {
    await serveCompletion(ctx, request, reply, job, format, auth);
  } finally {
    if (job.nonce !== undefined) ctx.inflightNonces.delete(job.nonce);
  }
}

async function serveCompletion(ctx: ApiContext, request: FastifyRequest, reply: FastifyReply, job: CompletionJob, format: CompletionFormat, auth: PaymentAuthorization): Promise<void> {
  const started = performance.now();
  const controller = new AbortController();
  const onClose = () => {
    if (!reply.raw.writableFinished) controller.abort(new Error('client disconnected'));
  };
  reply.raw.on('close', onClose);
  const timeout = setTimeout(() => controller.abort(new Error('request timeout')), ctx.limits.requestTimeoutMs);
  const created = Math.floor(Date.now() / 1000);
  let text = '';
  const tokens: GeneratedToken[] = [];
  let finish: FinishReason = 'cancelled';
  let usage: Usage = { promptTokens: job.promptIds.length, completionTokens: 0 };
  let first = true;
  let streaming = false;
  try {
    const events = ctx.inference.generate({ promptIds: job.promptIds, model: job.model, maxTokens: job.maxTokens, sampling: job.sampling, stop: job.stop, signal: controller.signal, requestId: job.id });
    for await (const event of events) {
      if (event.type === 'delta') {
        text += event.text;
        tokens.push(...event.tokens);
        if (job.stream) {
          if (!streaming) streaming = startStream(reply);
          writeEvent(reply, format.chunk(job, created, { text: event.text, tokens: event.tokens, first }));
          first = false;
        }
      } else {
        finish = event.finishReason;
        usage = event.usage;
        if (event.timings.firstTokenMs !== null) ctx.metrics.firstTokenSeconds.observe(event.timings.firstTokenMs / 1000);
      }
    }
  } catch (error) {
    auth.release();
    clearTimeout(timeout);
    reply.raw.off('close', onClose);
    if (!streaming) throw error;
    const { body } = toOpenAiError(error);
    writeEvent(reply, body);
    reply.raw.end();
    return;
  }
  clearTimeout(timeout);
  reply.raw.off('close', onClose);
  if (finish === 'cancelled' && controller.signal.reason instanceof Error && controller.signal.reason.message === 'request timeout' && !streaming) {
    // A timed-out non-streamed request still returns what it produced, marked as cut off.
    finish = 'length';
  }
  let receipt: SignedReceipt | undefined;
  try {
    receipt = await meter(ctx, auth, job, usage);
  } catch (error) {
    if (!streaming) throw error;
    ctx.log.error({ err: error, request: job.id }, 'receipt not stored; the request was not charged');
    writeEvent(reply, toOpenAiError(error).body);
    reply.raw.end();
    return;
  }
  ctx.metrics.requestSeconds.observe({ route: job.route }, (performance.now() - started) / 1000);
  if (reply.raw.destroyed) return; // the client left; the receipt is stored for the lane anyway
  if (job.stream) {
    if (!streaming) streaming = startStream(reply);
    writeEvent(reply, format.chunk(job, created, { first, finish: finish === 'cancelled' ? 'length' : finish }));
    writeEvent(reply, { id: job.id, object: job.route === 'chat' ? 'chat.completion.chunk' : 'text_completion', created, model: job.model.name, choices: [], usage: usageJson(usage), receipt: receipt && receiptToJson(receipt) });
    reply.raw.write('data: [DONE]\n\n');
    reply.raw.end();
    return;
  }
  if (receipt) void reply.header('x-openlora-receipt', Buffer.from(JSON.stringify(receiptToJson(receipt))).toString('base64'));
  await reply.send(format.response(job, created, { text, tokens, finish: finish === 'cancelled' ? 'length' : finish, usage }));
}

/**
 * Charges the request and issues its receipt; nothing is charged when no token was produced. The
 * lane is charged only once the receipt is durable: a failed write releases the reservation.
 */
async function meter(ctx: ApiContext, auth: PaymentAuthorization, job: CompletionJob, usage: Usage): Promise<SignedReceipt | undefined> {
  if (usage.completionTokens === 0) {
    auth.release();
    return undefined;
  }
  let receipt: SignedReceipt;
  try {
    receipt = await ctx.issuer.issue({
      payer: auth.payer,
      channelId: auth.channelId,
      adapterId: auth.laneAdapterId,
      requestKey: job.id,
      nonce: job.nonce,
      promptTokens: usage.promptTokens,
      completionTokens: usage.completionTokens,
      amount: auth.amountFor(usage),
      lane: auth,
      voucherDigest: auth.voucherDigest,
      voucher: auth.voucher,
      attributionDigest: ctx.attributionDigestOf(job.model.adapterId),
    });
  } catch (error) {
    auth.release();
    throw error;
  }
  const adapter = auth.laneAdapterId; // the lane id, as in the receipt
  ctx.metrics.tokens.inc({ kind: 'prompt', adapter }, usage.promptTokens);
  ctx.metrics.tokens.inc({ kind: 'completion', adapter }, usage.completionTokens);
  ctx.metrics.adapterRequests.inc({ adapter });
  ctx.metrics.receipts.inc();
  return receipt;
}

/** OpenAI `usage` object. */
export function usageJson(usage: Usage): { prompt_tokens: number; completion_tokens: number; total_tokens: number } {
  return { prompt_tokens: usage.promptTokens, completion_tokens: usage.completionTokens, total_tokens: usage.promptTokens + usage.completionTokens };
}

function startStream(reply: FastifyReply): true {
  reply.hijack();
  reply.raw.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
  return true;
}

function writeEvent(reply: FastifyReply, data: unknown): void {
  if (!reply.raw.destroyed) reply.raw.write(`data: ${JSON.stringify(data)}\n\n`);
}
