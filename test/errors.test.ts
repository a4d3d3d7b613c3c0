// Error codes were plain strings at several call sites (sizes, durations, the options modules,
// the admission writer): a misspelt code compiled, and a caller branching on it never matched.
// They are now one closed union, ErrorCode; the type checker (npm test runs it over the tests)
// holds the @ts-expect-error lines below to account.
import { describe, expect, it } from 'vitest';
import { GkExportError, isGkExportError, type ErrorCode } from '../src/errors.ts';

describe('GkExportError codes', () => {
  it('accepts only codes of the ErrorCode union', () => {
    const ok = new GkExportError('ERR_LOCK_HELD', 'held');
    expect(ok.code).toBe('ERR_LOCK_HELD');
    // @ts-expect-error: no module throws this code
    const typo = new GkExportError('ERR_LOCK_HLED', 'held');
    expect(typo).toBeInstanceOf(GkExportError);
    // @ts-expect-error: a plain string is not a code
    new GkExportError('ERR_LOCK_HELD' as string, 'held');
  });

  it('narrows by code, and checks codes passed to isGkExportError', () => {
    const err: unknown = new GkExportError('ERR_INVALID_NAME', 'channel "a/b" contains "/"');
    expect(isGkExportError(err)).toBe(true);
    expect(isGkExportError(err, 'ERR_INVALID_NAME')).toBe(true);
    expect(isGkExportError(err, 'ERR_INVALID_AUDIT_ID')).toBe(false);
    expect(isGkExportError(new Error('x'))).toBe(false);
    // @ts-expect-error: not a code of the union
    expect(isGkExportError(err, 'ERR_NO_SUCH_CODE')).toBe(false);
    if (isGkExportError(err, 'ERR_INVALID_NAME')) {
      const code: 'ERR_INVALID_NAME' = err.code;
      expect(code).toBe('ERR_INVALID_NAME');
    }
    if (isGkExportError(err)) {
      const code: ErrorCode = err.code;
      expect(code).toBe('ERR_INVALID_NAME');
    }
  });
});
