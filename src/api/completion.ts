import { randomBytes } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { SignedReceipt } from '../ledger/receipts.ts';
import type { PaymentAuthorization } from '../payments/gate.ts';
import { receiptToJson } from '../payments/receipts.ts';
import { requestIdOfNonce } from '../payments/receiptJson.ts';
import type { FinishReason, RequestSampling, TokenConstraint, Usage } from '../scheduler/types.ts';
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
  /** New tokens at most, per choice. */
  maxTokens: number;
  sampling: RequestSampling;
  /** Choices (OpenAI `n`). */
  n: number;
  /** A fresh grammar per choice (response_format, tools). */
  constraint?: () => TokenConstraint;
  stop: string[];
  stream: boolean;
  /** `stream_options.include_usage`: every chunk carries `usage` (null until the last). */
  includeUsage: boolean;
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

/** What the front half of a completion route settled. */
export interface PreparedCompletion {
  model: ResolvedModel;
  promptIds: number[];
  maxTokens: number;
  nonce?: string;
  auth: PaymentAuthorization;
  /** Who pays (the scheduler's fairness key). */
  payer: string;
}

/**
 * The front half of both completion routes, cheapest refusals first: model and payer (404, 401,
 * 402, no tokenizing yet), request nonce, `check` (the route's own refusals: a schema the grammar
 * cannot compile), prompt size against the context, then tokenizing, `max_tokens`, and the payment
 * reservation of the request's ceiling: its prompt and `n` times `max_tokens`.
 */
export async function prepareCompletion(ctx: ApiContext, request: FastifyRequest, prompt: PromptInput, requestedMaxTokens: number | null | undefined, n: number, check?: () => void): Promise<PreparedCompletion> {
  const { model, admission, payer } = await admit(ctx, request);
  const nonce = requestNonceOf(ctx, request, requestIdOfNonce);
  check?.();
  ctx.inference.checkPromptSize(prompt.chars);
  const promptIds = prompt.tokenize();
  const maxTokens = maxTokensOf(ctx, requestedMaxTokens, promptIds.length);
  const auth = admission.reserve({ promptTokens: promptIds.length, maxTokens: n * maxTokens });
  return { model, promptIds, maxTokens, nonce, auth, payer };
}

/** Why a choice ended, as OpenAI says it. */
export type ChoiceFinish = 'stop' | 'length' | 'tool_calls';

/** One choice of a finished completion. */
export interface ChoiceResult {
  index: number;
  text: string;
  tokens: GeneratedToken[];
  /** `length` also when the grammar closed the output early because `max_tokens` ran low. */
  finish: 'stop' | 'length';
}

/** Chat/text-specific rendering of a completion. */
export interface CompletionFormat {
  /** SSE chunks for a choice's text delta, or its end when `finish` is set (chat may hold text back: tool calls). */
  chunks(job: CompletionJob, created: number, delta: { choice: number; text?: string; tokens?: GeneratedToken[]; finish?: 'stop' | 'length' }): unknown[];
  /** The whole non-streamed response. */
  response(job: CompletionJob, created: number, result: { choices: ChoiceResult[]; usage: Usage }): unknown;
}

/** `chatcmpl-…` / `cmpl-…` ids. */
/** The request's `stop` as a list (OpenAI takes a string, a list of up to 4, or null). */
export function stopsOf(stop: string | readonly string[] | null | undefined): string[] {
  return stop === undefined || stop === null ? [] : typeof stop === 'string' ? [stop] : [...stop];
}

export function newRequestId(prefix: string): string {
  return `${prefix}-${randomBytes(12).toString('hex')}`;
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
export async function runCompletion(ctx: ApiContext, request: FastifyRequest, reply: FastifyReply, job: CompletionJob, format: CompletionFormat, prepared: PreparedCompletion): Promise<void> {
  if (job.nonce !== undefined) ctx.inflightNonces.add(job.nonce);
  try {
    await serveCompletion(ctx, request, reply, job, format, prepared);
  } finally {
    if (job.nonce !== undefined) ctx.inflightNonces.delete(job.nonce);
  }
}

async function serveCompletion(ctx: ApiContext, request: FastifyRequest, reply: FastifyReply, job: CompletionJob, format: CompletionFormat, prepared: PreparedCompletion): Promise<void> {
  const { auth } = prepared;
  const started = performance.now();
  const controller = new AbortController();
  const onClose = () => {
    if (!reply.raw.writableFinished) controller.abort(new Error('client disconnected'));
  };
  reply.raw.on('close', onClose);
  const timeout = setTimeout(() => controller.abort(new Error('request timeout')), ctx.limits.requestTimeoutMs);
  const created = Math.floor(Date.now() / 1000);
  const choices = Array.from({ length: job.n }, (_, index) => ({ index, text: '', tokens: [] as GeneratedToken[], finish: undefined as FinishReason | 'forced' | undefined, usage: 0 }));
  let streaming = false;
  const send = (chunks: unknown[]) => {
    if (chunks.length === 0) return;
    if (!streaming) streaming = startStream(reply);
    for (const chunk of chunks) writeEvent(reply, job.includeUsage ? { ...(chunk as object), usage: null } : chunk);
  };
  const timedOut = () => controller.signal.reason instanceof Error && controller.signal.reason.message === 'request timeout';
  /** OpenAI's finish reason: cut off (a timeout included) or closed early by the grammar are `length`. */
  const finishOf = (f: FinishReason | 'forced' | undefined): 'stop' | 'length' => (f === 'stop' ? 'stop' : 'length');
  try {
    const events = ctx.inference.generate({ promptIds: job.promptIds, model: job.model, maxTokens: job.maxTokens, sampling: job.sampling, n: job.n, constraint: job.constraint, payer: prepared.payer, stop: job.stop, signal: controller.signal, requestId: job.id });
    for await (const event of events) {
      const c = choices[event.choice];
      if (event.type === 'delta') {
        c.text += event.text;
        c.tokens.push(...event.tokens);
        if (job.stream) send(format.chunks(job, created, { choice: event.choice, text: event.text, tokens: event.tokens }));
      } else {
        c.finish = event.forced && event.finishReason === 'stop' ? 'forced' : event.finishReason;
        c.usage = event.usage.completionTokens;
        if (event.timings.firstTokenMs !== null) ctx.metrics.firstTokenSeconds.observe(event.timings.firstTokenMs / 1000);
        // A streamed choice says how it ended as soon as it does (a cancelled one only if the request timed out).
        if (job.stream && !(c.finish === 'cancelled' && !timedOut())) send(format.chunks(job, created, { choice: event.choice, finish: finishOf(c.finish) }));
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
  // Every token of every choice is charged; the prompt once.
  const usage: Usage = { promptTokens: job.promptIds.length, completionTokens: choices.reduce((s, c) => s + c.usage, 0) };
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
    writeEvent(reply, { id: job.id, object: job.route === 'chat' ? 'chat.completion.chunk' : 'text_completion', created, model: job.model.name, choices: [], usage: usageJson(usage), receipt: receipt && receiptToJson(receipt) });
    reply.raw.write('data: [DONE]\n\n');
    reply.raw.end();
    return;
  }
  if (receipt) void reply.header('x-openlora-receipt', Buffer.from(JSON.stringify(receiptToJson(receipt))).toString('base64'));
  await reply.send(format.response(job, created, { choices: choices.map((c) => ({ index: c.index, text: c.text, tokens: c.tokens, finish: finishOf(c.finish) })), usage }));
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
