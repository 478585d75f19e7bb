import type { FastifyPluginAsync } from 'fastify';
import Type, { type Static } from 'typebox';
import type { Hex } from 'viem';
import { parseVoucher } from '../../payments/voucher.ts';
import type { ApiContext } from '../context.ts';
import { ApiError } from '../errors.ts';

const VoucherBody = Type.Object({
  channelId: Type.String(),
  adapterId: Type.String(),
  cumulativeAmount: Type.String(),
  signature: Type.String(),
});
const PaymentQuery = Type.Object({
  model: Type.Optional(Type.String({ minLength: 1 })),
  channel: Type.Optional(Type.String({ pattern: '^0x[0-9a-fA-F]{64}$', description: "With model: also the lane's state and the payer's latest voucher" })),
});

/** `POST /v1/vouchers` (pay without a request: the tail) and `GET /v1/payment` (requirements). */
export function paymentRoutes(ctx: ApiContext): FastifyPluginAsync {
  return async (app) => {
    const paid = () => {
      if (!ctx.paid) throw new ApiError({ status: 404, code: 'OPENLORA_API_NOT_PAID', message: 'This node runs in open mode: there is nothing to pay.', hint: 'Use an API key instead.' });
      return ctx.paid;
    };
    app.post('/v1/vouchers', { schema: { body: VoucherBody, tags: ['payments'], summary: 'Submit a voucher without a request' } }, async (request) => {
      const gate = paid();
      const sv = parseVoucher(request.body as Static<typeof VoucherBody>, gate.requirements(null));
      return gate.acceptVoucher(sv);
    });
    app.get('/v1/payment', { schema: { querystring: PaymentQuery, tags: ['payments'], summary: 'Payment requirements of a model' } }, async (request) => {
      const gate = paid();
      const { model, channel } = request.query as Static<typeof PaymentQuery>;
      const resolved = ctx.inference.resolve(model ?? ctx.inference.baseModelName);
      const out = gate.requirements(resolved);
      // Read from the ledger, nothing kept: the payer checks its own signature on `lane.voucher`.
      if (channel) out.lane = gate.laneView(channel.toLowerCase() as Hex, resolved.laneId);
      return out;
    });
  };
}
