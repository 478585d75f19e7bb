import { createRequire } from 'node:module';
import hardhatViem from '@nomicfoundation/hardhat-viem';
import { defineConfig } from 'hardhat/config';

const require = createRequire(import.meta.url);

/**
 * Hardhat 3 config. Solidity compiles offline with the npm `solc` package (soljson.js, WASM):
 * no compiler download. `evmVersion: cancun` keeps the bytecode deployable on any current EVM chain.
 */
export default defineConfig({
  plugins: [hardhatViem],
  solidity: {
    version: '0.8.37',
    path: require.resolve('solc/soljson.js'),
    settings: {
      evmVersion: 'cancun',
      optimizer: { enabled: true, runs: 1000 },
    },
  },
  paths: { sources: './contracts' },
});
