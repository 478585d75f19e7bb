/**
 * Dawn writes some notices straight to the process's stderr (C `fprintf`, no callback, no toggle).
 * On the first adapter request of a Dawn instance, its `NormalizeLimits` (dawn/native/Limits.cpp)
 * prints "maxDynamicUniformBuffersPerPipelineLayout artificially reduced from 1000000 to 16 ..."
 * whenever the Vulkan driver reports more dynamic buffers than Dawn uses (Mesa's lavapipe does):
 * harmless, and printed on every run. This runs such a synchronous native call with fd 2 pointed
 * at a temporary file, then writes everything it printed back to stderr except those known lines,
 * so real driver errors still show.
 */
import { closeSync, openSync, readFileSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Notices of Dawn that say nothing a user can act on. */
const BENIGN = [/^Warning: maxDynamic(Uniform|Storage)BuffersPerPipelineLayout artificially reduced from \d+ to \d+ to fit dynamic offset allocation limit\.$/];

/** Runs `fn` (synchronous native code) with its stderr output filtered of Dawn's benign notices. */
export function filterNativeStderr<T>(fn: () => T): T {
  // fd 2 is swapped by reopening it through /proc (Node has no dup2): Linux only, and only when
  // fd 2 can be reopened (a file, pipe or terminal).
  if (process.platform !== 'linux') return fn();
  let saved: number;
  try {
    saved = openSync('/proc/self/fd/2', 'a');
  } catch {
    return fn();
  }
  const file = join(tmpdir(), `openlora-dawn-stderr-${process.pid}-${Date.now()}.log`);
  closeSync(2);
  const capture = openSync(file, 'w+', 0o600); // the lowest free descriptor: 2
  try {
    return fn();
  } finally {
    closeSync(capture);
    const restored = openSync(`/proc/self/fd/${saved}`, 'a'); // 2 again
    closeSync(saved);
    const printed = readFileSync(file, 'utf8');
    unlinkSync(file);
    const kept = printed.split('\n').filter((line) => line !== '' && !BENIGN.some((re) => re.test(line)));
    if (capture !== 2 || restored !== 2) kept.push(`openlora: stderr was not redirected as expected (descriptors ${capture}, ${restored})`);
    if (kept.length) process.stderr.write(kept.join('\n') + '\n');
  }
}
