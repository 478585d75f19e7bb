import { join, resolve } from 'node:path';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { Command } from 'commander';
import { loadOrCreatePeerKey } from '../../p2p/peerKey.ts';
import { addConfigOptions, configFromOptions, type ConfigOptions } from '../options.ts';

/** `openlora peer id`: this node's libp2p identity (created on first use), for bootstrap lists. */
export function registerPeer(program: Command): void {
  const peer = new Command('peer').description('the node\'s libp2p identity');
  const id = new Command('id')
    .description('print the peer id of the node\'s persistent libp2p key (p2p.peerKeyFile, default <dataDir>/peer-key), creating the key if absent')
    .option('--json', 'print { peerId, keyFile, multiaddrs } as JSON')
    .action(async (options: ConfigOptions & { json?: boolean }) => {
      const config = await configFromOptions(options);
      const keyFile = config.p2p.peerKeyFile ?? join(resolve(config.dataDir), 'peer-key');
      const peerId = peerIdFromPrivateKey(await loadOrCreatePeerKey(keyFile)).toString();
      // What others put in p2p.bootstrap: each listen/announce address with /p2p/<peer id>.
      const multiaddrs = (config.p2p.announce.length ? config.p2p.announce : config.p2p.listen).filter((a) => !a.endsWith('/tcp/0')).map((a) => `${a}/p2p/${peerId}`);
      process.stdout.write(options.json ? JSON.stringify({ peerId, keyFile, multiaddrs }, null, 2) + '\n' : `${peerId}\n${multiaddrs.map((m) => `  ${m}\n`).join('')}`);
    });
  peer.addCommand(addConfigOptions(id));
  program.addCommand(peer);
}
