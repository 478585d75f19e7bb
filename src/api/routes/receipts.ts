import type { FastifyPluginAsync } from 'fastify';
import type { Hex } from 'viem';
import { receiptToJson } from '../../payments/receipts.ts';
import type { ApiContext } from '../context.ts';
import { ReceiptsQuery } from '../schemas.ts';

/** `GET /v1/receipts`: this node's receipts by channel, payer, adapter and time, paginated by `after`. */
export function receiptRoutes(ctx: ApiContext): FastifyPluginAsync {
  return async (app) => {
    app.get('/v1/receipts', { schema: { querystring: ReceiptsQuery, tags: ['metering'], summary: 'Signed usage receipts' } }, async (request) => {
      const q = request.query as ReceiptsQuery;
      const page = ctx.ledger.list({
        channelId: q.channel as Hex | undefined,
        payer: q.payer,
        adapterId: q.adapter as Hex | undefined,
        from: q.from === undefined ? undefined : Number(q.from),
        to: q.to === undefined ? undefined : Number(q.to),
        after: q.after === undefined ? undefined : BigInt(q.after),
        limit: q.limit === undefined ? undefined : Number(q.limit),
      });
      return { object: 'list', data: page.receipts.map(receiptToJson), next: page.next?.toString() ?? null };
    });
  };
}
