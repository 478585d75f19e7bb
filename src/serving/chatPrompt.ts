/**
 * Chat turns (OpenAI's messages after parsing) to the prompt the model reads, tools included.
 * A template that renders tools in the `<tool_call>` format (Qwen 2.5/3, Hermes) gets them through
 * its own `tools` variable, assistant calls as `tool_calls` with parsed arguments, and tool
 * results as `tool` messages. Any other template gets openlora's tool prompt (the same text Qwen's
 * template writes) added to the system message, calls written into the assistant's content in the
 * same format, and tool results as a user message of `<tool_response>` blocks: the format the
 * grammar then holds the answer to is the one the prompt asks for.
 */
import type { ChatMessage, ChatTemplate } from '../model/tokenizer.ts';
import { TOOL_CALL_FORMAT, jsonText, toolCallPrefix } from '../grammar/tools.ts';

/** One message, parsed. */
export interface ChatTurn {
  role: 'system' | 'user' | 'assistant' | 'tool';
  content: string;
  name?: string;
  /** An assistant's earlier calls; `arguments` parsed from its JSON string. */
  toolCalls?: Array<{ id: string; name: string; arguments: unknown }>;
  /** A tool result's call id. */
  toolCallId?: string;
}

/** A function the model may call. */
export interface ChatTool {
  name: string;
  description?: string;
  parameters?: unknown;
}

/** OpenAI's tool object, as templates and the tool prompt list it. */
function toolJson(t: ChatTool): unknown {
  return { type: 'function', function: { name: t.name, ...(t.description === undefined ? {} : { description: t.description }), ...(t.parameters === undefined ? {} : { parameters: t.parameters }) } };
}

/** The system text listing the tools and the call format (templates without tool support). */
export function toolPrompt(tools: readonly ChatTool[]): string {
  return [
    '# Tools',
    '',
    'You may call one or more functions to assist with the user query.',
    '',
    'You are provided with function signatures within <tools></tools> XML tags:',
    '<tools>',
    ...tools.map((t) => jsonText(toolJson(t))),
    '</tools>',
    '',
    'For each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:',
    '<tool_call>',
    '{"name": <function-name>, "arguments": <args-json-object>}',
    '</tool_call>',
  ].join('\n');
}

/** Renders the turns (and tools) with the model's template, opening the assistant's turn. */
export function renderChat(template: ChatTemplate, turns: readonly ChatTurn[], tools?: readonly ChatTool[]): string {
  if (template.hermesTools) {
    const messages: ChatMessage[] = turns.map((t) => ({
      role: t.role,
      content: t.content,
      ...(t.name === undefined ? {} : { name: t.name }),
      ...(t.toolCalls?.length ? { tool_calls: t.toolCalls.map((c) => ({ type: 'function' as const, id: c.id, function: { name: c.name, arguments: c.arguments } })) } : {}),
      ...(t.toolCallId === undefined ? {} : { tool_call_id: t.toolCallId }),
    }));
    return template.render({ messages, ...(tools?.length ? { tools: tools.map(toolJson) } : {}), addGenerationPrompt: true });
  }
  const messages: ChatMessage[] = [];
  for (const t of turns) {
    if (t.role === 'tool') {
      const block = `<tool_response>\n${t.content}\n</tool_response>`;
      const last = messages[messages.length - 1];
      if (last?.role === 'user' && last.content.startsWith('<tool_response>')) last.content += `\n${block}`;
      else messages.push({ role: 'user', content: block });
      continue;
    }
    let content = t.content;
    if (t.toolCalls?.length) {
      const blocks = t.toolCalls.map((c) => `${TOOL_CALL_FORMAT.open}${toolCallPrefix(c.name)}${jsonText(c.arguments)}}${TOOL_CALL_FORMAT.close}`);
      content = [content, blocks.join(TOOL_CALL_FORMAT.separator)].filter(Boolean).join('\n');
    }
    messages.push({ role: t.role, content, ...(t.name === undefined ? {} : { name: t.name }) });
  }
  if (tools?.length) {
    const prompt = toolPrompt(tools);
    if (messages[0]?.role === 'system') messages[0] = { ...messages[0], content: `${messages[0].content}\n\n${prompt}` };
    else messages.unshift({ role: 'system', content: prompt });
  }
  return template.render({ messages, addGenerationPrompt: true });
}
