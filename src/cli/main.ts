import { Command, CommanderError } from 'commander';
import { isBaseError, type BaseError } from '../errors.ts';
import { formatVersion, versionInfo } from '../version.ts';
import { CliUnexpectedError, CliUsageError } from './errors.ts';

type Register = (program: Command) => void;

/**
 * Every top-level command: its one-line summary (the list in `openlora --help`) and how to load
 * it. Only the command being run is imported, so `openlora --help` and `openlora doctor --help`
 * start without loading viem, the engine or the chain (a few hundred ms each).
 */
const COMMANDS: ReadonlyArray<{ name: string; summary: string; load: () => Promise<Register> }> = [
  { name: 'doctor', summary: 'check Node.js, WebGPU, memory, disk and the chain RPC', load: async () => (await import('./commands/doctor.ts')).registerDoctor },
  { name: 'key', summary: 'encrypted keystore files: new, import, address', load: async () => (await import('./commands/key.ts')).registerKey },
  { name: 'api-key', summary: 'open mode: make an API key and its config entry', load: async () => (await import('./commands/apiKey.ts')).registerApiKey },
  { name: 'chain', summary: 'deploy the contracts to an EVM chain', load: async () => (await import('./commands/chain.ts')).registerChain },
  { name: 'adapter', summary: 'generate and inspect LoRA adapters (PEFT layout)', load: async () => (await import('./commands/adapter.ts')).registerAdapter },
  { name: 'model', summary: 'generate and inspect models (Hugging Face layout)', load: async () => (await import('./commands/model.ts')).registerModel },
  { name: 'generate', summary: 'run the engine directly on a prompt or a batch', load: async () => (await import('./commands/generate.ts')).registerGenerate },
  { name: 'node', summary: 'run an inference node', load: async () => (await import('./commands/node.ts')).registerNode },
  { name: 'chat', summary: 'ask a node one question and stream the answer', load: async () => (await import('./commands/chat.ts')).registerChat },
  { name: 'dev', summary: 'run the embedded default: chain, model, adapters, Datanet, paid node, payer', load: async () => (await import('./commands/dev.ts')).registerDev },
  { name: 'peer', summary: 'the node\'s libp2p identity', load: async () => (await import('./commands/peer.ts')).registerPeer },
  { name: 'datanet', summary: 'Datanets: contribution texts registered on-chain', load: async () => (await import('./commands/datanet.ts')).registerDatanet },
  { name: 'attribution', summary: 'Proof of Attribution: compute, publish, verify', load: async () => (await import('./commands/attribution.ts')).registerAttribution },
  { name: 'rewards', summary: 'what an address can claim', load: async () => (await import('./commands/rewards.ts')).registerRewards },
  { name: 'claim', summary: 'claim contributor rewards and credits', load: async () => (await import('./commands/claim.ts')).registerClaim },
  { name: 'channel', summary: 'payer side of payment channels: open, topup, withdraw, status', load: async () => (await import('./commands/channel.ts')).registerChannel },
];

/** The command `argv` runs (`openlora help X` runs X's help), if it is one. */
function selectedCommand(args: readonly string[]): string | undefined {
  const first = args.find((a) => !a.startsWith('-'));
  if (first === 'help') return args[args.indexOf('help') + 1];
  return first;
}

/**
 * `openlora` command line. Each command lives in `commands/<name>.ts` and exports a
 * `register<Name>(program)` function; commander gives every command `--help` and reports
 * unknown commands and flags with a suggestion. The other commands are listed by summary only.
 */
export async function buildProgram(argv: readonly string[] = []): Promise<Command> {
  const program = new Command('openlora')
    .description('Open, attribution-aware LLM inference node: many LoRA adapters on one WebGPU backbone.')
    .option('-V, --version', 'print the version, git commit and shader hash')
    .showSuggestionAfterError(true);
  program.on('option:version', () => {
    process.stdout.write(formatVersion(versionInfo()) + '\n');
    throw new CommanderError(0, 'openlora.version', '');
  });
  const selected = selectedCommand(argv.slice(2));
  for (const entry of COMMANDS) {
    if (entry.name === selected) {
      (await entry.load())(program);
      program.commands.at(-1)!.summary(entry.summary);
    } else {
      program.command(entry.name).summary(entry.summary);
    }
  }
  return program;
}

/** Every command, loaded (for tests and docs that walk the whole tree). */
export async function buildFullProgram(): Promise<Command> {
  const program = new Command('openlora');
  for (const entry of COMMANDS) (await entry.load())(program);
  return program;
}

/** Prints an error the way users should see it: code, message, details, hint; JSON with --json. */
export function reportError(error: BaseError, json: boolean): void {
  if (json) {
    process.stdout.write(JSON.stringify({ error: error.toJSON() }) + '\n');
    return;
  }
  process.stderr.write(`error [${error.code}]: ${error.message}\n`);
  if (error instanceof CliUnexpectedError && process.env.OPENLORA_LOG_LEVEL === 'debug') process.stderr.write(`${(error.cause as Error)?.stack ?? ''}\n`);
}

/** The command path of `command` (`openlora channel open`). */
function commandPath(command: Command | undefined): string {
  const names: string[] = [];
  for (let c = command; c; c = c.parent ?? undefined) names.unshift(c.name());
  return names.join(' ') || 'openlora';
}

/**
 * Runs the CLI; resolves with the exit code. Every failure prints one error with its code and a
 * hint: commander's own usage errors (printed here, not by commander), `InvalidArgumentError`s
 * thrown inside actions, openlora errors and unexpected ones.
 */
export async function main(argv: string[]): Promise<number> {
  let current: Command | undefined;
  const json = argv.includes('--json');
  try {
    const program = await buildProgram(argv);
    // Commander errors are thrown, not printed (and never exit the process): printed once below.
    const quiet = (command: Command): void => {
      command.exitOverride().configureOutput({ outputError: () => undefined });
      command.hook('preSubcommand', (_, sub) => void (current = sub));
      for (const sub of command.commands) quiet(sub);
    };
    quiet(program);
    program.hook('preAction', (_, action) => void (current = action));
    current = program;
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.exitCode === 0) return 0; // --help, --version
      const message = error.message.replace(/^error: /, '');
      reportError(new CliUsageError(message.charAt(0).toUpperCase() + message.slice(1), commandPath(current)), json);
      return error.exitCode || 1;
    }
    reportError(isBaseError(error) ? error : new CliUnexpectedError(error), json);
    return 1;
  }
}
