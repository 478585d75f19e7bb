/**
 * What `src/ui/build.ts` becomes in the single binary: the pages were built by
 * `npm run build:binary` and ship as assets (src/ui/assets.ts reads them), so esbuild is not in it.
 */
import { BinaryRepoOnlyError } from './errors.ts';

export async function buildUi(): Promise<never> {
  throw new BinaryRepoOnlyError('Building the web pages', 'the binary carries them prebuilt');
}
