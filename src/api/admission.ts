import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { PaymentAdmission, PaymentIdentity } from '../payments/gate.ts';
import type { ResolvedModel } from '../serving/inference.ts';
import type { ApiContext } from './context.ts';
import { ApiError } from './errors.ts';

/** A request's model and verified payer, found before its prompt is rendered or tokenized. */
export interface Admitted {
  model: ResolvedModel;
  admission: PaymentAdmission;
  /** Who pays: the scheduler shares the engine fairly between payers by it. */
  payer: string;
}

const identities = new WeakMap<FastifyRequest, Promise<PaymentIdentity>>();

/** Routes that are paid: their payer is verified from the headers before the body is read, and rate-limited by it. */
export const PAID_ROUTES: ReadonlySet<string> = new Set(['/v1/chat/completions', '/v1/completions']);

/**
 * Who pays for a paid-route request, from its headers alone (API key, voucher signature):
 * memoized per request, so the rate limiter (keyed on it), the refusal before the body is read
 * (401, 402) and the handler share one check.
 */
export function identityOf(ctx: ApiContext, request: FastifyRequest): Promise<PaymentIdentity> {
  let pending = identities.get(request);
  if (!pending) {
    pending = ctx.gate.identify(request.headers);
    pending.catch(() => undefined); // reported by the preParsing hook
    identities.set(request, pending);
  }
  return pending;
}

/** The request's model and its lane's cheap checks (wrong lane, stale voucher, no credit left): 404 or 402 before any tokenizing. */
export async function admit(ctx: ApiContext, request: FastifyRequest): Promise<Admitted> {
  const identity = await identityOf(ctx, request);
  const model = ctx.inference.resolve((request.body as { model: string }).model);
  return { model, admission: await identity.admit(model), payer: identity.rateKey ?? `ip:${request.ip}` };
}

/** The rate-limit key: the verified payer on paid routes (channel, API key), else the client address. */
export async function rateKeyOf(ctx: ApiContext, request: FastifyRequest): Promise<string> {
  if (PAID_ROUTES.has(request.routeOptions.url ?? '')) {
    const key = await identityOf(ctx, request).then((i) => i.rateKey, () => undefined);
    if (key) return key;
  }
  return `ip:${request.ip}`;
}

/**
 * Bodies above this many bytes are not drained after a refusal: the connection is closed instead.
 * Draining costs a buffer per chunk (a 1 MB flood's garbage stalls the event loop for 100+ ms); the
 * price is that such a client may see the connection reset while it still uploads, instead of the
 * 401/402 body. Smaller bodies are drained and always get the refusal's reason.
 */
const LARGE_BODY = 256 * 1024;

/**
 * Refuses an unpaid request before its body is read or parsed: a 1 MB prompt costs a header
 * check, and a large body's connection is closed rather than drained, so its bytes are never even buffered.
 */
export function installPaymentCheck(app: FastifyInstance, ctx: ApiContext): void {
  app.addHook('preParsing', async (request, reply) => {
    if (!PAID_ROUTES.has(request.routeOptions.url ?? '')) return;
    // A body the node cannot parse is refused next (415, as cheaply), saying which header to send.
    if (!/^application\/json\b/i.test(String(request.headers['content-type'] ?? ''))) return;
    try {
      await identityOf(ctx, request);
    } catch (error) {
      // A large body not yet read is not read at all: the connection closes after the refusal.
      if (!request.raw.complete && Number(request.headers['content-length'] ?? Infinity) > LARGE_BODY) void reply.header('connection', 'close');
      throw error;
    }
  });
}

/** Header carrying the client's request nonce: the receipt's `requestId` is its hash (docs/protocol.md). */
export const NONCE_HEADER = 'x-openlora-request-nonce';
const NONCE = /^[A-Za-z0-9._:-]{8,256}$/;

/**
 * The request's nonce, if the client sent one. A nonce names one request: a malformed one is a 400,
 * one already used (stored or in flight) a 409, both before any work.
 */
export function requestNonceOf(ctx: ApiContext, request: FastifyRequest, requestIdOf: (nonce: string) => `0x${string}`): string | undefined {
  const nonce = request.headers[NONCE_HEADER];
  if (nonce === undefined) return undefined;
  if (typeof nonce !== 'string' || !NONCE.test(nonce)) {
    throw new ApiError({ status: 400, code: 'OPENLORA_API_NONCE_INVALID', param: NONCE_HEADER, message: `The ${NONCE_HEADER} header must be 8 to 256 characters of A-Z a-z 0-9 . _ : -.`, hint: 'Send a fresh random nonce per request (the openlora client SDK does).' });
  }
  if (ctx.inflightNonces.has(nonce) || ctx.ledger.getByRequestId(requestIdOf(nonce))) {
    throw new ApiError({ status: 409, code: 'OPENLORA_API_NONCE_REUSED', param: NONCE_HEADER, message: `The request nonce ${nonce} was already used.`, hint: 'Send a fresh nonce with every request, retries included.' });
  }
  return nonce;
}
