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
            // Query strings are strings: the API's validator does not coerce types.
            properties: { model: { type: 'string', minLength: 1, maxLength: 128 }, limit: { type: 'string', pattern: '^(?:[1-9][0-9]?|1[0-9]{2}|200)$' } },
            additionalProperties: false,
          },
        },
      },
      async (request) => {
        if (!ctx.network) {
          throw new ApiError({ status: 404, code: 'OPENLORA_P2P_DISABLED', message: 'This node does not take part in the P2P network.', hint: 'Ask a node with p2p.enabled = true.' });
        }
        const q = request.query as { model?: string; limit?: string };
        return { object: 'list', data: ctx.network.routing.rank({ model: q.model, limit: q.limit === undefined ? 20 : Number(q.limit) }) };
      },
    );
  };
}
