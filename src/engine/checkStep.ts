/**
 * Validation of a step's sequences shared by the CPU backends: token ids in the vocabulary,
 * positions in the context, block tables covering every position with ids inside the pool,
 * targets and sampling parameters well-formed. Throws the `OPENLORA_ENGINE_*` errors.
 */
import type { ModelConfig } from '../model/config.ts';
import { KV_BLOCK_SIZE, type StepSequence } from './backend.ts';
import { EngineBlockTableError, EngineContextExceededError, EngineTokenOutOfRangeError } from './errors.ts';
import { validateSamplingParams } from './sampling.ts';

/** Parameters of {@link checkStepSequence}. */
export interface CheckStepSequenceParameters {
  config: ModelConfig;
  numKvBlocks: number;
  seq: StepSequence;
}

/** Throws when `seq` cannot run on a backend with `numKvBlocks` blocks. */
export function checkStepSequence(p: CheckStepSequenceParameters): void {
  const { config, numKvBlocks, seq } = p;
  const end = seq.startPos + seq.tokens.length;
  if (seq.tokens.length === 0) throw new EngineBlockTableError('a sequence has no tokens to run');
  if (!Number.isInteger(seq.startPos) || seq.startPos < 0) throw new EngineBlockTableError(`startPos ${seq.startPos} must be an integer >= 0`);
  if (end > config.maxPositionEmbeddings) throw new EngineContextExceededError(end, config.maxPositionEmbeddings);
  const needed = Math.ceil(end / KV_BLOCK_SIZE);
  if (seq.blockTable.length < needed) throw new EngineBlockTableError(`${seq.blockTable.length} blocks cover ${seq.blockTable.length * KV_BLOCK_SIZE} positions, the sequence needs ${end}`);
  for (let i = 0; i < needed; i++) {
    const b = seq.blockTable[i];
    if (!Number.isInteger(b) || b < 0 || b >= numKvBlocks) throw new EngineBlockTableError(`block id ${b} is outside the pool [0, ${numKvBlocks})`);
  }
  for (let i = 0; i < seq.tokens.length; i++) {
    const t = seq.tokens[i];
    if (!Number.isInteger(t) || t < 0 || t >= config.vocabSize) throw new EngineTokenOutOfRangeError(t, config.vocabSize);
  }
  if (seq.targets) {
    if (seq.targets.length !== seq.tokens.length) throw new EngineBlockTableError(`targets has ${seq.targets.length} entries for ${seq.tokens.length} tokens`);
    for (let i = 0; i < seq.targets.length; i++) {
      const t = seq.targets[i];
      if (!Number.isInteger(t) || t < 0 || t >= config.vocabSize) throw new EngineTokenOutOfRangeError(t, config.vocabSize);
    }
  }
  if (seq.sample) validateSamplingParams(seq.sample, config.vocabSize);
}
