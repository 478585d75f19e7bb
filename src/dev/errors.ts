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
