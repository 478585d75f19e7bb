import cors from '@fastify/cors';
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { componentLogger } from '../log.ts';
import { installPaymentCheck, rateKeyOf } from './admission.ts';
import type { ApiContext } from './context.ts';
import { ApiError, installErrorHandler } from './errors.ts';
import { adminRoutes } from './routes/admin.ts';
import { chatRoutes } from './routes/chat.ts';
import { completionRoutes } from './routes/completions.ts';
import { healthRoutes } from './routes/health.ts';
import { modelRoutes } from './routes/models.ts';
import { networkRoutes } from './routes/network.ts';
import { receiptRoutes } from './routes/receipts.ts';
import { paymentRoutes } from './routes/payments.ts';
import { statusRoutes } from './routes/status.ts';
import { pageRoutes } from './routes/pages.ts';
import { attributionRoutes } from './routes/attribution.ts';

export interface ApiServerOptions {
  host: string;
  port: number;
  /** Largest request body, bytes. Default 1 MiB. */
  bodyLimit?: number;
  /** Requests per verified payer (channel whose voucher verified, API key; else client address) per window. Default 600 per minute. */
  rateLimit?: { max: number; timeWindowMs: number };
  /** Origins whose pages may call the API (CORS); `*` any. Default none. */
  corsOrigins?: readonly string[];
}

/** The node's HTTP server. */
export interface ApiServer {
  readonly app: FastifyInstance;
  /** Listens; resolves with the URL. */
  start(): Promise<string>;
  /** Stops accepting, lets requests in flight finish. */
  stop(): Promise<void>;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Builds the fastify app: OpenAI-compatible routes, receipts, health, metrics, admin, OpenAPI. */
export async function createApiServer(options: ApiServerOptions, context: Omit<ApiContext, 'inflightNonces'>): Promise<ApiServer> {
  const ctx: ApiContext = { ...context, inflightNonces: new Set() };
  const app = Fastify({
    loggerInstance: componentLogger(ctx.log, 'api') as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }), // per-request lines come from metrics, not logs
    bodyLimit: options.bodyLimit ?? 1024 * 1024,
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false } },
  });
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_request, body, done) => {
    let text: string;
    try {
      text = utf8.decode(body as Buffer);
    } catch {
      return done(new ApiError({ status: 400, code: 'OPENLORA_API_INVALID_UTF8', message: 'The request body is not valid UTF-8.', hint: 'Encode the JSON body as UTF-8.' }));
    }
    try {
      done(null, text.length === 0 ? undefined : JSON.parse(text));
    } catch (error) {
      done(new ApiError({ status: 400, code: 'OPENLORA_API_INVALID_JSON', message: `The request body is not valid JSON (${(error as Error).message}).`, hint: 'Send a JSON object with Content-Type: application/json.' }));
    }
  });
  installErrorHandler(app, ctx.log);
  if (options.corsOrigins?.length) {
    // dApps in browsers: they send vouchers (or API keys) and read the receipt header. Request
    // headers are allowed as asked (the openai client adds its own x-stainless-* headers).
    await app.register(cors, {
      origin: options.corsOrigins.includes('*') ? '*' : [...options.corsOrigins],
      methods: ['GET', 'POST'],
      exposedHeaders: ['x-openlora-receipt', 'retry-after'],
      maxAge: 600,
    });
  }
  await app.register(swagger, {
    openapi: { info: { title: 'openlora node API', version: '1', description: 'OpenAI-compatible inference over many LoRA adapters, with signed usage receipts.' } },
  });
  await app.register(rateLimit, {
    max: options.rateLimit?.max ?? 600,
    timeWindow: options.rateLimit?.timeWindowMs ?? 60_000,
    // Paid routes count against the payer their voucher or API key proves (checked from the headers),
    // never against a header the client picks; anything unverified counts against its address.
    hook: 'onRequest',
    keyGenerator: (request) => rateKeyOf(ctx, request),
    errorResponseBuilder: (_request, context) =>
      new ApiError({ status: 429, code: 'OPENLORA_API_RATE_LIMITED', message: `Rate limit: at most ${context.max} requests per ${context.after}.`, hint: `Retry after ${Math.ceil(context.ttl / 1000)} s.`, headers: { 'retry-after': String(Math.ceil(context.ttl / 1000)) } }),
  });
  installPaymentCheck(app, ctx);
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unknown';
    ctx.metrics.requests.inc({ route, status: String(reply.statusCode) });
  });
  await app.register(chatRoutes(ctx));
  await app.register(completionRoutes(ctx));
  await app.register(modelRoutes(ctx));
  await app.register(receiptRoutes(ctx));
  await app.register(paymentRoutes(ctx));
  await app.register(healthRoutes(ctx));
  await app.register(adminRoutes(ctx));
  await app.register(networkRoutes(ctx));
  await app.register(statusRoutes(ctx));
  await app.register(attributionRoutes(ctx));
  await app.register(pageRoutes(ctx));
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  return {
    app,
    async start() {
      const address = await app.listen({ host: options.host, port: options.port });
      return address.replace('[::1]', '127.0.0.1');
    },
    async stop() {
      await app.close();
    },
  };
}
