import { BaseError } from '../errors.ts';

/** The local chain of `openlora dev` did not start. */
export class DevChainError extends BaseError {
  override name = 'DevChainError' as const;
  constructor(problem: string, output: string) {
    super('OPENLORA_DEV_CHAIN', `The local chain did not start: ${problem}.`, {
      details: output.split('\n').slice(-8).join('\n'),
      hint: 'Is the port taken by another chain? Pass --chain-port N, or stop the other process.',
    });
  }
}

/** A command was pointed at a dev directory where `openlora dev` has not run. */
export class DevNotRunError extends BaseError {
  override name = 'DevNotRunError' as const;
  constructor(dir: string) {
    super('OPENLORA_DEV_NOT_RUN', `No \`openlora dev\` session in ${dir} (no session.json).`, {
      hint: `Start \`openlora dev --dir ${dir}\` in another terminal first (or pass the --dev DIR it uses).`,
    });
  }
}

/** File `openlora dev` keeps in its directory: a directory holding it (or a session.json) is dev's own to clear. */
export const DEV_DIR_MARKER = '.openlora-dev';

/** `openlora dev --dir DIR` would delete entries of a directory it did not make. */
export class DevDirForeignError extends BaseError {
  override name = 'DevDirForeignError' as const;
  constructor(dir: string, entries: readonly string[]) {
    const paths = entries.map((e) => `${dir}/${e}`);
    super('OPENLORA_DEV_DIR_FOREIGN', `\`openlora dev\` clears ${paths.join(', ')} on every start, but ${dir} was not made by it (no ${DEV_DIR_MARKER} or session.json): nothing was deleted.`, {
      hint: `Pass a new --dir, or move them away (mkdir -p ${dir}.bak && mv ${paths.join(' ')} ${dir}.bak/).`,
      meta: { dir, entries },
    });
  }
}
