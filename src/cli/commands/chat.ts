import { Command, Option } from 'commander';
import OpenAI from 'openai';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { mnemonicToAccount } from 'viem/accounts';
import { createPaidClient } from '../../client/paidFetch.ts';
import { DEV_MNEMONIC, type DevSession } from '../../dev/run.ts';
import { BaseError } from '../../errors.ts';

/** The node answered with an error. */
export class ChatRequestError extends BaseError {
  override name = 'ChatRequestError' as const;
  constructor(url: string, status: number | undefined, message: string) {
    super('OPENLORA_CHAT_REQUEST', `The node at ${url} refused the request${status ? ` (HTTP ${status})` : ''}: ${message}`, {
      hint: 'Check --url, --model (GET /v1/models lists them) and --api-key.',
    });
  }
}

interface ChatOptions {
  dev?: string;
  url: string;
  model: string;
  maxTokens: string;
  temperature?: string;
  seed?: string;
  system?: string;
  apiKey?: string;
  json?: boolean;
}

/** `openlora chat`: a small client that streams a node's answer to one prompt. */
export function registerChat(program: Command): void {
  program.addCommand(
    new Command('chat')
      .description('ask a node one question and stream the answer (OpenAI-compatible API)')
      .argument('<prompt>', 'the user message')
      .option('--url <url>', 'node URL', 'http://127.0.0.1:8547')
      .requiredOption('--model <name>', 'base model or adapter name (or 0x adapter id)')
      .option('--max-tokens <n>', 'most tokens to generate', '128')
      .option('--temperature <t>', 'sampling temperature (0 = greedy)')
      .option('--seed <n>', 'sampling seed')
      .option('--system <text>', 'system message')
      .addOption(new Option('--api-key <key>', 'API key (open mode)').env('OPENLORA_API_KEY'))
      .option('--dev <dir>', 'pay the `openlora dev` node in DIR through its dev channel (client SDK, vouchers)')
      .option('--json', 'print the whole response (with usage and receipt) as JSON instead of streaming text')
      .action(async (prompt: string, options: ChatOptions) => {
        const paid = options.dev ? await devPaidClient(options.dev) : undefined;
        const url = paid?.url ?? options.url;
        const client = new OpenAI({ baseURL: `${url.replace(/\/$/, '')}/v1`, apiKey: options.apiKey ?? 'none', maxRetries: 1, fetch: paid?.client.fetch });
        const messages: OpenAI.ChatCompletionMessageParam[] = [...(options.system ? [{ role: 'system' as const, content: options.system }] : []), { role: 'user', content: prompt }];
        const body = {
          model: options.model,
          messages,
          max_tokens: Number(options.maxTokens),
          ...(options.temperature !== undefined ? { temperature: Number(options.temperature) } : {}),
          ...(options.seed !== undefined ? { seed: Number(options.seed) } : {}),
        };
        try {
          const stream = await client.chat.completions.create({ ...body, stream: true });
          let final: unknown;
          let text = '';
          for await (const chunk of stream) {
            const piece = chunk.choices[0]?.delta?.content ?? '';
            text += piece;
            if (!options.json && piece) process.stdout.write(piece);
            if (chunk.choices.length === 0) final = chunk;
          }
          if (options.json) process.stdout.write(JSON.stringify({ text, ...(final as object) }, null, 2) + '\n');
          else {
            const usage = (final as { usage?: { prompt_tokens: number; completion_tokens: number } } | undefined)?.usage;
            process.stdout.write('\n');
            if (usage) process.stderr.write(`[${usage.prompt_tokens} prompt + ${usage.completion_tokens} completion tokens]\n`);
          }
          if (paid) {
            await paid.client.payTail();
            const lanes = paid.client.lanes().map((l) => `${l.adapterId.slice(0, 10)}… ${l.charged} wei`).join(', ');
            process.stderr.write(`[paid through channel ${paid.channelId.slice(0, 10)}…; acknowledged per lane: ${lanes}]\n`);
          }
        } catch (error) {
          if (error instanceof OpenAI.APIError) throw new ChatRequestError(url, error.status, error.message);
          if (error instanceof OpenAI.APIConnectionError) throw new ChatRequestError(url, undefined, `cannot connect (${(error.cause as Error | undefined)?.message ?? error.message})`);
          throw error;
        }
      }),
  );
}

/** A paid client for the `openlora dev` node whose session file is in `dir`. */
async function devPaidClient(dir: string) {
  let session: DevSession;
  try {
    session = JSON.parse(await readFile(join(dir, 'session.json'), 'utf8')) as DevSession;
  } catch (cause) {
    throw new BaseError('OPENLORA_CHAT_NO_DEV_SESSION', `No running \`openlora dev\` session in ${dir} (session.json is missing or unreadable).`, { cause, hint: 'Start `npm run dev` first, and pass the same --dir.' });
  }
  const client = await createPaidClient({ url: session.url, account: mnemonicToAccount(DEV_MNEMONIC, { addressIndex: session.payerIndex }), channelId: session.channelId, nodeRegistry: session.nodeRegistry });
  return { url: session.url, channelId: session.channelId, client };
}
