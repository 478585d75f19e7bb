/**
 * Teacher-forced scoring of token sequences under the base model and under base + adapter, through
 * the scheduler's `score` requests. In `shared` mode each sequence's base and adapter requests are
 * queued together, so their rows run in the same engine steps (one SGMV batch: base rows with slot
 * -1, adapter rows with the adapter's slot); `two-pass` scores every base row first, then every
 * adapter row (the comparison the benchmark reports).
 */
import type { Scheduler } from '../scheduler/scheduler.ts';
import type { GenerationEvent, GenerationRequest } from '../scheduler/types.ts';
import { AttributionInputError } from './errors.ts';

/** Parameters of {@link scoreBaseAndAdapter}. */
export interface ScoreBaseAndAdapterParameters {
  scheduler: Scheduler;
  /** Content id of an adapter the scheduler's residency manager can load. */
  adapterId: string;
  /** Token sequences; every token after the first is scored. */
  sequences: readonly (readonly number[])[];
  /** Default `shared`. */
  mode?: 'shared' | 'two-pass';
  /** Called after each finished request with (finished, total). */
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

/** Summed negative log-likelihood (nats, float64 sums of f32 log-probs in token order) per sequence. */
export interface ScoreBaseAndAdapterReturnType {
  base: number[];
  adapter: number[];
}

const GREEDY = { temperature: 0, topK: 0, topP: 1, seed: 0 };

async function nll(stream: AsyncIterable<GenerationEvent>, expected: number): Promise<number> {
  for await (const event of stream) {
    if (event.type !== 'done') continue;
    if (event.finishReason !== 'stop' || !event.scores || event.scores.length !== expected) {
      throw new AttributionInputError(`A scoring request ended with ${event.finishReason} and ${event.scores?.length ?? 0} scores for ${expected} tokens.`);
    }
    let sum = 0;
    for (let i = 0; i < event.scores.length; i++) sum -= event.scores[i];
    return sum;
  }
  throw new AttributionInputError('A scoring request ended without a result.');
}

/** Scores every sequence under the base model and under the adapter. */
export async function scoreBaseAndAdapter(p: ScoreBaseAndAdapterParameters): Promise<ScoreBaseAndAdapterReturnType> {
  const total = p.sequences.length * 2;
  let done = 0;
  const submit = (tokens: readonly number[], adapterId: string | null): Promise<number> => {
    if (tokens.length < 2) throw new AttributionInputError(`A sequence of ${tokens.length} token(s) has nothing to score.`);
    const request: GenerationRequest = { promptIds: tokens, kind: 'score', maxTokens: 0, sampling: GREEDY, adapterId, signal: p.signal };
    return nll(p.scheduler.submit(request), tokens.length - 1).then((v) => {
      p.onProgress?.(++done, total);
      return v;
    });
  };
  if ((p.mode ?? 'shared') === 'shared') {
    const pairs = p.sequences.map((s) => [submit(s, null), submit(s, p.adapterId)] as const);
    const base = await Promise.all(pairs.map((x) => x[0]));
    const adapter = await Promise.all(pairs.map((x) => x[1]));
    return { base, adapter };
  }
  const base = await Promise.all(p.sequences.map((s) => submit(s, null)));
  const adapter = await Promise.all(p.sequences.map((s) => submit(s, p.adapterId)));
  return { base, adapter };
}
