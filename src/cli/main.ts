import { Command, CommanderError } from 'commander';
import { isBaseError } from '../errors.ts';
import { registerDoctor } from './commands/doctor.ts';
import { registerChain } from './commands/chain.ts';
import { registerKey } from './commands/key.ts';
import { registerAdapter } from './commands/adapter.ts';
import { registerModel } from './commands/model.ts';
import { registerGenerate } from './commands/generate.ts';
import { registerNode } from './commands/node.ts';
import { registerChat } from './commands/chat.ts';
import { registerDev } from './commands/dev.ts';
import { registerPeer } from './commands/peer.ts';
import { registerDatanet } from './commands/datanet.ts';
import { registerAttribution } from './commands/attribution.ts';
import { registerRewards } from './commands/rewards.ts';
import { registerClaim } from './commands/claim.ts';
import { registerChannel } from './commands/channel.ts';

/**
 * `openlora` command line. Each command lives in `commands/<name>.ts` and exports a
 * `register<Name>(program)` function; commander gives every command `--help` and reports
 * unknown commands and flags with a suggestion.
 */
export function buildProgram(): Command {
  const program = new Command('openlora')
    .description('Open, attribution-aware LLM inference node: many LoRA adapters on one WebGPU backbone.')
    .version(process.env.npm_package_version ?? '0.1.0')
    .showSuggestionAfterError(true)
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  registerDoctor(program);
  registerKey(program);
  registerChain(program);
  registerAdapter(program);
  registerModel(program);
  registerGenerate(program);
  registerNode(program);
  registerChat(program);
  registerDev(program);
  registerPeer(program);
  registerDatanet(program);
  registerAttribution(program);
  registerRewards(program);
  registerClaim(program);
  registerChannel(program);
  return program;
}

/** Prints an error the way users should see it: message, details, hint; JSON with --json. */
export function reportError(error: unknown, json: boolean): void {
  if (json) {
    const body = isBaseError(error) ? error.toJSON() : { code: 'OPENLORA_UNEXPECTED', message: String((error as Error)?.message ?? error) };
    process.stdout.write(JSON.stringify({ error: body }) + '\n');
    return;
  }
  if (isBaseError(error)) {
    process.stderr.write(`error [${error.code}]: ${error.message}\n`);
  } else {
    process.stderr.write(`error: ${(error as Error)?.stack ?? String(error)}\n`);
  }
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode; // commander already printed it
    reportError(error, argv.includes('--json'));
    return 1;
  }
}
