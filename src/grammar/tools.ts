/**
 * Tool calls as a grammar. The model answers a call in the Hermes / Qwen format its chat template
 * (or openlora's tool prompt, `src/serving/tools.ts`) asks for:
 *
 *     <tool_call>
 *     {"name": "get_weather", "arguments": {"city": "Paris"}}
 *     </tool_call>
 *
 * one block per call, blocks separated by a newline. Each call is an object whose `name` is one of
 * the functions and whose `arguments` match that function's `parameters` schema; `anyOf` over the
 * functions lets the name decide which schema the arguments follow. With `tool_choice: "auto"` the
 * grammar is `calls | text`, where text is anything that does not begin with `<tool_call>`: the
 * model's first bytes choose, and once they leave the trigger the rest is unconstrained (or, with
 * a `response_format`, `calls | that format`).
 */
import { GrammarBuilder, utf8 } from './nodes.ts';
import type { SchemaCompiler } from './schema.ts';

/** The call format's fixed strings. */
export const TOOL_CALL_FORMAT = {
  open: '<tool_call>\n',
  close: '\n</tool_call>',
  separator: '\n',
} as const;

/** JSON written as the grammar writes it (and Python's `json.dumps`, templates' `tojson`): `, ` and `: ` separators. */
export function jsonText(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(jsonText).join(', ')}]`;
  if (typeof value === 'object' && value !== null) return `{${Object.entries(value).map(([k, v]) => `${JSON.stringify(k)}: ${jsonText(v)}`).join(', ')}}`;
  return JSON.stringify(value) ?? 'null';
}

/** The JSON of a call up to its arguments: `{"name": <name>, "arguments": `. */
export function toolCallPrefix(name: string): string {
  return `{"name": ${JSON.stringify(name)}, "arguments": `;
}

/** One function the model may call. */
export interface ToolFunction {
  name: string;
  /** JSON Schema of its arguments (an object); absent: no arguments (`{}`). */
  parameters?: unknown;
  /** OpenAI's `function.strict`: strict mode's rules for `parameters`. */
  strict: boolean;
}

/** Most calls in one answer (`parallel_tool_calls`). */
export const MAX_PARALLEL_TOOL_CALLS = 8;

/** Parameters of {@link toolCallsNode}. */
export interface ToolCallsNodeParameters {
  compiler: SchemaCompiler;
  functions: readonly ToolFunction[];
  /** Several calls in one answer (OpenAI's `parallel_tool_calls`, default true). */
  parallel: boolean;
  /** Where the tools sit in the request, for error paths (e.g. `tools`). */
  at: string;
}

/** The node matching one or more call blocks. */
export function toolCallsNode(p: ToolCallsNodeParameters): number {
  const b: GrammarBuilder = p.compiler.builder;
  const calls = p.functions.map((f, i) => {
    const parameters = f.parameters ?? { type: 'object', properties: {}, additionalProperties: false };
    const args = p.compiler.compile(parameters, { strict: f.strict, at: `${p.at}[${i}].function.parameters` });
    return b.add({ kind: 'seq', parts: [b.literal([utf8(toolCallPrefix(f.name))]), args, b.literal([utf8('}')])] });
  });
  const call = calls.length === 1 ? calls[0] : b.add({ kind: 'anyOf', alts: calls });
  const block = b.add({ kind: 'seq', parts: [b.literal([utf8(TOOL_CALL_FORMAT.open)]), call, b.literal([utf8(TOOL_CALL_FORMAT.close)])] });
  return b.add({ kind: 'repeat', item: block, open: new Uint8Array(0), sep: utf8(TOOL_CALL_FORMAT.separator), close: new Uint8Array(0), min: 1, max: p.parallel ? MAX_PARALLEL_TOOL_CALLS : 1 });
}

/** Free text that does not begin with the call trigger (tool_choice auto answering in words). */
export function textNode(b: GrammarBuilder): number {
  return b.add({ kind: 'text', trigger: utf8(TOOL_CALL_FORMAT.open.trimEnd()) });
}
