import type { FastifyPluginAsync } from 'fastify';
import type { ChatMessage } from '../../model/tokenizer.ts';
import type { ApiContext } from '../context.ts';
import { newRequestId, prepareCompletion, runCompletion, samplingOf, usageJson, type CompletionFormat } from '../completion.ts';
import { ChatCompletionRequest } from '../schemas.ts';
import type { GeneratedToken } from '../../serving/inference.ts';

function logprobsJson(tokens: readonly GeneratedToken[]) {
  return { content: tokens.map((t) => ({ token: t.text, logprob: t.logprob, bytes: [...Buffer.from(t.text)], top_logprobs: [] })), refusal: null };
}

/** `POST /v1/chat/completions`. */
export function chatRoutes(ctx: ApiContext): FastifyPluginAsync {
  return async (app) => {
    app.post('/v1/chat/completions', { schema: { body: ChatCompletionRequest, tags: ['inference'], summary: 'Chat completion (OpenAI-compatible)' } }, async (request, reply) => {
      const body = request.body as ChatCompletionRequest;
      const messages: ChatMessage[] = body.messages.map((m) => ({
        role: m.role === 'developer' ? 'system' : m.role,
        content: typeof m.content === 'string' ? m.content : m.content.map((p) => p.text).join(''),
      }));
      const chars = messages.reduce((n, m) => n + m.content.length, 0);
      const { model, promptIds, maxTokens, nonce, auth } = await prepareCompletion(ctx, request, { chars, tokenize: () => ctx.inference.promptIds({ messages }) }, body.max_completion_tokens ?? body.max_tokens);
      const wantLogprobs = body.logprobs === true;
      const format: CompletionFormat = {
        chunk: (job, created, d) => ({
          id: job.id,
          object: 'chat.completion.chunk',
          created,
          model: job.model.name,
          choices: [
            {
              index: 0,
              delta: d.finish ? {} : { ...(d.first ? { role: 'assistant' } : {}), content: d.text ?? '' },
              logprobs: wantLogprobs && d.tokens ? logprobsJson(d.tokens) : null,
              finish_reason: d.finish ?? null,
            },
          ],
        }),
        response: (job, created, r) => ({
          id: job.id,
          object: 'chat.completion',
          created,
          model: job.model.name,
          choices: [{ index: 0, message: { role: 'assistant', content: r.text, refusal: null }, logprobs: wantLogprobs ? logprobsJson(r.tokens) : null, finish_reason: r.finish }],
          usage: usageJson(r.usage),
        }),
      };
      const stop = body.stop === undefined || body.stop === null ? [] : typeof body.stop === 'string' ? [body.stop] : body.stop;
      await runCompletion(ctx, request, reply, { route: 'chat', id: newRequestId('chatcmpl'), model, promptIds, maxTokens, sampling: samplingOf(body), stop, stream: body.stream === true, nonce }, format, auth);
    });
  };
}
