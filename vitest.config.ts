import { defineConfig } from 'vitest/config';

// Tests run real parts (WebGPU on lavapipe, Hardhat's in-process chain, libp2p over loopback):
// two workers for this project's 2-core machines, and timeouts that only catch a hang: a test that
// takes 15 s idle took 120 s at load 20 (other processes on the same 2 cores), and a busy machine
// must not fail the suite.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 600_000,
    hookTimeout: 600_000,
    env: { OPENLORA_LOG_LEVEL: 'silent' },
  },
});
