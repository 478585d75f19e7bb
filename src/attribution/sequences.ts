/**
 * Turns a contribution's tokens into the sequences that are scored. With a BOS token every text
 * token is scored (`[BOS, t0, t1, ...]`); without one the first token of each window is context
 * only. Texts longer than the context are cut into consecutive windows, each scored on its own.
 */

/** Parameters of {@link contributionSequences}. */
export interface ContributionSequencesParameters {
  tokens: readonly number[];
  bosTokenId?: number;
  /** Longest sequence the engine runs. */
  maxContext: number;
}

/** The windows of one contribution and how many of its tokens they score. */
export function contributionSequences(p: ContributionSequencesParameters): { sequences: number[][]; scoredTokens: number } {
  const sequences: number[][] = [];
  let scoredTokens = 0;
  const bos = p.bosTokenId;
  const width = bos === undefined ? p.maxContext : p.maxContext - 1;
  for (let start = 0; start < p.tokens.length; start += width) {
    const window = p.tokens.slice(start, start + width);
    const seq = bos === undefined ? window : [bos, ...window];
    if (seq.length < 2) continue;
    sequences.push(seq);
    scoredTokens += seq.length - 1;
  }
  return { sequences, scoredTokens };
}
