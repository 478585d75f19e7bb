import { describe, expect, it } from 'vitest';
import { AbortedError, BaseError, InternalError, isBaseError } from '../src/errors.ts';
import { ConfigInvalidError } from '../src/config/errors.ts';
import { GpuAdapterNotFoundError } from '../src/gpu/errors.ts';

describe('BaseError', () => {
  it('carries code, short message, details, hint and cause, and renders them', () => {
    const cause = new Error('disk on fire');
    const error = new BaseError('OPENLORA_TEST_THING', 'The thing failed for "x".', { details: 'value: 3', hint: 'Do y.', cause, meta: { v: 3 } });
    expect(error.code).toBe('OPENLORA_TEST_THING');
    expect(error.shortMessage).toBe('The thing failed for "x".');
    expect(error.message).toBe('The thing failed for "x".\n\nDetails: value: 3\nHint: Do y.');
    expect(error.cause).toBe(cause);
    expect(error.toJSON()).toEqual({ code: 'OPENLORA_TEST_THING', name: 'BaseError', message: 'The thing failed for "x".', details: 'value: 3', hint: 'Do y.', meta: { v: 3 } });
    expect(error.walk((e) => e === cause)).toBe(cause);
  });

  it('subclasses keep a literal name, a stable code and instanceof', () => {
    const errors = [new AbortedError('loading'), new InternalError('bad state'), new GpuAdapterNotFoundError(), new ConfigInvalidError({ key: 'a.b', value: 1, problem: 'p', source: 'env', hint: 'h' })];
    expect(errors.map((e) => [e.name, e.code])).toEqual([
      ['AbortedError', 'OPENLORA_ABORTED'],
      ['InternalError', 'OPENLORA_INTERNAL'],
      ['GpuAdapterNotFoundError', 'OPENLORA_GPU_ADAPTER_NOT_FOUND'],
      ['ConfigInvalidError', 'OPENLORA_CONFIG_INVALID'],
    ]);
    for (const e of errors) {
      expect(e).toBeInstanceOf(BaseError);
      expect(isBaseError(e)).toBe(true);
      expect(isBaseError(e, e.code)).toBe(true);
      expect(isBaseError(e, 'OPENLORA_OTHER')).toBe(false);
    }
    expect(isBaseError(new Error('plain'))).toBe(false);
    expect(new GpuAdapterNotFoundError().message).toMatch(/Hint: Run `npm run setup`/);
  });
});
