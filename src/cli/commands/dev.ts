import { BACKEND_CHOICES, type BackendChoice } from '../../engine/chooseBackend.ts';
import { Command, Option } from 'commander';
import { writeDevEnv } from '../../dev/envFile.ts';
import { runDev } from '../../dev/run.ts';
import { stopOnSignals } from './node.ts';

interface DevOptions {
  dir: string;
  port: string;
  chainPort: string;
  backend: BackendChoice;
}

/** `openlora dev`: the embedded default, everything on this machine. */
export function registerDev(program: Command): void {
  program.addCommand(
    new Command('dev')
      .description('run the embedded default: local chain + contracts, tiny model, 3 adapters, Datanet with attribution roots, a paid node and a funded payer')
      .option('--dir <dir>', 'working directory (model, adapters, deployment, ledger)', '.openlora/dev')
      .addOption(new Option('--port <port>', 'node HTTP port').default('8547').env('OPENLORA_DEV_PORT'))
      .addOption(new Option('--chain-port <port>', 'local chain JSON-RPC port').default('8545').env('OPENLORA_DEV_CHAIN_PORT'))
      .addOption(new Option('--backend <kind>', 'engine backend (auto: WebGPU on a hardware adapter, else the CPU backend)').choices([...BACKEND_CHOICES]).default('auto').env('OPENLORA_DEV_BACKEND'))
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
        const envFile = await writeDevEnv({ dir: options.dir });
        const s = env.session;
        const lines = [
          '',
          `openlora dev is ready in ${((performance.now() - started) / 1000).toFixed(1)} s (Ctrl-C stops everything)`,
          `  node      ${s.url}   key ${env.node.address}, paid mode, ${options.backend} backend`,
          `  chain     ${s.rpcUrl}   chainId ${s.chainId}, contracts in ${options.dir}/deployment.json`,
          `  model     ${env.node.inference.baseModelName} (tiny, byte-level tokenizer)`,
          `  adapters  ${s.adapters.map((a) => `${a.name}${a.root ? ' (attribution root published)' : ''}`).join(', ')}`,
          `  payer     channel ${s.channelId} with 100 test tokens`,
          `  env       ${envFile}: URLs, deployment, dev keys (public test keys) and addresses`,
          `  pages     ${s.url}/ (operator; admin token ${s.adminToken})   ${s.url}/rewards (contributors)`,
          '',
          'Try, in another terminal:',
          `  source ${options.dir}/env    # then openlora commands find this session without flags`,
          `  npx openlora chat --model poet "Write a line about the sea"`,
          `  curl -s $OPENLORA_URL/v1/models`,
          `  npx openlora rewards $OPENLORA_CONTRIBUTOR_1`,
          '',
          `READY ${s.url}`,
        ];
        process.stdout.write(lines.join('\n') + '\n');
      }),
  );
}
