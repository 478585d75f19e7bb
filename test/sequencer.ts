/**
 * The order vitest starts test files in: the slowest first, so the two workers finish together
 * instead of one running a 35 s file alone at the end. vitest orders by its duration cache
 * (node_modules/.vite) when it has one; a fresh clone has none and vitest falls back to file size,
 * which put chain/abis (16 lines, 35 s) last. So the files below start first, slowest first, in
 * every run; the rest follow in vitest's own order.
 *
 * Seconds per file from out/vitest-report.json (endTime - startTime of each testResults entry) of
 * a whole `npm test`; refresh the list when a file's rank changes a lot. Only the order depends on
 * these numbers: a file missing here, or slower than listed, still runs and passes.
 */
import path from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

export const slowFiles: Record<string, number> = {
  'test/contracts/invariants.fuzz.test.ts': 100,
  'test/dev/dev.test.ts': 83,
  'test/engine/webgpu/architectures.test.ts': 70,
  'test/engine/webgpu/forward.test.ts': 58,
  'test/chain/abis.test.ts': 35,
  'test/node/webgpuAdapters.test.ts': 33,
  'test/engine/webgpu/lora/kernels.test.ts': 33,
  'test/engine/webgpu/lora.forward.test.ts': 29,
  'test/engine/webgpu/kernels.linear.fused.test.ts': 24,
  'test/grammar/masks.test.ts': 22,
  'test/api/structured.test.ts': 21,
  'test/model/quant/perplexity.test.ts': 20,
  'test/node/crash.test.ts': 19,
  'test/engine/webgpu/backend.test.ts': 19,
  'test/engine/webgpu/lora/pagePool.test.ts': 19,
  'test/binary/binary.test.ts': 17,
  'test/engine/webgpu/kernels.linear.test.ts': 17,
  'test/payments/vouchers.test.ts': 16,
  'test/cli/main.test.ts': 15,
  'test/ui/pages.test.ts': 15,
  'test/client/package.test.ts': 14,
  'test/engine/webgpu/kernels.linear.tiled.test.ts': 14,
  'test/engine/constrained.test.ts': 13,
  'test/node/p2p.test.ts': 12,
};

/** Starts the files of {@link slowFiles} first, slowest first; then vitest's order for the rest. */
export class SlowestFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const ordered = await super.sort(files);
    const seconds = (spec: TestSpecification) => slowFiles[path.relative(spec.project.config.root, spec.moduleId).split(path.sep).join('/')] ?? 0;
    return ordered.sort((a, b) => seconds(b) - seconds(a)); // stable: the rest keep vitest's order
  }
}
