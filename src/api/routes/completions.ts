import type { FastifyPluginAsync } from 'fastify';
import type { ApiContext } from '../context.ts';
import { newRequestId, prepareCompletion, runCompletion, samplingOf, usageJson, type CompletionFormat } from '../completion.ts';
import { CompletionRequest } from '../schemas.ts';
import type { GeneratedToken } from '../../serving/inference.ts';

function logprobsJson(tokens: readonly GeneratedToken[], offset: number) {
  const offsets: number[] = [];
  let at = offset;
  for (const t of tokens) {
    offsets.push(at);
    at += t.text.length;
  }
  return { tokens: tokens.map((t) => t.text), token_logprobs: tokens.map((t) => t.logprob), top_logprobs: null, text_offset: offsets };
}

/** `POST /v1/completions` (legacy text completions; `prompt` may be text or token ids). */
export function completionRoutes(ctx: ApiContext): FastifyPluginAsync {
  return async (app) => {
    app.post('/v1/completions', { schema: { body: CompletionRequest, tags: ['inference'], summary: 'Text completion (OpenAI-compatible)' } }, async (request, reply) => {
      const body = request.body as CompletionRequest;
      const prompt = Array.isArray(body.prompt) && typeof body.prompt[0] === 'string' ? (body.prompt[0] as string) : (body.prompt as string | number[]);
      const chars = typeof prompt === 'string' ? prompt.length : 0;
      const { model, promptIds, maxTokens, nonce, auth } = await prepareCompletion(ctx, request, { chars, tokenize: () => ctx.inference.promptIds({ prompt }) }, body.max_tokens ?? 16);
      const wantLogprobs = body.logprobs === true || body.logprobs === 0;
      let streamed = 0;
      const format: CompletionFormat = {
        chunk: (job, created, d) => {
          const lp = wantLogprobs && d.tokens ? logprobsJson(d.tokens, streamed) : null;
          streamed += d.text?.length ?? 0;
          return { id: job.id, object: 'text_completion', created, model: job.model.name, choices: [{ index: 0, text: d.text ?? '', logprobs: lp, finish_reason: d.finish ?? null }] };
        },
        response: (job, created, r) => ({
          id: job.id,
          object: 'text_completion',
          created,
          model: job.model.name,
          choices: [{ index: 0, text: r.text, logprobs: wantLogprobs ? logprobsJson(r.tokens, 0) : null, finish_reason: r.finish }],
          usage: usageJson(r.usage),
        }),
      };
      const stop = body.stop === undefined || body.stop === null ? [] : typeof body.stop === 'string' ? [body.stop] : body.stop;
      await runCompletion(ctx, request, reply, { route: 'completions', id: newRequestId('cmpl'), model, promptIds, maxTokens, sampling: samplingOf(body), stop, stream: body.stream === true, nonce }, format, auth);
    });
  };
}
