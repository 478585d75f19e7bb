import Type, { type Static } from 'typebox';

/**
 * Request schemas of the OpenAI-compatible endpoints. Unknown fields are accepted (clients send
 * many); the fields openlora cannot honour are rejected with a clear message in the handlers.
 */
const Sampling = {
  max_tokens: Type.Optional(Type.Union([Type.Integer({ minimum: 1 }), Type.Null()])),
  temperature: Type.Optional(Type.Union([Type.Number({ minimum: 0, maximum: 2 }), Type.Null()])),
  top_p: Type.Optional(Type.Union([Type.Number({ exclusiveMinimum: 0, maximum: 1 }), Type.Null()])),
  top_k: Type.Optional(Type.Union([Type.Integer({ minimum: 0 }), Type.Null()])),
  n: Type.Optional(Type.Union([Type.Integer({ minimum: 1, maximum: 1 }), Type.Null()])),
  seed: Type.Optional(Type.Union([Type.Integer(), Type.Null()])),
  stop: Type.Optional(Type.Union([Type.String(), Type.Array(Type.String(), { maxItems: 4 }), Type.Null()])),
  stream: Type.Optional(Type.Union([Type.Boolean(), Type.Null()])),
  stream_options: Type.Optional(Type.Union([Type.Object({ include_usage: Type.Optional(Type.Boolean()) }), Type.Null()])),
  user: Type.Optional(Type.String()),
};

const TextPart = Type.Object({ type: Type.Literal('text'), text: Type.String() });

export const ChatMessageSchema = Type.Object({
  role: Type.Union([Type.Literal('system'), Type.Literal('developer'), Type.Literal('user'), Type.Literal('assistant')]),
  content: Type.Union([Type.String(), Type.Array(TextPart, { minItems: 1 })]),
  name: Type.Optional(Type.String()),
});

export const ChatCompletionRequest = Type.Object({
  model: Type.String({ minLength: 1 }),
  messages: Type.Array(ChatMessageSchema, { minItems: 1 }),
  max_completion_tokens: Type.Optional(Type.Union([Type.Integer({ minimum: 1 }), Type.Null()])),
  logprobs: Type.Optional(Type.Union([Type.Boolean(), Type.Null()])),
  top_logprobs: Type.Optional(Type.Union([Type.Integer({ minimum: 0, maximum: 0 }), Type.Null()])),
  ...Sampling,
});
export type ChatCompletionRequest = Static<typeof ChatCompletionRequest>;

export const CompletionRequest = Type.Object({
  model: Type.String({ minLength: 1 }),
  prompt: Type.Union([Type.String(), Type.Array(Type.Integer({ minimum: 0 }), { minItems: 1 }), Type.Array(Type.String(), { minItems: 1, maxItems: 1 })]),
  logprobs: Type.Optional(Type.Union([Type.Integer({ minimum: 0, maximum: 0 }), Type.Boolean(), Type.Null()])),
  echo: Type.Optional(Type.Union([Type.Literal(false), Type.Null()])),
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
