import type { FastifyPluginAsync } from 'fastify';
import type { ApiContext } from '../context.ts';
import { newRequestId, stopsOf, prepareCompletion, runCompletion, usageJson, type CompletionFormat } from '../completion.ts';
import { checkFields, samplingOf } from '../requestFields.ts';
import { ChatCompletionRequest } from '../schemas.ts';
import type { GeneratedToken } from '../../serving/inference.ts';
import { ToolCallParser, type ToolCallDelta } from '../../serving/toolCalls.ts';
import { chatTurnsOf, grammarOf, type ChatGrammar } from '../chatRequest.ts';
import { ApiError } from '../errors.ts';

/** `/v1/chat/completions` logprobs: each token with its bytes and, when asked, the most likely alternatives. */
function logprobsJson(ctx: ApiContext, tokens: readonly GeneratedToken[]) {
  // `token` is the text the token completes (a byte of an unfinished character completes none); `bytes` the token's own.
  const entry = (id: number, logprob: number, text?: string) => {
    const piece = ctx.inference.tokenPiece(id);
    return { token: text ?? piece.text, logprob, bytes: piece.bytes };
  };
  return { content: tokens.map((t) => ({ ...entry(t.id, t.logprob, t.text), top_logprobs: (t.top ?? []).map((a) => entry(a.id, a.logprob)) })), refusal: null };
}

/** A chat chunk's delta for what the tool-call parser read. */
function deltaJson(d: ToolCallDelta) {
  if (d.kind === 'content') return { content: d.text };
  if (d.kind === 'call') return { tool_calls: [{ index: d.index, id: d.id, type: 'function', function: { name: d.name, arguments: '' } }] };
  return { tool_calls: [{ index: d.index, function: { arguments: d.text } }] };
}

/** `POST /v1/chat/completions`. */
export function chatRoutes(ctx: ApiContext): FastifyPluginAsync {
  return async (app) => {
    app.post('/v1/chat/completions', { schema: { body: ChatCompletionRequest, tags: ['inference'], summary: 'Chat completion (OpenAI-compatible)' } }, async (request, reply) => {
      const body = request.body as ChatCompletionRequest;
      checkFields(body as Record<string, unknown>, 'chat');
      const wantLogprobs = body.logprobs === true;
      const topLogprobs = body.top_logprobs ?? 0;
      if (topLogprobs > 0 && !wantLogprobs) throw new ApiError({ status: 400, code: 'OPENLORA_API_INVALID_REQUEST', param: 'top_logprobs', message: 'top_logprobs needs logprobs: true.', hint: 'Send logprobs: true with top_logprobs.' });
      const sampling = samplingOf(body, ctx.inference.vocabSize, topLogprobs);
      const { turns, chars } = chatTurnsOf(body.messages);
      const n = body.n ?? 1;
      let grammar: ChatGrammar = {};
      const prompt = { chars: chars + JSON.stringify(body.tools ?? []).length, tokenize: () => ctx.inference.promptIds({ messages: turns, tools: grammar.promptTools }) };
      const prepared = await prepareCompletion(ctx, request, prompt, body.max_completion_tokens ?? body.max_tokens, n, () => {
        grammar = grammarOf(ctx, body);
      });
      const toolMode = grammar.toolMode;
      const parsers = Array.from({ length: n }, () => (toolMode ? new ToolCallParser(toolMode) : undefined));
      const started = new Set<number>();
      const chunk = (job: { id: string; model: { name: string } }, created: number, choice: number, delta: object, tokens: readonly GeneratedToken[] | undefined, finish: string | null) => {
        const first = !started.has(choice);
        started.add(choice);
        return { id: job.id, object: 'chat.completion.chunk', created, model: job.model.name, choices: [{ index: choice, delta: { ...(first ? { role: 'assistant' } : {}), ...delta }, logprobs: wantLogprobs && tokens ? logprobsJson(ctx, tokens) : null, finish_reason: finish }] };
      };
      const format: CompletionFormat = {
        chunks: (job, created, d) => {
          const parser = parsers[d.choice];
          if (d.finish) {
            const held = parser ? parser.finish().map((x) => chunk(job, created, d.choice, deltaJson(x), undefined, null)) : [];
            const reason = parser?.isCalls && (d.finish === 'stop' || parser.complete) ? 'tool_calls' : d.finish;
            return [...held, chunk(job, created, d.choice, {}, undefined, reason)];
          }
          if (!parser) return [chunk(job, created, d.choice, { content: d.text ?? '' }, d.tokens, null)];
          const deltas = parser.push(d.text ?? '');
          // Tokens' logprobs ride on the first chunk their text produced (or an empty one).
          if (deltas.length === 0) return wantLogprobs && d.tokens?.length ? [chunk(job, created, d.choice, {}, d.tokens, null)] : [];
          return deltas.map((x, i) => chunk(job, created, d.choice, deltaJson(x), i === 0 ? d.tokens : undefined, null));
        },
        response: (job, created, r) => ({
          id: job.id,
          object: 'chat.completion',
          created,
          model: job.model.name,
          choices: r.choices.map((c) => {
            const parser = toolMode ? new ToolCallParser(toolMode) : undefined;
            parser?.push(c.text);
            parser?.finish();
            const calls = parser?.isCalls ? parser.calls : undefined;
            return {
              index: c.index,
              message: { role: 'assistant', content: calls ? null : c.text, refusal: null, ...(calls ? { tool_calls: calls.map((t) => ({ id: t.id, type: 'function', function: { name: t.name, arguments: t.arguments } })) } : {}) },
              logprobs: wantLogprobs ? logprobsJson(ctx, c.tokens) : null,
              finish_reason: calls && (c.finish === 'stop' || parser!.complete) ? 'tool_calls' : c.finish,
            };
          }),
          usage: usageJson(r.usage),
        }),
      };
      const stop = stopsOf(body.stop);
      await runCompletion(
        ctx,
        request,
        reply,
        {
          route: 'chat',
          id: newRequestId('chatcmpl'),
          model: prepared.model,
          promptIds: prepared.promptIds,
          maxTokens: prepared.maxTokens,
          sampling,
          n,
          constraint: grammar.constraint,
          stop,
          stream: body.stream === true,
          includeUsage: body.stream_options?.include_usage === true,
          nonce: prepared.nonce,
        },
        format,
        prepared,
      );
    });
  };
}
