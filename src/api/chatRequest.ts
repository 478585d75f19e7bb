/**
 * The chat-specific parts of a request: messages to turns (tool calls and results included), and
 * `response_format`, `tools` and `tool_choice` to the grammar that constrains the answer.
 */
import { GrammarSchemaError } from '../grammar/errors.ts';
import type { GrammarRequest, OutputFormat } from '../grammar/service.ts';
import type { ToolFunction } from '../grammar/tools.ts';
import type { TokenConstraint } from '../scheduler/types.ts';
import type { ChatTool, ChatTurn } from '../serving/chatPrompt.ts';
import type { ApiContext } from './context.ts';
import { ApiError } from './errors.ts';
import type { ChatCompletionRequest, ChatMessageJson } from './schemas.ts';

const invalid = (param: string, message: string, hint: string) => new ApiError({ status: 400, code: 'OPENLORA_API_INVALID_REQUEST', param, message, hint });

/** Messages as turns; `chars` counts their text (the prompt-size bound before tokenizing). */
export function chatTurnsOf(messages: readonly ChatMessageJson[]): { turns: ChatTurn[]; chars: number } {
  let chars = 0;
  const turns = messages.map((m, i): ChatTurn => {
    const at = `messages[${i}]`;
    if (m.role === 'function') throw invalid(`${at}.role`, 'The deprecated role "function" is not supported.', 'Send tool results as role "tool" with the tool_call_id.');
    let content = '';
    if (typeof m.content === 'string') content = m.content;
    else if (Array.isArray(m.content)) {
      content = m.content
        .map((part, j) => {
          if (part.type !== 'text' || typeof part.text !== 'string') throw invalid(`${at}.content[${j}].type`, `A content part of type "${part.type}" is not supported: this node reads text.`, 'Send text parts ({"type": "text", "text": ...}) or a string.');
          return part.text;
        })
        .join('');
    } else if (m.role !== 'assistant' || !m.tool_calls?.length) throw invalid(`${at}.content`, `A ${m.role} message needs content.`, 'Give the message a content string.');
    const role = m.role === 'developer' ? 'system' : m.role;
    const turn: ChatTurn = { role, content };
    if (m.name !== undefined) turn.name = m.name;
    if (m.role === 'tool') {
      if (!m.tool_call_id) throw invalid(`${at}.tool_call_id`, 'A tool message needs the tool_call_id it answers.', 'Copy the id of the assistant\'s tool call.');
      turn.toolCallId = m.tool_call_id;
    } else if (m.tool_call_id !== undefined) throw invalid(`${at}.tool_call_id`, 'Only tool messages carry a tool_call_id.', 'Remove it, or make the message role "tool".');
    if (m.tool_calls?.length) {
      if (m.role !== 'assistant') throw invalid(`${at}.tool_calls`, 'Only assistant messages carry tool_calls.', 'Remove them from this message.');
      turn.toolCalls = m.tool_calls.map((c, j) => {
        let args: unknown;
        try {
          args = JSON.parse(c.function.arguments);
        } catch {
          throw invalid(`${at}.tool_calls[${j}].function.arguments`, `The arguments of tool call ${c.id} are not JSON.`, 'Send the arguments string the node returned.');
        }
        chars += c.function.arguments.length + c.function.name.length;
        return { id: c.id, name: c.function.name, arguments: args };
      });
    }
    chars += content.length;
    return turn;
  });
  return { turns, chars };
}

/** The grammar a chat request asks for, and how to read its answer. */
export interface ChatGrammar {
  /** A fresh constraint per choice; undefined: the answer is free. */
  constraint?: () => TokenConstraint;
  /** How to read tool calls out of the answer; undefined: there are none to read. */
  toolMode?: 'auto' | 'required';
  /** Tools the prompt lists. */
  promptTools?: ChatTool[];
}

/** Compiles `response_format` and `tools`/`tool_choice` (400s name the field at fault). */
export function grammarOf(ctx: ApiContext, body: ChatCompletionRequest): ChatGrammar {
  const tools = body.tools ?? [];
  const functions: Array<ToolFunction & ChatTool> = tools.map((t, i) => {
    if (t.type !== 'function' || !t.function) throw invalid(`tools[${i}].type`, `A tool of type "${t.type}" is not supported.`, 'Send function tools: {"type": "function", "function": {"name", "parameters"}}.');
    const f = t.function;
    const type = (f.parameters as { type?: unknown } | undefined)?.type;
    if (type !== undefined && type !== 'object') throw invalid(`tools[${i}].function.parameters`, `The parameters of ${f.name} are a JSON Schema of type ${JSON.stringify(type)}; they must be an object.`, 'Describe the arguments as {"type": "object", "properties": ...}.');
    return { name: f.name, description: f.description, parameters: f.parameters, strict: f.strict === true };
  });
  const names = new Set<string>();
  functions.forEach((f, i) => {
    if (names.has(f.name)) throw invalid(`tools[${i}].function.name`, `Two tools are named ${f.name}.`, 'Give each tool its own name.');
    names.add(f.name);
  });
  const choice = body.tool_choice ?? (tools.length ? 'auto' : 'none');
  if (body.tool_choice != null && tools.length === 0) throw invalid('tool_choice', 'tool_choice is only allowed when tools are given.', 'Send tools, or remove tool_choice.');
  let called = functions;
  let mode: 'auto' | 'required' | undefined;
  if (typeof choice === 'object') {
    if (choice.type !== 'function' || !choice.function) throw invalid('tool_choice', `A tool_choice of type "${choice.type}" is not supported.`, 'Send "none", "auto", "required" or {"type": "function", "function": {"name": ...}}.');
    const name = choice.function.name;
    called = functions.filter((f) => f.name === name);
    if (called.length === 0) throw invalid('tool_choice', `tool_choice names ${name}, which is not among the tools.`, `Name one of: ${functions.map((f) => f.name).join(', ')}.`);
    mode = 'required';
  } else if (choice !== 'none') mode = choice;
  const rf = body.response_format;
  let format: OutputFormat | undefined;
  if (rf?.type === 'json_object') format = { type: 'json_object' };
  else if (rf?.type === 'json_schema') format = { type: 'json_schema', schema: rf.json_schema.schema ?? {}, strict: rf.json_schema.strict === true };
  const request: GrammarRequest = { ...(format ? { format } : {}), ...(mode ? { tools: { functions: called.map(({ name, parameters, strict }) => ({ name, parameters, strict })), choice: mode, parallel: body.parallel_tool_calls ?? true } } : {}) };
  const promptTools = choice === 'none' ? undefined : functions.map(({ name, description, parameters }) => ({ name, description, parameters }));
  if (!request.format && !request.tools) return { promptTools };
  const service = ctx.inference.grammar;
  if (!service) throw invalid(format ? 'response_format' : 'tools', 'Constrained output needs the model\'s tokenizer, and this model directory has none.', 'Add tokenizer.json to the model, or leave out response_format and tools.');
  try {
    const compiled = service.compile(request);
    return { constraint: () => service.constraint(compiled), toolMode: mode, promptTools };
  } catch (error) {
    if (error instanceof GrammarSchemaError) throw new ApiError({ status: 400, code: error.code, param: error.path, message: error.shortMessage, hint: error.hint });
    throw error;
  }
}
