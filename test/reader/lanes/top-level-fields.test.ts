import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { topLevelStrings } from '../../../src/reader/top-level-fields.ts';

const KEYS = ['eventType', 'enforcementAction', 'kind', 'name', 'resourceNamespace'];

/** What JSON.parse says, for the keys whose values are strings (or absent). */
function parsed(line: string): Map<string, string> | 'other' {
  const m = JSON.parse(line) as Record<string, unknown>;
  const out = new Map<string, string>();
  for (const k of KEYS) {
    if (m[k] === undefined) continue;
    if (typeof m[k] !== 'string') return 'other';
    out.set(k, m[k]);
  }
  return out;
}

describe('top-level string fields without parsing', () => {
  const fixture = readFileSync(
    new URL('../../fixtures/go-encoding/expected.jsonl', import.meta.url),
    'utf8',
  )
    .split('\n')
    .filter(Boolean);

  it('agree with JSON.parse on every Go-encoded fixture line, or say "parse it"', () => {
    let answered = 0;
    for (const line of fixture) {
      const got = topLevelStrings(line, KEYS);
      if (got === undefined) continue;
      answered += 1;
      expect(got, line).toEqual(parsed(line));
    }
    expect(answered).toBeGreaterThan(fixture.length / 2);
  });

  it.each([
    ['{"details":{"kind":"inner","resourceNamespace":"x"},"kind":"Outer"}', { kind: 'Outer' }],
    [
      '{ "kind" : "A" , "resourceNamespace":"ns-1", "x": [1, {"kind": "no"}] }',
      { kind: 'A', resourceNamespace: 'ns-1' },
    ],
    ['{"kind":"A","kind":"B"}', { kind: 'B' }],
    ['{"name":"a}b,c","kind":"K"}', { name: 'a}b,c', kind: 'K' }],
    ['{"n":1e5,"b":true,"z":null,"kind":"K"}', { kind: 'K' }],
    ['{"x":"\\"kind\\":\\"no\\"","kind":"K"}', { kind: 'K' }],
  ])('reads %s', (line, want) => {
    expect(Object.fromEntries(topLevelStrings(line, KEYS)!)).toEqual(want);
    expect(Object.fromEntries(topLevelStrings(line, KEYS)!)).toEqual(
      Object.fromEntries(parsed(line) as Map<string, string>),
    );
  });

  it.each(['{"kind":"esc\\u0041ped"}', '{"kind":null}', '{"kind":3}', '{"ki\\u006ed":"K"}', '[1]'])(
    'leaves %s to JSON.parse',
    (line) => {
      expect(topLevelStrings(line, KEYS)).toBeUndefined();
    },
  );
});
