import type { FastifyPluginAsync } from 'fastify';
import type { ApiContext } from '../context.ts';
import { ApiError } from '../errors.ts';

/**
 * `GET /v1/network/nodes?model=ADAPTER&limit=N`: nodes this node knows from gossip announcements
 * (itself included), best first for the adapter (id or name): residency, then load, then price.
 */
export function networkRoutes(ctx: ApiContext): FastifyPluginAsync {
  return async (app) => {
    app.get(
      '/v1/network/nodes',
      {
        schema: {
          tags: ['network'],
          summary: 'Known nodes ranked for an adapter',
          querystring: {
            type: 'object',
            properties: { model: { type: 'string', minLength: 1, maxLength: 128 }, limit: { type: 'integer', minimum: 1, maximum: 200, default: 20 } },
            additionalProperties: false,
          },
        },
      },
      async (request) => {
        if (!ctx.network) {
          throw new ApiError({ status: 404, code: 'OPENLORA_P2P_DISABLED', message: 'This node does not take part in the P2P network.', hint: 'Ask a node with p2p.enabled = true.' });
        }
        const q = request.query as { model?: string; limit?: number };
        return { object: 'list', data: ctx.network.routing.rank({ model: q.model, limit: q.limit ?? 20 }) };
      },
    );
  };
}
