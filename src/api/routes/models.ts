import type { FastifyPluginAsync } from 'fastify';
import { zeroHash, type Hex } from 'viem';
import type { AnnouncedTerms, SplitTerms } from '../../chain/terms.ts';
import type { ApiContext } from '../context.ts';

const bps = (t: SplitTerms) => ({ protocol_fee_bps: t.protocolFeeBps, royalty_bps: t.royaltyBps, contributor_bps: t.contributorBps });

/**
 * The split terms a paid node serves a lane at (docs/protocol.md, "Split terms"): in force now, and
 * each announced change with its time; null while the node has not read them (it then refuses paid
 * requests on the lane).
 */
function termsJson(terms: AnnouncedTerms | undefined) {
  if (!terms) return null;
  return {
    registered: terms.registered,
    contributors_paid: terms.hasRoot,
    ...bps(terms.inForce),
    pending: terms.pending.map((p) => ({ effective_at: p.effectiveAt, ...bps(p.terms) })),
    read_at: terms.readAt,
  };
}

/** `GET /v1/models`: the base model and every registered adapter, with the split terms in paid mode. */
export function modelRoutes(ctx: ApiContext): FastifyPluginAsync {
  return async (app) => {
    app.get('/v1/models', { schema: { tags: ['inference'], summary: 'Base model and adapters' } }, async () => {
      const created = Math.floor(ctx.startedAt / 1000);
      const terms = (laneId: Hex) => (ctx.termsOf ? { terms: termsJson(ctx.termsOf(laneId)) } : {});
      return {
        object: 'list',
        data: [
          { id: ctx.inference.baseModelName, object: 'model', created, owned_by: 'openlora', openlora: { kind: 'base', context_length: ctx.inference.contextLength, ...terms(zeroHash) } },
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
              ...terms(a.laneId),
            },
          })),
        ],
      };
    });
  };
}
