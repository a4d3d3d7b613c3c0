import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { encodeExportMsg } from '../../src/protocol/encode.ts';
import type { ExportMsg } from '../../src/protocol/record.ts';

const FIXTURES = new URL('../fixtures/go-encoding/', import.meta.url);
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

// The fast path stringifies a canonical record (Go's field order, nothing empty, maps sorted)
// as it is; these are the cases that decide between it, a copy and the exact encoder.
describe('canonical encoder: choosing between the zero-copy path, a copy and the exact encoder', () => {
  const enc = (m: unknown) => encodeExportMsg(m as ExportMsg);

  it('gives the same bytes whichever order the fields come in', () => {
    cases.forEach((c, i) => {
      const reversed = Object.fromEntries(Object.entries(c.input).reverse());
      expect(enc(reversed), c.name).toBe(expected[i]);
    });
  });

  it('leaves out empty fields of a record otherwise in Go order', () => {
    expect(enc({ id: 'a', eventType: '', kind: 'K', message: 'm' })).toBe(
      '{"id":"a","kind":"K","message":"m"}',
    );
    expect(enc({ id: 'a', details: null, enforcementActions: [], resourceLabels: {} })).toBe(
      '{"id":"a"}',
    );
    expect(enc({ id: 'a', kind: undefined, message: 'm' })).toBe('{"id":"a","message":"m"}');
    expect(enc({ id: 'a', enforcementActions: [], requestUserGroups: [] })).toBe('{"id":"a"}');
    expect(enc({ id: 'a', constraintAnnotations: {}, resourceLabels: {} })).toBe('{"id":"a"}');
  });

  it('keeps an empty details object and an explicit dryRun: false', () => {
    expect(enc({ id: 'a', details: {}, dryRun: false })).toBe(
      '{"id":"a","details":{},"dryRun":false}',
    );
    expect(enc({ id: 'a', details: { x: {}, y: [] } })).toBe(
      '{"id":"a","details":{"x":{},"y":[]}}',
    );
    expect(enc({ id: 'a', dryRun: 'yes' })).toBe('{"id":"a"}');
  });

  it('drops unknown fields wherever they are', () => {
    expect(enc({ extra: 1, id: 'a', kind: 'K' })).toBe('{"id":"a","kind":"K"}');
    expect(enc({ id: 'a', extra: 'x', kind: 'K' })).toBe('{"id":"a","kind":"K"}');
    expect(enc({ id: 'a', kind: 'K', extra: true })).toBe('{"id":"a","kind":"K"}');
  });

  it('writes a record in Go order with fields missing as it is', () => {
    expect(enc({ eventType: 'violation', name: 'n', resourceKind: 'Pod', dryRun: true })).toBe(
      '{"eventType":"violation","name":"n","resourceKind":"Pod","dryRun":true}',
    );
  });

  it('sorts out-of-order string maps and details at every depth', () => {
    expect(
      enc({
        id: 'a',
        constraintAnnotations: { z: '1', a: '2' },
        resourceLabels: { b: 'x', a: 'y' },
      }),
    ).toBe(
      '{"id":"a","constraintAnnotations":{"a":"2","z":"1"},"resourceLabels":{"a":"y","b":"x"}}',
    );
    expect(enc({ details: { b: { d: 1, c: [{ z: 1, y: 2 }] }, a: 0 } })).toBe(
      '{"details":{"a":0,"b":{"c":[{"y":2,"z":1}],"d":1}}}',
    );
    // Sorted in one place, not in another: only the sorted parts are reused.
    expect(enc({ details: { a: { y: 1, x: 2 }, b: 1 } })).toBe(
      '{"details":{"a":{"x":2,"y":1},"b":1}}',
    );
    // In UTF-16 order but not in code point order (Go sorts UTF-8 bytes).
    expect(enc({ details: { '\u{1F600}': 1, '\uffff': 2 } })).toBe(
      '{"details":{"\uffff":2,"\u{1F600}":1}}',
    );
    const many = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`k${19 - i}`, `${i}`]));
    const sortedKeys = Object.keys(many).sort();
    expect(enc({ resourceLabels: many })).toBe(
      `{"resourceLabels":{${sortedKeys.map((k) => `"${k}":"${many[k]}"`).join(',')}}}`,
    );
  });

  it('sorts objects of the same keys alike, and others by their own keys', () => {
    // (Copies of out-of-order objects are cloned from a template kept per key order.)
    expect(enc({ details: { b: 1, a: 2 } })).toBe('{"details":{"a":2,"b":1}}');
    expect(enc({ details: { b: 3, a: 4 } })).toBe('{"details":{"a":4,"b":3}}');
    expect(enc({ details: { b: 1 } })).toBe('{"details":{"b":1}}');
    expect(enc({ details: { b: 1, a: 2, c: 3 } })).toBe('{"details":{"a":2,"b":1,"c":3}}');
    expect(enc({ details: { b: 1, c: 2, a: 3 } })).toBe('{"details":{"a":3,"b":1,"c":2}}');
    expect(enc({ details: { b: 1, c: 2 } })).toBe('{"details":{"b":1,"c":2}}');
    expect(enc({ details: { c: 1, b: 2, a: 3 } })).toBe('{"details":{"a":3,"b":2,"c":1}}');
    expect(enc({ details: { c: 1, b: 2 } })).toBe('{"details":{"b":2,"c":1}}');
    expect(enc({ details: { b: { b: 1, a: 2 }, a: [{ b: 3, a: 4 }] } })).toBe(
      '{"details":{"a":[{"a":4,"b":3}],"b":{"a":2,"b":1}}}',
    );
    expect(enc({ details: { b: -0, a: 1 } })).toBe('{"details":{"a":1,"b":-0}}');
  });

  it('orders integer-like keys as Go does, by their bytes', () => {
    expect(enc({ details: { a: 1, '10': 2, '9': 3 } })).toBe('{"details":{"10":2,"9":3,"a":1}}');
    expect(enc({ details: { '1': 'x', a: 'y' } })).toBe('{"details":{"1":"x","a":"y"}}');
    expect(enc({ id: 'a', resourceLabels: { '2': 'x', '10': 'y' } })).toBe(
      '{"id":"a","resourceLabels":{"10":"y","2":"x"}}',
    );
  });

  it('writes -0 wherever it is in details, and keeps a __proto__ key', () => {
    expect(enc({ id: 'a', details: { a: { b: [1, -0] } } })).toBe(
      '{"id":"a","details":{"a":{"b":[1,-0]}}}',
    );
    expect(enc({ id: 'a', details: -0 })).toBe('{"id":"a","details":-0}');
    expect(enc(JSON.parse('{"details":{"z":1,"__proto__":{"a":1}}}'))).toBe(
      '{"details":{"__proto__":{"a":1},"z":1}}',
    );
    expect(enc(JSON.parse('{"resourceLabels":{"__proto__":"x"}}'))).toBe(
      '{"resourceLabels":{"__proto__":"x"}}',
    );
  });

  it('escapes as Go does in a canonical record', () => {
    expect(enc({ id: 'a', message: '<a> & b\u2028c', resourceLabels: { 'x&y': '<z>' } })).toBe(
      '{"id":"a","message":"\\u003ca\\u003e \\u0026 b\\u2028c","resourceLabels":{"x\\u0026y":"\\u003cz\\u003e"}}',
    );
    expect(enc({ id: 'a', message: 'bad \ud800 pair', details: { k: '\udfff' } })).toBe(
      '{"id":"a","details":{"k":"\ufffd"},"message":"bad \ufffd pair"}',
    );
    expect(enc({ id: 'a', message: 'C:\\udir' })).toBe('{"id":"a","message":"C:\\\\udir"}');
  });

  it('reads a record with a prototype as the exact encoder does', () => {
    const m = Object.create({ message: 'inherited' }, { id: { value: 'a', enumerable: true } });
    expect(enc(m)).toBe('{"id":"a","message":"inherited"}');
  });

  // Bug: a record whose constraintAnnotations were out of order took the sorted-copy path even
  // when its resourceLabels were empty, had a key JS cannot keep in order or a non-string value:
  // `"resourceLabels":{}` was written (Go leaves it out) and `{"1":…," ":…}` kept JS's order.
  it('decides by the worst of both string maps when the first is only out of order', () => {
    const annotations = { b: '1', a: '2' };
    expect(enc({ id: 'a', constraintAnnotations: annotations, resourceLabels: {} })).toBe(
      '{"id":"a","constraintAnnotations":{"a":"2","b":"1"}}',
    );
    expect(
      enc({ id: 'a', constraintAnnotations: annotations, resourceLabels: { ' ': 'x', '1': 'y' } }),
    ).toBe(
      '{"id":"a","constraintAnnotations":{"a":"2","b":"1"},"resourceLabels":{" ":"x","1":"y"}}',
    );
  });
});
