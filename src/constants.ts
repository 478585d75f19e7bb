/** Defaults shared across subsystems; each cites where its number comes from. */

/** Default data directory (ledger, keys, adapter store), relative to the working directory. */
export const DEFAULT_DATA_DIR = '.openlora';

/** Default HTTP API address. Loopback by default: exposing a node is an explicit choice. */
export const DEFAULT_API_HOST = '127.0.0.1';
export const DEFAULT_API_PORT = 8547;

/** Default local chain RPC (`hardhat node --hostname 127.0.0.1` listens on 8545). */
export const DEFAULT_RPC_URL = 'http://127.0.0.1:8545';

/** Lowest Node.js major that runs openlora (type stripping on by default from 22.18). */
export const MIN_NODE_MAJOR = 22;
