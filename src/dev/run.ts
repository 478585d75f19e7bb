import { randomBytes } from 'node:crypto';
import type { BackendChoice } from '../engine/chooseBackend.ts';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Address, Hex } from 'viem';
import { mnemonicToAccount } from 'viem/accounts';
import { publishDevAttribution } from '../attribution/dev.ts';
import { createChainClients } from '../chain/clients.ts';
import { devDeploy } from '../chain/deploy.ts';
import { waitForSuccess } from '../chain/waitForSuccess.ts';
import { writeDeployment, type Deployment } from '../chain/deployment.ts';
import { nodeRegistryAbi, testTokenAbi } from '../chain/generated/abis.ts';
import { openChannel } from '../client/channel.ts';
import { loadConfig } from '../config/load.ts';
import { createLogger } from '../log.ts';
import { createAdapter } from '../lora/create.ts';
import { createModel } from '../model/create.ts';
import { startNode, type OpenloraNode } from '../node/create.ts';
import { lockDataDir } from '../node/dataDirLock.ts';
import { DEV_MNEMONIC, DEV_ROLES } from './accounts.ts';
import { DEV_ENV_FILE } from './envFile.ts';
import { clearDevDir } from './devDir.ts';
import { startLocalChain, type LocalChain } from './localChain.ts';

export { DEV_MNEMONIC, DEV_ROLES };

/** What `openlora chat --dev DIR` needs to pay the dev node. */
export interface DevSession {
  url: string;
  rpcUrl: string;
  chainId: number;
  channelId: Hex;
  /** Account index of the payer in DEV_MNEMONIC. */
  payerIndex: number;
  nodeRegistry: Address;
  adapters: Array<{ name: string; contentId: Hex; laneId: Hex; root: Hex | null }>;
  /** Bearer token of the node's /admin API and of the operator page's admin parts (new each run). */
  adminToken: string;
}

export interface RunDevParameters {
  /** Working directory (model, adapters, deployment, ledger). */
  dir: string;
  port: number;
  chainPort: number;
  backend: BackendChoice;
  /** Progress lines. */
  onProgress?: (line: string) => void;
}

export interface DevEnvironment {
  node: OpenloraNode;
  chain: LocalChain;
  deployment: Deployment;
  session: DevSession;
  stop(): Promise<void>;
}

const ADAPTERS = [
  { name: 'poet', rank: 8, seed: 101 },
  { name: 'coder', rank: 16, seed: 102 },
  { name: 'analyst', rank: 4, seed: 103 },
] as const;

/**
 * The embedded default: a local chain with the contracts, the tiny model and three adapters, a
 * Datanet with real computed attribution roots, a staked node in paid mode and a funded dev payer
 * with an open channel.
 */
