/** Prices of one model or adapter, token base units per 1,000 tokens (protocol.md, step 3). */
export interface Price {
  inputPer1k: bigint;
  outputPer1k: bigint;
}

/**
 * The charge for a request: `ceil((inputPer1k * promptTokens + outputPer1k * completionTokens) / 1000)`.
 * Rounding up keeps a 1-token request from being free; clients recompute it exactly to check receipts.
 */
export function charge(price: Price, usage: { promptTokens: number; completionTokens: number }): bigint {
  const total = price.inputPer1k * BigInt(usage.promptTokens) + price.outputPer1k * BigInt(usage.completionTokens);
  return (total + 999n) / 1000n;
}

/** The most a request can cost: its prompt and `maxTokens` completion tokens (the credit reserved before serving). */
export function ceiling(price: Price, promptTokens: number, maxTokens: number): bigint {
  return charge(price, { promptTokens, completionTokens: maxTokens });
}
