/**
 * Everything a user of `openlora dev` needs, in one place: `<dir>/env` (a shell file to source),
 * the dev accounts' keystores in `<dir>/keys/` and the passphrase that opens them. The dev keys
 * are Hardhat's public test keys: they exist only on the local chain `openlora dev` starts.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { toHex, type Address, type Hex } from 'viem';
import { mnemonicToAccount } from 'viem/accounts';
import { writeKeyFile } from '../keys/account.ts';
import { LIGHT_SCRYPT } from '../keys/keystore.ts';
import { DevNotRunError } from './errors.ts';
import { DEV_MNEMONIC, DEV_ROLES } from './accounts.ts';
import type { DevSession } from './run.ts';

/** Name of the env file in the dev directory. */
export const DEV_ENV_FILE = 'env';
/** Passphrase of the dev keystores (they hold public test keys). */
export const DEV_PASSPHRASE = 'openlora-dev';

/** The dev accounts by role, as file names in `<dir>/keys/`. */
export const DEV_KEY_ROLES: Readonly<Record<string, number>> = {
  deployer: DEV_ROLES.deployer,
  node: DEV_ROLES.node,
  payer: DEV_ROLES.payer,
  owner: DEV_ROLES.owner,
  'contributor-1': DEV_ROLES.contributors[0],
  'contributor-2': DEV_ROLES.contributors[1],
  'contributor-3': DEV_ROLES.contributors[2],
};

/** What the dev directory tells other commands (`--dev DIR` or `OPENLORA_DEV`). */
export interface DevDirectory {
  dir: string;
  session: DevSession;
  deploymentFile: string;
  attributionReports: string[];
  keysDir: string;
  passphraseFile: string;
}

function devAccount(role: string) {
  return mnemonicToAccount(DEV_MNEMONIC, { addressIndex: DEV_KEY_ROLES[role] });
}

/** The dev payer's private key (public: Hardhat's test mnemonic). */
export function devPrivateKey(role: string): Hex {
  return toHex(devAccount(role).getHdKey().privateKey!);
}

/** Writes `<dir>/keys/*.json`, `<dir>/keys/passphrase` and `<dir>/env`; returns the env file's path. */
export async function writeDevEnv(p: { dir: string }): Promise<string> {
  const dev = await readDevDirectory(p.dir);
  if (!dev) throw new DevNotRunError(p.dir);
  const { dir, session } = dev;
  const keysDir = join(dir, 'keys');
  // Replace only the files written here: anything else a user keeps in keys/ stays.
  const written = ['passphrase', ...Object.keys(DEV_KEY_ROLES).map((role) => `${role}.json`)];
  await Promise.all(written.map((f) => rm(join(keysDir, f), { force: true })));
  await mkdir(keysDir, { recursive: true });
  await writeFile(join(keysDir, 'passphrase'), `${DEV_PASSPHRASE}\n`, { mode: 0o600 });
  for (const role of Object.keys(DEV_KEY_ROLES)) {
    await writeKeyFile({ keyFile: join(keysDir, `${role}.json`), passphrase: DEV_PASSPHRASE, privateKey: devPrivateKey(role), scrypt: LIGHT_SCRYPT });
  }
  const address = (role: string): Address => devAccount(role).address;
  const lines = [
    '# openlora dev: source this file (`source .openlora/dev/env`); `openlora dev` rewrites it on every start.',
    '# Dev keys are Hardhat\'s public test keys: they exist only on this local chain. Never send value to them.',
    `export OPENLORA_DEV=${dir}`,
    `export OPENLORA_URL=${session.url}`,
    `export OPENLORA_ADMIN_TOKEN=${session.adminToken}`,
    `export OPENLORA_RPC_URL=${session.rpcUrl}`,
    `export OPENLORA_DEPLOYMENT=${join(dir, 'deployment.json')}`,
    `export OPENLORA_NODE_REGISTRY=${session.nodeRegistry}`,
    `export OPENLORA_CHANNEL_ID=${session.channelId}`,
    `export OPENLORA_PAYER_KEY=${devPrivateKey('payer')}`,
    `export OPENLORA_PAYER_ADDRESS=${address('payer')}`,
    `export OPENLORA_NODE_ADDRESS=${address('node')}`,
    `export OPENLORA_OWNER_ADDRESS=${address('owner')}`,
    ...[1, 2, 3].map((i) => `export OPENLORA_CONTRIBUTOR_${i}=${address(`contributor-${i}`)}`),
    `export OPENLORA_ATTRIBUTION=${dev.attributionReports.join(',')}`,
    `export OPENLORA_KEYS=${keysDir}`,
  ];
  const file = join(dir, DEV_ENV_FILE);
  await writeFile(file, lines.join('\n') + '\n');
  return file;
}

/** Reads what `openlora dev` left in `dir`, or undefined when it has not run there. */
export async function readDevDirectory(dir: string): Promise<DevDirectory | undefined> {
  const root = resolve(dir);
  const sessionFile = join(root, 'session.json');
  if (!existsSync(sessionFile)) return undefined;
  const session = JSON.parse(await readFile(sessionFile, 'utf8')) as DevSession;
  const index = join(root, 'attribution', 'attribution-index.json');
  const attributionReports = existsSync(index) ? (JSON.parse(await readFile(index, 'utf8')) as Array<{ reportFile: string }>).map((a) => a.reportFile) : [];
  return { dir: root, session, deploymentFile: join(root, 'deployment.json'), attributionReports, keysDir: join(root, 'keys'), passphraseFile: join(root, 'keys', 'passphrase') };
}
