import type { FastifyPluginAsync } from 'fastify';
import type { ApiContext } from '../context.ts';
import { newRequestId, stopsOf, prepareCompletion, runCompletion, usageJson, type CompletionFormat } from '../completion.ts';
import { checkFields, samplingOf, unsupported } from '../requestFields.ts';
import { CompletionRequest } from '../schemas.ts';
import type { GeneratedToken } from '../../serving/inference.ts';

/** Legacy logprobs: tokens, their logprobs, their offsets in the choice's text, and (`logprobs: k`) the k most likely tokens each. */
function logprobsJson(ctx: ApiContext, tokens: readonly GeneratedToken[], offset: number, top: number) {
  const offsets: number[] = [];
  let at = offset;
  for (const t of tokens) {
    offsets.push(at);
    at += t.text.length;
  }
  const tops = top > 0 ? tokens.map((t) => Object.fromEntries((t.top ?? []).map((a) => [ctx.inference.tokenPiece(a.id).text, a.logprob]))) : null;
  return { tokens: tokens.map((t) => t.text), token_logprobs: tokens.map((t) => t.logprob), top_logprobs: tops, text_offset: offsets };
}

/** `POST /v1/completions` (legacy text completions; `prompt` may be text or token ids). */
export function completionRoutes(ctx: ApiContext): FastifyPluginAsync {
  return async (app) => {
    app.post('/v1/completions', { schema: { body: CompletionRequest, tags: ['inference'], summary: 'Text completion (OpenAI-compatible)' } }, async (request, reply) => {
      const body = request.body as CompletionRequest;
      checkFields(body as Record<string, unknown>, 'completions');
      if (body.echo === true) throw unsupported('echo', 'echoing the prompt is not supported');
      if (body.best_of != null && body.best_of > 1) throw unsupported('best_of', 'best_of above 1 is not supported; send n for several choices');
      if (body.suffix) throw unsupported('suffix', 'insertion (a suffix) is not supported');
      const prompt = Array.isArray(body.prompt) && typeof body.prompt[0] === 'string' ? (body.prompt[0] as string) : (body.prompt as string | number[]);
      const wantLogprobs = body.logprobs === true || typeof body.logprobs === 'number';
      const top = typeof body.logprobs === 'number' ? body.logprobs : 0;
      const sampling = samplingOf(body, ctx.inference.vocabSize, top);
      const n = body.n ?? 1;
      const chars = typeof prompt === 'string' ? prompt.length : 0;
      const prepared = await prepareCompletion(ctx, request, { chars, tokenize: () => ctx.inference.promptIds({ prompt }) }, body.max_tokens ?? 16, n);
      const streamed = Array.from({ length: n }, () => 0);
      const format: CompletionFormat = {
        chunks: (job, created, d) => {
          const lp = wantLogprobs && d.tokens ? logprobsJson(ctx, d.tokens, streamed[d.choice], top) : null;
          streamed[d.choice] += d.text?.length ?? 0;
          return [{ id: job.id, object: 'text_completion', created, model: job.model.name, choices: [{ index: d.choice, text: d.text ?? '', logprobs: lp, finish_reason: d.finish ?? null }] }];
        },
        response: (job, created, r) => ({
          id: job.id,
          object: 'text_completion',
          created,
          model: job.model.name,
          choices: r.choices.map((c) => ({ index: c.index, text: c.text, logprobs: wantLogprobs ? logprobsJson(ctx, c.tokens, 0, top) : null, finish_reason: c.finish })),
          usage: usageJson(r.usage),
        }),
      };
      const stop = stopsOf(body.stop);
      await runCompletion(
        ctx,
        request,
        reply,
        { route: 'completions', id: newRequestId('cmpl'), model: prepared.model, promptIds: prepared.promptIds, maxTokens: prepared.maxTokens, sampling, n, stop, stream: body.stream === true, includeUsage: body.stream_options?.include_usage === true, nonce: prepared.nonce },
        format,
        prepared,
      );
    });
  };
}
