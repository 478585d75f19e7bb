/**
 * What `src/dev/localChain.ts` becomes in the single binary: `openlora dev` runs Hardhat's node
 * from the repository's `node_modules` with its `hardhat.config.ts` (its compiler, plugins and
 * their native parts); none of that is in the binary, which deploys to any chain with the
 * contracts' bytecode instead (`openlora chain deploy`).
 */
import type { LocalChain } from '../dev/localChain.ts';
import { BinaryRepoOnlyError } from './errors.ts';

export type { LocalChain };

export async function startLocalChain(_p: { port: number; timeoutMs?: number; signal?: AbortSignal }): Promise<LocalChain> {
  throw new BinaryRepoOnlyError('`openlora dev`', 'its local chain is Hardhat\'s node, run from the repository\'s node_modules with hardhat.config.ts');
}
