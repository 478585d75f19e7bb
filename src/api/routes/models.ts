import type { FastifyPluginAsync } from 'fastify';
import type { ApiContext } from '../context.ts';

/** `GET /v1/models`: the base model and every registered adapter. */
export function modelRoutes(ctx: ApiContext): FastifyPluginAsync {
  return async (app) => {
    app.get('/v1/models', { schema: { tags: ['inference'], summary: 'Base model and adapters' } }, async () => {
      const created = Math.floor(ctx.startedAt / 1000);
      return {
        object: 'list',
        data: [
          { id: ctx.inference.baseModelName, object: 'model', created, owned_by: 'openlora', openlora: { kind: 'base', context_length: ctx.inference.contextLength } },
          ...ctx.adapters.list().map((a) => ({
            id: a.name,
            object: 'model',
            created,
            owned_by: 'openlora',
            openlora: {
              kind: 'adapter',
              adapter_id: a.laneId,
              content_id: a.id,
              rank: a.rank,
              targets: a.targets,
              resident: a.resident,
              price: { input_per_1k: a.price.inputPer1k.toString(), output_per_1k: a.price.outputPer1k.toString() },
            },
          })),
        ],
      };
    });
  };
}
