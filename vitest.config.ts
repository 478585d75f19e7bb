import { defineConfig } from 'vitest/config';

// Tests run real parts (WebGPU on lavapipe, Hardhat's in-process chain, libp2p over loopback):
// generous timeouts, and two workers for this project's 2-core machines.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 120_000,
    hookTimeout: 180_000,
    env: { OPENLORA_LOG_LEVEL: 'silent' },
  },
});
