/**
 * The order vitest starts test files in: the slowest first, so the two workers finish together
 * instead of one running a 35 s file alone at the end. vitest orders by its duration cache
 * (node_modules/.vite) when it has one; a fresh clone has none and vitest falls back to file size,
 * which put chain/abis (16 lines, 35 s) last. So the files below start first, slowest first, in
 * every run; the rest follow in vitest's own order.
 *
 * Seconds per file from out/vitest-report.json (endTime - startTime of each testResults entry) of
 * a whole `npm test` (a quiet fresh-clone `bash .ci/run`; invariants.fuzz took 147 s there, ~0.7x
 * since its reads and sends got cheaper); refresh the list when a file's rank changes a lot. Only
 * the order depends on these numbers: a file missing here, or slower than listed, still runs and passes.
 */
import path from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

export const slowFiles: Record<string, number> = {
  'test/contracts/invariants.fuzz.test.ts': 100,
  'test/engine/webgpu/lora/kernels.test.ts': 60,
  'test/dev/dev.test.ts': 51,
  'test/chain/abis.test.ts': 38,
  'test/engine/webgpu/kernels.linear.rowgroups.test.ts': 30,
  'test/node/webgpuAdapters.test.ts': 27,
  'test/payments/vouchers.test.ts': 25,
  'test/client/package.test.ts': 22,
  'test/engine/webgpu/architectures.test.ts': 22,
  'test/engine/webgpu/kernels.linear.fused.test.ts': 21,
  'test/api/structured.test.ts': 20,
  'test/engine/webgpu/lora.forward.test.ts': 20,
  'test/ui/pages.test.ts': 18,
  'test/engine/webgpu/forward.test.ts': 18,
  'test/engine/webgpu/kernels.linear.test.ts': 16,
  'test/model/quant/perplexity.test.ts': 16,
  'test/grammar/masks.test.ts': 15,
  'test/node/crash.test.ts': 14,
  'test/binary/binary.test.ts': 13,
  'test/node/p2p.test.ts': 11,
  'test/engine/webgpu/backend.test.ts': 10,
  'test/engine/webgpu/lora/pagePool.test.ts': 10,
  'test/cli/main.test.ts': 9,
  'test/engine/cpu/forward.test.ts': 9,
};

/** Starts the files of {@link slowFiles} first, slowest first; then vitest's order for the rest. */
export class SlowestFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const ordered = await super.sort(files);
    const seconds = (spec: TestSpecification) => slowFiles[path.relative(spec.project.config.root, spec.moduleId).split(path.sep).join('/')] ?? 0;
    return ordered.sort((a, b) => seconds(b) - seconds(a)); // stable: the rest keep vitest's order
  }
}
