import { describe, expect, it } from 'vitest';
import { otherBaseModel } from '../../src/lora/baseModel.ts';

describe('otherBaseModel', () => {
  it('matches a hub id or a path by its last segment, case-insensitively; no name matches', () => {
    expect(otherBaseModel('meta-llama/Llama-3.2-1B', '/models/llama-3.2-1b/')).toBeUndefined();
    expect(otherBaseModel('./model', '.openlora/dev/model')).toBeUndefined();
    expect(otherBaseModel(undefined, '/models/x')).toBeUndefined();
    expect(otherBaseModel('Qwen/Qwen2-0.5B', '/models/llama')).toBe('Qwen/Qwen2-0.5B');
  });
});
