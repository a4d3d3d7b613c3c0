import { describe, expect, it } from 'vitest';
import { jsonStringAt } from '../../src/protocol/json-string.ts';

/** The text of the JSON string `s` (its content between the quotes) through the cache. */
function at(json: string, escaped = false): string {
  const b = Buffer.from(`x${json}x`);
  return jsonStringAt(b, 2, b.length - 2, escaped);
}

describe('jsonStringAt', () => {
  it('tells apart cached values of one length that differ anywhere, first or last byte', () => {
    const names = ['constraint-1', 'constraint-2', 'Constraint-1', 'constraint-X', 'constrXint-1'];
    for (let round = 0; round < 3; round++) {
      for (const n of names) expect(at(`"${n}"`)).toBe(n);
    }
    expect(at('""')).toBe('');
    expect(at('"a"')).toBe('a');
    expect(at('""')).toBe('');
  });

  it('decodes escapes, never from the cache', () => {
    expect(at('"c\\u00e9"', true)).toBe('cé');
    expect(at('"c\\u00e8"', true)).toBe('cè');
  });
});
