import { describe, expect, it } from 'vitest';
import { checkExportLine } from '../../src/protocol/line-check.ts';
import { mutatedLines } from '../helpers/mutate.ts';

const check = (s: string) => checkExportLine(Buffer.from(s));

describe('byte-level line check', () => {
  it('accepts what JSON.parse accepts, and extracts eventType, name and marker messages', () => {
    expect(
      check('{"id":"x","eventType":"violation_audited","name":"c\\u00e9","message":"m"}'),
    ).toEqual({
      ok: true,
      eventType: 'violation_audited',
      name: 'cé',
      message: undefined,
    });
    expect(check(' {"id":"x","message":"audit is started"} ')).toMatchObject({
      ok: true,
      message: 'audit is started',
    });
  });

  it.each([
    '{"a":1,}',
    '{"a":01}',
    '{"a":1.}',
    '{"a":-}',
    '{"a":"\\x"}',
    '{"a":"\u0001"}',
    '{"a":tru}',
    '{"a" 1}',
    '{"a":1}}',
    '{"a":[1,]}',
    '{"a":"\\u12G4"}',
    '{',
    '',
  ])('rejects invalid JSON %j exactly where JSON.parse does', (s) => {
    expect(() => JSON.parse(s)).toThrow();
    expect(check(s)).toMatchObject({ ok: false, code: 'invalid_json' });
  });

  it.each([
    '{"a":1e5,"b":-0.5E-3,"c":[true,false,null,{}],"d":{"e":[[]]}}',
    '{}',
    '{"details":"s"}',
    '{"name":null}',
  ])('accepts valid JSON %j like JSON.parse', (s) => {
    expect(() => JSON.parse(s)).not.toThrow();
    expect(check(s).ok).toBe(true);
  });

  it('tells a non-object from invalid JSON', () => {
    expect(check('[1,2]')).toMatchObject({ ok: false, code: 'not_an_object' });
    expect(check('"s"')).toMatchObject({ ok: false, code: 'not_an_object' });
  });

  it('names each field of the wrong type', () => {
    expect(check('{"name":5,"dryRun":"y","resourceLabels":{"a":1}}')).toMatchObject({
      ok: false,
      code: 'wrong_field_type',
    });
    expect(check('{"enforcementActions":["a",2]}')).toMatchObject({
      reason: 'enforcementActions[1]: expected string, got number',
    });
  });

  it('agrees with JSON.parse on a corpus of mutated records', () => {
    const base =
      '{"id":"2023-07-18T21:21:52Z","details":{"missing_labels":["test"]},"eventType":"violation_audited","name":"x","resourceLabels":{"a":"b"}}';
    for (const s of mutatedLines(base, 3000, { seed: 1, alphabet: '{}[]":,\\ ae0-.1tnuf' })) {
      let parsed: unknown;
      let valid = true;
      try {
        parsed = JSON.parse(s);
      } catch {
        valid = false;
      }
      const r = check(s);
      if (!valid) expect(r, s).toMatchObject({ ok: false, code: 'invalid_json' });
      else if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
        expect(r, s).toMatchObject({ ok: false, code: 'not_an_object' });
      } else expect(r.ok || r.code === 'wrong_field_type', s).toBe(true);
    }
  });
});
