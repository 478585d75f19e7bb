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
