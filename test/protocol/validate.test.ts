import { describe, expect, it } from 'vitest';
import { validateExportMsg } from '../../src/protocol/validate.ts';

describe('record validator', () => {
  it('accepts a Gatekeeper violation and ignores unknown fields', () => {
    const v = {
      id: 'x',
      eventType: 'violation_audited',
      name: 'c',
      resourceLabels: { a: 'b' },
      extra: 1,
    };
    expect(validateExportMsg(v)).toEqual({ ok: true, msg: v });
  });

  it('lists every wrong field with what was expected and what was found', () => {
    const r = validateExportMsg({
      name: 5,
      dryRun: 'yes',
      requestUserGroups: ['a', 1],
      resourceLabels: [],
    });
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.errors).toEqual(
        expect.arrayContaining([
          { field: 'name', expected: 'string', got: 'number' },
          { field: 'dryRun', expected: 'boolean', got: 'string' },
          { field: 'requestUserGroups[1]', expected: 'string', got: 'number' },
          { field: 'resourceLabels', expected: 'object of strings', got: 'array' },
        ]),
      );
    }
  });

  it('never throws, whatever the input', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    const hostile = new Proxy(
      {},
      {
        get: () => {
          throw new Error('boom');
        },
        ownKeys: () => {
          throw new Error('boom');
        },
      },
    );
    for (const v of [
      null,
      undefined,
      1,
      'x',
      [],
      () => 1,
      Symbol('s'),
      10n,
      { details: cyclic },
      hostile,
      { details: NaN },
    ]) {
      expect(() => validateExportMsg(v)).not.toThrow();
      expect(validateExportMsg(v).ok).toBe(false);
    }
  });
});
