import { BaseError } from '../errors.ts';
import type { ReceiptJson } from './lanes.ts';

/**
 * A node's receipt or claim disagrees with what the payer can check (not signed by the node, for a
 * request this payer never sent, over the request's bounds, a charged total no receipts support);
 * the client stops paying that node.
 */
export class ReceiptMismatchError extends BaseError {
  override name: string = 'ReceiptMismatchError';
  constructor(problem: string, node: string, code = 'OPENLORA_CLIENT_RECEIPT_MISMATCH') {
    super(code, `Refusing to pay node ${node}: ${problem}.`, {
      hint: 'The node charged something its own receipts do not support. Stop using it; keep the receipts as evidence (the network can slash equivocation).',
      meta: { node },
    });
  }
}

/** The node signed two different receipts with one seq: `proveEquivocation({ a, b, ... })` slashes it. */
export class NodeEquivocatedError extends ReceiptMismatchError {
  override name = 'NodeEquivocatedError' as const;
  readonly a: ReceiptJson;
  readonly b: ReceiptJson;
  constructor(node: string, a: ReceiptJson, b: ReceiptJson) {
    super(`it signed two different receipts with seq ${a.receipt.seq}`, node, 'OPENLORA_CLIENT_NODE_EQUIVOCATED');
    this.a = a;
    this.b = b;
  }
}

/** The node asks more than the payer's `maxPrice`. */
export class PriceAboveMaxError extends BaseError {
  override name = 'PriceAboveMaxError' as const;
  constructor(model: string, price: { inputPer1k: bigint; outputPer1k: bigint }, max: { inputPer1k: bigint; outputPer1k: bigint }) {
    super('OPENLORA_CLIENT_PRICE_ABOVE_MAX', `The node's price for ${model} (${price.inputPer1k} input / ${price.outputPer1k} output per 1k tokens) is above maxPrice (${max.inputPer1k} / ${max.outputPer1k}).`, {
      hint: 'Use another node, or raise maxPrice in createPaidClient.',
      meta: { model },
    });
  }
}

/** The node refused payment in a way the client cannot fix by signing a voucher. */
export class PaymentRefusedError extends BaseError {
  override name = 'PaymentRefusedError' as const;
  readonly payment: Record<string, unknown>;
  constructor(reason: string, message: string, payment: Record<string, unknown>) {
    super('OPENLORA_CLIENT_PAYMENT_REFUSED', `The node refused payment (${reason}): ${message}`, { hint: 'See `payment` for the node\'s requirements; top the channel up or open a new one.' });
    this.payment = payment;
  }
}

/**
 * The SDK's refusal as the HTTP response an OpenAI client understands (status and OpenAI error
 * body), so `openai` raises an `APIError` with the reason instead of "Connection error".
 */
export function errorResponse(error: BaseError, status: number): Response {
  const type = status === 402 ? 'payment_required' : status >= 500 ? 'server_error' : 'invalid_request_error';
  const body = { error: { message: error.shortMessage, type, param: null, code: error.code, hint: error.hint, ...(error instanceof NodeEquivocatedError ? { equivocation: { a: error.a, b: error.b } } : {}) } };
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', 'x-openlora-client-error': error.code } });
}
