import { BaseError } from '../errors.ts';

/** Missing or unknown API key (HTTP 401). */
export class PaymentUnauthorizedError extends BaseError {
  override name = 'PaymentUnauthorizedError' as const;
  constructor(reason: string) {
    super('OPENLORA_PAYMENT_UNAUTHORIZED', reason, { hint: 'Send `Authorization: Bearer <api key>` with a key the node operator issued.' });
  }
}

/** Why a paid request was refused (HTTP 402). */
export type PaymentRefusal =
  | 'voucher_missing'
  | 'voucher_malformed'
  | 'wrong_lane'
  | 'unknown_channel'
  | 'wrong_node'
  | 'bad_signature'
  | 'stale_voucher'
  | 'credit_exhausted'
  | 'channel_credit_exhausted'
  | 'balance_exhausted'
  | 'withdrawing';

/** HTTP 402: the request needs a (newer) voucher; `body.payment` says what to pay and where. */
export class PaymentRequiredError extends BaseError {
  override name = 'PaymentRequiredError' as const;
  readonly reason: PaymentRefusal;
  readonly body: { payment: Record<string, unknown> };
  constructor(reason: PaymentRefusal, message: string, hint: string, requirements: Record<string, unknown>) {
    super('OPENLORA_PAYMENT_REQUIRED', message, { hint, meta: { reason } });
    this.reason = reason;
    this.body = { payment: { reason, ...requirements } };
  }
}

/** The chain cannot be read and nothing about the channel is cached (HTTP 503). */
export class PaymentChainUnavailableError extends BaseError {
  override name = 'PaymentChainUnavailableError' as const;
  constructor(channelId: string, cause: unknown) {
    super('OPENLORA_PAYMENT_CHAIN_UNAVAILABLE', `The node cannot read channel ${channelId} from the chain right now.`, {
      cause,
      details: (cause as Error)?.message,
      hint: 'Retry shortly; the node operator should check chain.rpcUrl.',
    });
  }
}

/** Too many reads of channels the node does not know yet (HTTP 429): a flood of made-up channel ids costs the RPC a bounded rate. */
export class PaymentLookupsLimitedError extends BaseError {
  override name = 'PaymentLookupsLimitedError' as const;
  readonly retryAfterMs: number;
  constructor(channelId: string, retryAfterMs: number) {
    super('OPENLORA_PAYMENT_LOOKUPS_LIMITED', `The node is reading too many new channels from the chain right now; channel ${channelId} is not known yet.`, {
      hint: 'Retry after the Retry-After delay; channels the node already knows are served meanwhile.',
      meta: { channelId },
    });
    this.retryAfterMs = retryAfterMs;
  }
}

/** `openlora claim --credits` found no credit in PaymentChannels nor NodeRegistry. */
export class CreditsNothingToWithdrawError extends BaseError {
  override name = 'CreditsNothingToWithdrawError' as const;
  constructor(address: string) {
    super('OPENLORA_PAYMENTS_NOTHING_TO_WITHDRAW', `Nothing to withdraw for ${address}: its PaymentChannels and NodeRegistry credits are 0.`, {
      hint: 'Credits accrue when a node settles lanes (node operator, adapter owner) or a slash pays a prover; see `openlora rewards ADDRESS`.',
      meta: { address },
    });
  }
}

/** Withdrawing credits needs the account's key. */
export class CreditsWalletRequiredError extends BaseError {
  override name = 'CreditsWalletRequiredError' as const;
  constructor() {
    super('OPENLORA_PAYMENTS_KEY_REQUIRED', 'Withdrawing credits sends transactions and needs the credited account\'s key.', { hint: 'Pass --key-file FILE of the node operator, adapter owner or prover.' });
  }
}
