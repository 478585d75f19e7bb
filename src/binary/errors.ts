import { BaseError } from '../errors.ts';

/** The binary cannot extract its resources (shaders, Dawn's native module) to its cache directory. */
export class BinaryCacheError extends BaseError {
  override name = 'BinaryCacheError' as const;
  constructor(dir: string, problem: string, cause?: unknown) {
    super('OPENLORA_BINARY_CACHE_UNUSABLE', `The resource cache ${dir} ${problem}.`, {
      cause,
      hint: 'Set XDG_CACHE_HOME to a directory only you can write (the binary extracts its shaders and Dawn\'s native module there once).',
    });
  }
}

/** A command the single binary does not carry. */
export class BinaryRepoOnlyError extends BaseError {
  override name = 'BinaryRepoOnlyError' as const;
  constructor(what: string, why: string) {
    super('OPENLORA_BINARY_REPO_ONLY', `${what} runs only from the repository: ${why}.`, {
      hint: 'Clone the repository, run `npm install`, then `npx openlora dev` there.',
    });
  }
}
