import type { FastifyPluginAsync } from 'fastify';
import type { ApiContext } from '../context.ts';

/** `GET /health` and `GET /metrics` (Prometheus text). */
export function healthRoutes(ctx: ApiContext): FastifyPluginAsync {
  return async (app) => {
    app.get('/health', { schema: { tags: ['operations'], summary: 'Liveness and load' }, config: { rateLimit: false } }, async () => {
      const s = ctx.scheduler.stats();
      return { status: 'ok', uptime_s: Math.round((Date.now() - ctx.startedAt) / 1000), model: ctx.inference.baseModelName, payment_mode: ctx.gate.mode, node: ctx.issuer.node, queue: { waiting: s.waiting, running: s.running }, kv_blocks: { total: s.kvBlocksTotal, free: s.kvBlocksFree } };
    });
    app.get('/metrics', { schema: { hide: true }, config: { rateLimit: false } }, async (_request, reply) => {
      ctx.metrics.refresh();
      void reply.header('content-type', ctx.metrics.registry.contentType);
      return ctx.metrics.registry.metrics();
    });
  };
}
