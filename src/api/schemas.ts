import Type, { type Static } from 'typebox';
import { MAX_TOP_LOGPROBS } from '../engine/backend.ts';
import { MAX_CHOICES } from '../scheduler/scheduler.ts';

/**
 * Request schemas of the OpenAI-compatible endpoints: every field OpenAI documents is here, typed
 * as OpenAI types it. Fields openlora cannot honour, and fields OpenAI does not have, are refused
 * by name in the handlers (`requestFields.ts`), never ignored when they would change the answer.
 */
const Nullable = <T extends Type.TSchema>(t: T) => Type.Union([t, Type.Null()]);
const Opt = <T extends Type.TSchema>(t: T) => Type.Optional(Nullable(t));

/** Most `logit_bias` entries (each a sparse logit addition per row and step). */
export const MAX_LOGIT_BIAS = 1024;
/** Most tools a request may list. */
export const MAX_TOOLS = 128;

const Sampling = {
  max_tokens: Opt(Type.Integer({ minimum: 1 })),
  temperature: Opt(Type.Number({ minimum: 0, maximum: 2 })),
  top_p: Opt(Type.Number({ exclusiveMinimum: 0, maximum: 1 })),
  top_k: Opt(Type.Integer({ minimum: 0, description: 'openlora extension (as vLLM): keep the k most likely tokens; 0 = off.' })),
  n: Opt(Type.Integer({ minimum: 1, maximum: MAX_CHOICES })),
  seed: Opt(Type.Integer()),
  stop: Opt(Type.Union([Type.String(), Type.Array(Type.String(), { maxItems: 4 })])),
  stream: Opt(Type.Boolean()),
  stream_options: Opt(Type.Object({ include_usage: Type.Optional(Type.Boolean()), include_obfuscation: Type.Optional(Type.Boolean()) })),
  presence_penalty: Opt(Type.Number({ minimum: -2, maximum: 2 })),
  frequency_penalty: Opt(Type.Number({ minimum: -2, maximum: 2 })),
  logit_bias: Opt(Type.Record(Type.String({ pattern: '^[0-9]{1,9}$' }), Type.Number({ minimum: -100, maximum: 100 }), { maxProperties: MAX_LOGIT_BIAS })),
  user: Opt(Type.String()),
};

const ContentPart = Type.Object({ type: Type.String(), text: Type.Optional(Type.String()) });
const Content = Type.Union([Type.String(), Type.Array(ContentPart)]);
const ToolCall = Type.Object({ id: Type.String({ minLength: 1 }), type: Type.Literal('function'), function: Type.Object({ name: Type.String({ minLength: 1 }), arguments: Type.String() }) });

export const ChatMessageSchema = Type.Object({
  role: Type.Union([Type.Literal('system'), Type.Literal('developer'), Type.Literal('user'), Type.Literal('assistant'), Type.Literal('tool'), Type.Literal('function')]),
  content: Type.Optional(Nullable(Content)),
  name: Type.Optional(Type.String()),
  tool_calls: Type.Optional(Nullable(Type.Array(ToolCall))),
  tool_call_id: Type.Optional(Type.String()),
});
export type ChatMessageJson = Static<typeof ChatMessageSchema>;

const FunctionName = Type.String({ pattern: '^[a-zA-Z0-9_-]{1,64}$' });
export const ToolSchema = Type.Object({
  type: Type.String(),
  function: Type.Optional(Type.Object({ name: FunctionName, description: Type.Optional(Type.String()), parameters: Type.Optional(Type.Object({})), strict: Opt(Type.Boolean()) })),
});
export type ToolJson = Static<typeof ToolSchema>;

export const ResponseFormatSchema = Type.Union([
  Type.Object({ type: Type.Literal('text') }),
  Type.Object({ type: Type.Literal('json_object') }),
  Type.Object({
    type: Type.Literal('json_schema'),
    json_schema: Type.Object({ name: Type.String({ pattern: '^[a-zA-Z0-9_-]{1,64}$' }), description: Type.Optional(Type.String()), schema: Type.Optional(Type.Object({})), strict: Opt(Type.Boolean()) }),
  }),
]);
export type ResponseFormatJson = Static<typeof ResponseFormatSchema>;

export const ToolChoiceSchema = Type.Union([Type.Literal('none'), Type.Literal('auto'), Type.Literal('required'), Type.Object({ type: Type.String(), function: Type.Optional(Type.Object({ name: Type.String() })) })]);

export const ChatCompletionRequest = Type.Object({
  model: Type.String({ minLength: 1 }),
  messages: Type.Array(ChatMessageSchema, { minItems: 1 }),
  max_completion_tokens: Opt(Type.Integer({ minimum: 1 })),
  logprobs: Opt(Type.Boolean()),
  top_logprobs: Opt(Type.Integer({ minimum: 0, maximum: MAX_TOP_LOGPROBS })),
  response_format: Opt(ResponseFormatSchema),
  tools: Opt(Type.Array(ToolSchema, { maxItems: MAX_TOOLS })),
  tool_choice: Opt(ToolChoiceSchema),
  parallel_tool_calls: Opt(Type.Boolean()),
  metadata: Opt(Type.Record(Type.String(), Type.String())),
  prompt_cache_key: Opt(Type.String()),
  safety_identifier: Opt(Type.String()),
  ...Sampling,
});
export type ChatCompletionRequest = Static<typeof ChatCompletionRequest>;

export const CompletionRequest = Type.Object({
  model: Type.String({ minLength: 1 }),
  prompt: Type.Union([Type.String(), Type.Array(Type.Integer({ minimum: 0 }), { minItems: 1 }), Type.Array(Type.String(), { minItems: 1, maxItems: 1 })]),
  logprobs: Opt(Type.Union([Type.Integer({ minimum: 0, maximum: 5 }), Type.Boolean()])),
  echo: Opt(Type.Boolean()),
  best_of: Opt(Type.Integer({ minimum: 1 })),
  suffix: Opt(Type.String()),
  ...Sampling,
});
export type CompletionRequest = Static<typeof CompletionRequest>;

export const ReceiptsQuery = Type.Object({
  channel: Type.Optional(Type.String({ pattern: '^0x[0-9a-fA-F]{64}$' })),
  payer: Type.Optional(Type.String({ minLength: 1 })),
  adapter: Type.Optional(Type.String({ pattern: '^0x[0-9a-fA-F]{64}$' })),
  from: Type.Optional(Type.String({ pattern: '^[0-9]{1,12}$', description: 'unix seconds, inclusive' })),
  to: Type.Optional(Type.String({ pattern: '^[0-9]{1,12}$', description: 'unix seconds, inclusive' })),
  after: Type.Optional(Type.String({ pattern: '^[0-9]{1,19}$', description: 'cursor: seq of the last receipt seen' })),
  order: Type.Optional(Type.Union([Type.Literal('asc'), Type.Literal('desc')], { description: 'seq order; desc lists the newest first (then `after` pages to smaller seqs)' })),
  limit: Type.Optional(Type.String({ pattern: '^[0-9]{1,4}$' })),
});
export type ReceiptsQuery = Static<typeof ReceiptsQuery>;
