/**
 * The request fields of both completion endpoints that are not plain sampling: refusals by name
 * for what openlora does not do, and the sampling parameters as the scheduler takes them.
 */
import type { RequestSampling } from '../scheduler/types.ts';
import { ChatCompletionRequest, CompletionRequest } from './schemas.ts';
import { ApiError } from './errors.ts';

const KNOWN = { chat: new Set(Object.keys(ChatCompletionRequest.properties)), completions: new Set(Object.keys(CompletionRequest.properties)) };

/** OpenAI fields openlora does not implement: allowed when a value asks for nothing (returns true), else why it is refused. */
const REFUSED: Record<'chat' | 'completions', Record<string, (v: unknown) => true | string>> = {
  chat: {
    audio: () => 'audio output is not supported: the node answers in text',
    modalities: (v) => (Array.isArray(v) && v.length === 1 && v[0] === 'text') || 'only ["text"] is supported',
    prediction: () => 'predicted outputs are not supported',
    web_search_options: () => 'web search is not supported',
    functions: () => 'the deprecated functions field is not supported; send tools',
    function_call: () => 'the deprecated function_call field is not supported; send tool_choice',
    reasoning_effort: () => 'this node serves no reasoning model',
    reasoning: () => 'this node serves no reasoning model',
    verbosity: () => 'this node has no verbosity setting',
    service_tier: (v) => v === 'auto' || v === 'default' || 'the node has one tier: send "auto" or "default"',
    store: (v) => v === false || 'the node stores no completions',
  },
  completions: {},
};

/** Refuses, naming it, a field the endpoint does not take or cannot honour (null counts as absent). */
export function checkFields(body: Record<string, unknown>, route: 'chat' | 'completions'): void {
  for (const [key, value] of Object.entries(body)) {
    if (value === null || value === undefined) continue;
    const refusal = REFUSED[route][key];
    if (refusal) {
      const verdict = refusal(value);
      if (verdict === true) continue;
      throw unsupported(key, verdict);
    }
    if (!KNOWN[route].has(key)) throw unsupported(key, `it is not a parameter of ${route === 'chat' ? '/v1/chat/completions' : '/v1/completions'}`);
  }
  if (body.stream_options != null && body.stream !== true) throw unsupported('stream_options', 'it is only allowed when stream is true');
}

/** A 400 naming an unsupported parameter. */
export function unsupported(param: string, why: string): ApiError {
  return new ApiError({ status: 400, code: 'OPENLORA_API_UNSUPPORTED_PARAMETER', param, message: `Unsupported parameter '${param}': ${why}.`, hint: `Remove '${param}' from the request (docs/protocol.md lists what each endpoint takes).` });
}

/** Sampling fields shared by both endpoints. */
export interface SamplingFields {
  temperature?: number | null;
  top_p?: number | null;
  top_k?: number | null;
  seed?: number | null;
  presence_penalty?: number | null;
  frequency_penalty?: number | null;
  logit_bias?: Record<string, number> | null;
}

/** Resolves the sampling fields; `logit_bias` ids are checked against the vocabulary. */
export function samplingOf(body: SamplingFields, vocabSize: number, topLogprobs = 0): RequestSampling {
  const sampling: RequestSampling = {
    temperature: body.temperature ?? 1,
    topP: body.top_p ?? 1,
    topK: body.top_k ?? 0,
    seed: (body.seed ?? Math.floor(Math.random() * 2 ** 31)) >>> 0,
  };
  if (body.presence_penalty) sampling.presencePenalty = body.presence_penalty;
  if (body.frequency_penalty) sampling.frequencyPenalty = body.frequency_penalty;
  if (topLogprobs > 0) sampling.topLogprobs = topLogprobs;
  if (body.logit_bias && Object.keys(body.logit_bias).length > 0) {
    const bias = new Map<number, number>();
    for (const [key, value] of Object.entries(body.logit_bias)) {
      const id = Number(key);
      if (id >= vocabSize) throw new ApiError({ status: 400, code: 'OPENLORA_API_LOGIT_BIAS', param: 'logit_bias', message: `logit_bias names token ${id}, outside this model's vocabulary of ${vocabSize}.`, hint: 'Use token ids of this model\'s tokenizer.' });
      bias.set(id, value);
    }
    sampling.logitBias = bias;
  }
  return sampling;
}
