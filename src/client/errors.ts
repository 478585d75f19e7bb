import { BaseError } from '../errors.ts';

/** A node's receipt disagrees with what the client can check; the client stops paying that node. */
export class ReceiptMismatchError extends BaseError {
  override name = 'ReceiptMismatchError' as const;
  constructor(problem: string, node: string) {
    super('OPENLORA_CLIENT_RECEIPT_MISMATCH', `Refusing to pay node ${node}: ${problem}.`, {
      hint: 'The node charged something its own receipts do not support. Stop using it; keep the receipts as evidence (the network can slash equivocation).',
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
