import { Command, Option } from 'commander';
import OpenAI from 'openai';
import { privateKeyToAccount } from 'viem/accounts';
import { createPaidClient } from '../../client/paidFetch.ts';
import { devPrivateKey, readDevDirectory } from '../../dev/envFile.ts';
import { DevNotRunError } from '../../dev/errors.ts';
import { BaseError, isBaseError } from '../../errors.ts';
import { writeModelText } from '../terminal.ts';

/** The node answered with an error. */
export class ChatRequestError extends BaseError {
  override name = 'ChatRequestError' as const;
  constructor(url: string, status: number | undefined, message: string) {
    super('OPENLORA_CHAT_REQUEST', `The node at ${url} refused the request${status ? ` (HTTP ${status})` : ''}: ${message}`, {
      hint: `\`curl -s ${url.replace(/\/$/, '')}/v1/models\` lists the models; check --url and --api-key (open mode) or --dev (paid mode).`,
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
      .addOption(new Option('--dev <dir>', 'pay the `openlora dev` node in DIR through its dev channel (client SDK, vouchers)').env('OPENLORA_DEV'))
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
            if (!options.json && piece) writeModelText(process.stdout, piece);
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
          // The openai client reports anything its fetch throws as a connection error: the SDK's own
          // errors (a receipt that does not add up, a refused payment) are shown as themselves.
          if (error instanceof OpenAI.APIConnectionError) {
            if (isBaseError(error.cause)) throw error.cause;
            throw new ChatRequestError(url, undefined, `cannot connect (${(error.cause as Error | undefined)?.message ?? error.message})`);
          }
          if (error instanceof OpenAI.APIError) throw new ChatRequestError(url, error.status, error.message);
          throw error;
        }
      }),
  );
}

/** A paid client for the `openlora dev` node whose session is in `dir`, paying as the dev payer. */
async function devPaidClient(dir: string) {
  const dev = await readDevDirectory(dir);
  if (!dev) throw new DevNotRunError(dir);
  const { session } = dev;
  const client = await createPaidClient({ url: session.url, account: privateKeyToAccount(devPrivateKey('payer')), channelId: session.channelId, nodeRegistry: session.nodeRegistry });
  return { url: session.url, channelId: session.channelId, client };
}
