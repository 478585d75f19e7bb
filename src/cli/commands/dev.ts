import { Command, Option } from 'commander';
import { runDev } from '../../dev/run.ts';
import { stopOnSignals } from './node.ts';

interface DevOptions {
  dir: string;
  port: string;
  chainPort: string;
  backend: 'webgpu' | 'cpu';
}

/** `openlora dev`: the embedded default, everything on this machine. */
export function registerDev(program: Command): void {
  program.addCommand(
    new Command('dev')
      .description('run the embedded default: local chain + contracts, tiny model, 3 adapters, Datanet with attribution roots, a paid node and a funded payer')
      .option('--dir <dir>', 'working directory (model, adapters, deployment, ledger)', '.openlora/dev')
      .option('--port <port>', 'node HTTP port', '8547')
      .option('--chain-port <port>', 'local chain JSON-RPC port', '8545')
      .addOption(new Option('--backend <kind>', 'engine backend').choices(['webgpu', 'cpu']).default('webgpu'))
      .action(async (options: DevOptions) => {
        // Progress lines tell the story; structured logs only for warnings unless asked for.
        process.env.OPENLORA_LOG_LEVEL ??= 'warn';
        const started = performance.now();
        const env = await runDev({
          dir: options.dir,
          port: Number(options.port),
          chainPort: Number(options.chainPort),
          backend: options.backend,
          onProgress: (line) => process.stderr.write(`dev: ${line}\n`),
        });
        stopOnSignals(() => env.stop());
        const s = env.session;
        const lines = [
          '',
          `openlora dev is ready in ${((performance.now() - started) / 1000).toFixed(1)} s (Ctrl-C stops everything)`,
          `  node      ${s.url}   key ${env.node.address}, paid mode, ${options.backend} backend`,
          `  chain     ${s.rpcUrl}   chainId ${s.chainId}, contracts in ${options.dir}/deployment.json`,
          `  model     ${env.node.inference.baseModelName} (tiny, byte-level tokenizer)`,
          `  adapters  ${s.adapters.map((a) => `${a.name}${a.root ? ' (attribution root published)' : ''}`).join(', ')}`,
          `  payer     channel ${s.channelId} with 100 test tokens`,
          '',
          'Try:',
          `  npm run openlora -- chat --dev ${options.dir} --model poet "Write a line about the sea"`,
          `  curl -s ${s.url}/v1/models`,
          `  curl -s ${s.url}/v1/chat/completions -H 'content-type: application/json' -d '{"model":"coder","messages":[{"role":"user","content":"hi"}]}'   # 402: pays by voucher`,
          '',
          `READY ${s.url}`,
        ];
        process.stdout.write(lines.join('\n') + '\n');
      }),
  );
}
