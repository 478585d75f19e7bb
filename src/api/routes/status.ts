import type { FastifyPluginAsync } from 'fastify';
import { adminAuth } from '../adminAuth.ts';
import type { ApiContext } from '../context.ts';
import { MoneyStatusSchema, NetworkStatusSchema, NodeStatusSchema } from '../statusSchemas.ts';

/**
 * What the operator page reads: `GET /v1/node/status` (build, engine, live totals, adapters by
 * tier; public like `/metrics`), and behind the admin token `GET /admin/node/money` (lanes,
 * channels' credit, settlement, the node's credits and stake) and `GET /admin/node/network`.
 */
export function statusRoutes(ctx: ApiContext): FastifyPluginAsync {
  return async (app) => {
    app.get('/v1/node/status', { schema: { tags: ['operations'], summary: 'Build, engine, live totals and adapters by tier', response: { 200: NodeStatusSchema } } }, () => ctx.status.read());
    await app.register(async (admin) => {
      admin.addHook('onRequest', adminAuth(ctx));
      admin.get('/admin/node/money', { schema: { tags: ['admin'], summary: 'Lanes, channels\' credit in use, settlement, credits and stake', response: { 200: MoneyStatusSchema } } }, () => ctx.status.money());
      admin.get('/admin/node/network', { schema: { tags: ['admin'], summary: 'Peers, scores, gossip totals, known and flagged nodes', response: { 200: NetworkStatusSchema } } }, () => ctx.status.network());
    });
  };
}
