import { BaseError } from '../errors.ts';

/** Missing or unknown API key (HTTP 401). */
export class PaymentUnauthorizedError extends BaseError {
  override name = 'PaymentUnauthorizedError' as const;
  constructor(reason: string) {
    super('OPENLORA_PAYMENT_UNAUTHORIZED', reason, { hint: 'Send `Authorization: Bearer <api key>` with a key the node operator issued.' });
  }
}
