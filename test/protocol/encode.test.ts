import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { encodeExportMsg } from '../../src/protocol/encode.ts';
import type { ExportMsg } from '../../src/protocol/record.ts';

const FIXTURES = new URL('../../../shared/fixtures/go-encoding/', import.meta.url);
const cases = readFileSync(new URL('cases.jsonl', FIXTURES), 'utf8')
  .split('\n')
  .filter(Boolean)
  .map((l) => JSON.parse(l) as { name: string; input: ExportMsg });
const expected = readFileSync(new URL('expected.jsonl', FIXTURES), 'utf8').split('\n');

describe('canonical encoder (Go encoding/json compatible)', () => {
  it('has one expected line per case', () => {
    expect(cases.length).toBeGreaterThan(20);
    expect(expected.filter(Boolean)).toHaveLength(cases.length);
  });

  cases.forEach((c, i) => {
    it(`reproduces Go's bytes for ${c.name}`, () => {
      expect(Buffer.from(encodeExportMsg(c.input))).toEqual(Buffer.from(expected[i]!));
    });
  });

  it('is stable: encoding its own output again gives the same bytes', () => {
    for (const c of cases) {
      const once = encodeExportMsg(c.input);
      expect(encodeExportMsg(JSON.parse(once) as ExportMsg)).toBe(once);
    }
  });

  it('sorts map keys by code point, as Go sorts UTF-8 bytes', () => {
    const out = encodeExportMsg({
      resourceLabels: { '\uffff': 'a', '\u{1F600}': 'b', z: 'c', '10': 'd', '9': 'e' },
    });
    expect(out).toBe('{"resourceLabels":{"10":"d","9":"e","z":"c","\uffff":"a","\u{1F600}":"b"}}');
  });

  it('writes -0 as Go does and refuses NaN with a stable code', () => {
    expect(encodeExportMsg({ details: { x: -0 } })).toBe('{"details":{"x":-0}}');
    expect(() => encodeExportMsg({ details: { x: NaN } })).toThrow(
      expect.objectContaining({ code: 'ERR_UNSUPPORTED_VALUE' }),
    );
  });
});