export async function runDev(p: RunDevParameters): Promise<DevEnvironment> {
  const log = createLogger({ name: 'dev' });
  const say = p.onProgress ?? ((line: string) => log.info(line));
  const dir = resolve(p.dir);
  // One `openlora dev` per directory; everything it writes stays inside it.
  const lock = lockDataDir({ dir, name: 'dev.lock', what: '`openlora dev`' });
  const account = (i: number) => mnemonicToAccount(DEV_MNEMONIC, { addressIndex: i });
  let chain: LocalChain | undefined;
  let node: OpenloraNode | undefined;
  try {
    // Every run starts a new chain: what named the last one (contracts, Datanet ids, channels, the
    // node's ledger) is stale. The model and adapters are kept.
    await clearDevDir(dir, chainState());
    say(`starting a local chain on 127.0.0.1:${p.chainPort}`);
    chain = await startLocalChain({ port: p.chainPort });
    const rpcUrl = chain.rpcUrl;
    const clients = async (i: number) => {
      const c = await createChainClients({ rpcUrl, account: account(i) });
      return { publicClient: c.publicClient, walletClient: c.walletClient! };
    };
    const deployer = await clients(DEV_ROLES.deployer);
    say('deploying the contracts');
    const deployment = await devDeploy({
      walletClient: deployer.walletClient,
      publicClient: deployer.publicClient,
      treasury: account(DEV_ROLES.treasury).address,
      fund: [DEV_ROLES.node, DEV_ROLES.payer, DEV_ROLES.owner, ...DEV_ROLES.contributors].map((i) => account(i).address),
    });
    const deploymentFile = join(dir, 'deployment.json');
    await writeDeployment(deploymentFile, deployment);

    const modelDir = join(dir, 'model');
    if (!existsSync(join(modelDir, 'config.json'))) {
      say('creating the tiny model');
      await createModel({ preset: 'tiny', seed: 1, dtype: 'f32', out: modelDir });
    }
    const adapterDirs: string[] = [];
    for (const a of ADAPTERS) {
      const out = join(dir, 'adapters', a.name);
      if (!existsSync(join(out, 'adapter_config.json'))) {
        say(`creating adapter ${a.name} (rank ${a.rank})`);
        await createAdapter({ model: modelDir, rank: a.rank, seed: a.seed, out });
      }
      adapterDirs.push(out);
    }

    say('publishing the sample Datanet and computing attribution roots');
    const owner = await clients(DEV_ROLES.owner);
    const contributors = await Promise.all(DEV_ROLES.contributors.map(async (i) => (await clients(i)).walletClient));
    const attribution = await publishDevAttribution({ publicClient: owner.publicClient, deployment, owner: owner.walletClient, contributors, model: modelDir, adapters: adapterDirs, dir: join(dir, 'attribution'), backend: 'cpu' });

    const dataDir = join(dir, 'node');
    const adminToken = randomBytes(16).toString('hex');
    const config = loadConfig({
      overrides: {
        dataDir,
        'node.name': 'tiny',
        'model.dir': modelDir,
        'model.backend': p.backend,
        'api.port': p.port,
        'chain.rpcUrl': rpcUrl,
        'payments.mode': 'paid',
        'payments.settleEpochMs': 60_000,
        'payments.settleThreshold': '1',
        'lora.adapters': ADAPTERS.map((a, i) => ({ path: adapterDirs[i], name: a.name, owner: account(DEV_ROLES.owner).address })),
        // The pages: the operator's admin parts, and the contributors' RPC and published reports.
        'api.adminToken': adminToken,
        'ui.rpcUrl': rpcUrl,
        'attribution.reports': attribution.adapters.filter((a) => a.root).map((a) => a.reportFile),
      },
    });
    say(`starting the node (${p.backend} backend, paid mode)`);
    node = await startNode(config, { account: account(DEV_ROLES.node), deployment });

    const nodeClients = await clients(DEV_ROLES.node);
    const minStake = await nodeClients.publicClient.readContract({ address: deployment.contracts.nodeRegistry, abi: nodeRegistryAbi, functionName: 'minStake' });
    await waitForSuccess(nodeClients.publicClient, await nodeClients.walletClient.writeContract({ address: deployment.contracts.token, abi: testTokenAbi, functionName: 'approve', args: [deployment.contracts.nodeRegistry, minStake], chain: nodeClients.walletClient.chain }));
    await waitForSuccess(nodeClients.publicClient, await nodeClients.walletClient.writeContract({ address: deployment.contracts.nodeRegistry, abi: nodeRegistryAbi, functionName: 'register', args: [minStake, node.url, []], chain: nodeClients.walletClient.chain }));

    const payer = await clients(DEV_ROLES.payer);
    const { channelId } = await openChannel({ ...payer, deployment }, { node: account(DEV_ROLES.node).address, amount: 100n * 10n ** 18n, withdrawDelay: 3600n });
    const session: DevSession = {
      url: node.url,
      rpcUrl,
      chainId: deployment.chainId,
      channelId,
      payerIndex: DEV_ROLES.payer,
      nodeRegistry: deployment.contracts.nodeRegistry,
      adapters: ADAPTERS.map((a, i) => ({ name: a.name, contentId: attribution.adapters[i].contentId, laneId: attribution.adapters[i].adapterId, root: attribution.adapters[i].root })),
      adminToken,
    };
    await writeFile(join(dir, 'session.json'), JSON.stringify(session, null, 2) + '\n');
    const running = node;
    const localChain = chain;
    return {
      node: running,
      chain: localChain,
      deployment,
      session,
      async stop() {
        try {
          await running.stop();
          await localChain.stop();
        } finally {
          lock.release();
        }
      },
    };
  } catch (error) {
    await node?.stop().catch(() => undefined);
    await chain?.stop();
    lock.release();
    throw error;
  }
}

/** What `openlora dev` derives from its chain, removed at each start (the chain is new every run). A function: envFile.ts imports this module. */
const chainState = () => ['deployment.json', 'session.json', DEV_ENV_FILE, 'attribution', 'node'];
