import { BACKEND_CHOICES } from '../../engine/chooseBackend.ts';
import { existsSync } from 'node:fs';
import { Command, Option } from 'commander';
import { join, resolve } from 'node:path';
import { readDeployment } from '../../chain/deployment.ts';
import type { Config } from '../../config/schema.ts';
import { loadAccount, resolvePassphrase } from '../../keys/index.ts';
import { LORA_DTYPE_SETTINGS } from '../../lora/dtype.ts';
import { startNode, type OpenloraNode } from '../../node/create.ts';
import { NodeConfigError } from '../../node/errors.ts';
import { addConfigOptions, configFromOptions, type ConfigOptions } from '../options.ts';

interface NodeStartOptions extends ConfigOptions {
  model?: string;
  backend?: string;
  quantize?: string;
  loraDtype?: string;
  host?: string;
  port?: string;
  dataDir?: string;
  keyFile?: string;
  passphraseFile?: string;
  deployment?: string;
}

/** Resolves the node key from config: `node.keyFile`, else `<dataDir>/node-key.json`. */
export async function nodeAccount(config: Config) {
  const keyFile = config.node.keyFile ?? join(resolve(config.dataDir), 'node-key.json');
  if (!existsSync(keyFile)) {
    throw new NodeConfigError('node.keyFile', `the node key file ${keyFile} does not exist`, `Create one with \`openlora key new --out ${keyFile}\` (passphrase from OPENLORA_KEY_PASSPHRASE or --passphrase-file), or point --key-file (node.keyFile) at your keystore.`);
  }
  return loadAccount({ keyFile, passphrase: await resolvePassphrase({ passphraseFile: config.node.passphraseFile }) });
}

/** Stops the node on SIGINT/SIGTERM and exits once everything is closed. */
export function stopOnSignals(stop: () => Promise<void>): void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals) => {
    if (stopping) {
      process.stderr.write(`${signal} again: exiting now\n`);
      process.exit(130);
    }
    stopping = true;
    process.stderr.write(`${signal}: stopping (again to force)\n`);
    stop().then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`error while stopping: ${(error as Error).message}\n`);
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', handler);
  process.once('SIGTERM', handler);
}

/** `openlora node start`. */
export function registerNode(program: Command): void {
  const node = new Command('node').description('run an inference node');
  const start = new Command('start')
    .description('serve the OpenAI-compatible API for a base model and its adapters')
    .option('--model <dir>', 'base model directory (model.dir)')
    .addOption(new Option('--backend <kind>', 'engine backend (model.backend): auto, webgpu, cpu, reference').choices([...BACKEND_CHOICES]))
    .addOption(new Option('--quantize <type>', 'quantize weight matrices at load (model.quantize)').choices(['none', 'q8_0', 'q4_0', 'q4_k']))
    .addOption(new Option('--lora-dtype <dtype>', 'dtype adapter factors are held in (lora.dtype): auto (default: the base model\'s, f16 on a 16-bit or quantized model, else f32), f32, or f16 (split memory only)').choices([...LORA_DTYPE_SETTINGS]))
    .option('--host <host>', 'listen address (api.host)')
    .option('--port <port>', 'listen port (api.port)')
    .option('--data-dir <dir>', 'ledger, keys and adapter store (dataDir)')
    .option('--key-file <file>', 'node keystore (node.keyFile)')
    .option('--passphrase-file <file>', 'keystore passphrase file (node.passphraseFile; else OPENLORA_KEY_PASSPHRASE)')
    .option('--deployment <file>', 'contract deployment file (chain.deployment)')
    .action(async (options: NodeStartOptions) => {
      const config = await configFromOptions(options, { model: 'model.dir', backend: 'model.backend', quantize: 'model.quantize', loraDtype: 'lora.dtype', host: 'api.host', port: 'api.port', dataDir: 'dataDir', keyFile: 'node.keyFile', passphraseFile: 'node.passphraseFile', deployment: 'chain.deployment' });
      const running = await runNode(config);
      process.stdout.write(`openlora node listening on ${running.url} (node key ${running.address})\n`);
    });
  node.addCommand(addConfigOptions(start));
  program.addCommand(node);
}

/** Starts a node from a resolved configuration and stops it on signals. */
export async function runNode(config: Config): Promise<OpenloraNode> {
  const account = await nodeAccount(config);
  const deployment = config.chain.deployment ? await readDeployment(config.chain.deployment) : undefined;
  const node = await startNode(config, { account, deployment });
  stopOnSignals(() => node.stop());
  return node;
}
