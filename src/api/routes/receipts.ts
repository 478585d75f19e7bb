import type { FastifyPluginAsync } from 'fastify';
import type { Hex } from 'viem';
import { receiptToJson } from '../../payments/receipts.ts';
import type { ApiContext } from '../context.ts';
import Type from 'typebox';
import { ApiError } from '../errors.ts';
import { ReceiptsQuery } from '../schemas.ts';

/** `GET /v1/receipts`: this node's receipts by channel, payer, adapter and time, paginated by `after` (newest first with `order=desc`); `GET /v1/receipts/:seq`: one. */
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
        order: q.order,
      });
      return { object: 'list', data: page.receipts.map(receiptToJson), next: page.next?.toString() ?? null };
    });
    app.get('/v1/receipts/:seq', { schema: { params: Type.Object({ seq: Type.String({ pattern: '^[0-9]{1,19}$' }) }), tags: ['metering'], summary: 'One signed usage receipt by seq' } }, async (request) => {
      const seq = (request.params as { seq: string }).seq;
      const signed = ctx.ledger.get(BigInt(seq));
      if (!signed) throw new ApiError({ status: 404, code: 'OPENLORA_API_RECEIPT_NOT_FOUND', message: `This node has no receipt with seq ${seq}.`, hint: 'GET /v1/receipts?order=desc lists the newest.' });
      return receiptToJson(signed);
    });
  };
}
