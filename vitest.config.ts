import { defineConfig } from 'vitest/config';
import { SlowestFirstSequencer } from './test/sequencer.ts';

// Tests run real parts (WebGPU on lavapipe, Hardhat's in-process chain, libp2p over loopback):
// two workers for this project's 2-core machines, and timeouts that only catch a hang: a test that
// takes 15 s idle took 120 s at load 20 (other processes on the same 2 cores), and a busy machine
// must not fail the suite.
//
// `isolate: false`: each worker runs file after file in one process and loads a module (hardhat,
// viem, libp2p, the engine) once, not once per file: it cut the CPU time of the contract, chain,
// scheduler and p2p files by 30% (docs/testing.md). Files must therefore leave no state behind
// (close what they open, restore env and process.exitCode); the whole suite runs that way.
// The slowest files start first (test/sequencer.ts) so both workers end together.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    maxWorkers: 2,
    isolate: false,
    sequence: { sequencer: SlowestFirstSequencer },
    testTimeout: 600_000,
    hookTimeout: 600_000,
    // No kernel warm-up helper devices (test/engine/webgpu/warmup.test.ts tests them): with both
    // cores busy they only add CPU time, 3x a lavapipe warm-up's (docs/testing.md).
    env: { OPENLORA_LOG_LEVEL: 'silent', OPENLORA_WARMUP_HELPERS: '0' },
  },
});
