import { isUtf8 } from 'node:buffer';
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { checkExportLine } from '../../src/protocol/line-check.ts';
import { checkExportLines } from '../../src/protocol/line-check-batch.ts';
import { LINE_CHECK_WASM } from '../../src/protocol/wasm/line-check.wasm.ts';
import { compileLineCheck } from '../../scripts/build-wasm.ts';
import { mutatedLines } from '../helpers/mutate.ts';

/** Checks `lines` both ways, packed in one buffer with `gap` bytes between them. */
function both(lines: string[], gap = '\n') {
  const buf = Buffer.from(lines.join(gap) + gap);
  const spans: { at: number; length: number }[] = [];
  let at = 0;
  for (const l of lines) {
    spans.push({ at, length: Buffer.byteLength(l) });
    at += Buffer.byteLength(l) + Buffer.byteLength(gap);
  }
  const fast: unknown[] = [];
  // (The result object is reused between calls: keep a copy.)
  checkExportLines(buf, spans, 0, spans.length, (i, check) => {
    expect(i).toBe(fast.length);
    fast.push(check && { ...check });
  });
  return lines.map((l, i) => ({
    line: l,
    reference: checkExportLine(buf.subarray(spans[i]!.at, spans[i]!.at + spans[i]!.length)),
    fast: fast[i],
  }));
}

function expectAgreement(lines: string[], gap?: string) {
  for (const { line, reference, fast } of both(lines, gap)) {
    if (reference.ok) expect(fast, line).toEqual(reference);
    else expect(fast, line).toBeUndefined();
  }
}

describe('WebAssembly line check', () => {
  it('extracts eventType, name and marker messages as the reference check does', () => {
    const [a, b, c] = both([
      '{"id":"x","eventType":"violation_audited","name":"c\\u00e9","message":"m"}',
      ' {"id":"x","message":"audit is started"} ',
      '{"eventType":"e","eventType":null,"name":"n","name":"n2"}',
    ]);
    expect(a!.fast).toEqual({
      ok: true,
      eventType: 'violation_audited',
      name: 'cé',
      message: undefined,
    });
    expect(b!.fast).toMatchObject({ ok: true, message: 'audit is started' });
    expect(c!.fast).toEqual(c!.reference);
  });

  it('accepts and rejects exactly what the reference check does', () => {
    const deep = (n: number) => '{"details":' + '['.repeat(n) + ']'.repeat(n) + '}';
    expectAgreement([
      '{"a":1e5,"b":-0.5E-3,"c":[true,false,null,{}],"d":{"e":[[]]}}',
      '{}',
      '{"details":"s"}',
      '{"name":null}',
      '[1,2]',
      '"s"',
      '{"name":5}',
      '{"dryRun":"y"}',
      '{"resourceLabels":{"a":1}}',
      '{"enforcementActions":["a",2]}',
      '{"requestUserGroups":["a",null]}',
      '{"constraintAnnotations":{"a":"b","c":null}}',
      '{"na\\u006de":5}',
      '{"a":1,}',
      '{"a":01}',
      '{"a":"\\x"}',
      '{"a":"\u0001"}',
      '{"a":"\u0000"}',
      '{"a":tru}',
      '{"a":"\\u12G4"}',
      '{',
      '',
      '{"a":"x"}\r',
      '{"a":"é€😀"}',
      deep(510),
      deep(511),
      deep(600),
    ]);
  });

  it('finds a quote, backslash or control character at every position of a long string', () => {
    // The string scan goes sixteen bytes a step: put the special byte at each offset.
    const lines: string[] = [];
    for (let k = 0; k < 40; k++) {
      const pad = 'p'.repeat(k);
      lines.push(`{"message":"${pad}\\"${'q'.repeat(40 - k)}"}`);
      lines.push(`{"message":"${pad}\u0002${'q'.repeat(40 - k)}"}`);
      lines.push(`{"message":"${pad}","name":"${'r'.repeat(k)}"}`);
      lines.push(`{"message":"${pad}\\u00e9\\n${'s'.repeat(k)}`);
    }
    expectAgreement(lines);
  });

  it('agrees with the reference check on a corpus of mutated records', () => {
    const base =
      '{"id":"2023-07-18T21:21:52Z","details":{"missing_labels":["test"]},"eventType":"violation_audited","name":"x","message":"audit is started","resourceLabels":{"a":"b"},"dryRun":false}';
    const lines = mutatedLines(base, 5000, {
      seed: 7,
      alphabet: '{}[]":,\\ ae0-.1tnuf\u0001é',
      edits: (k) => 1 + (k % 3),
    });
    const results = both(lines);
    // The corpus has both kinds, so a check that always said yes (or no) would fail.
    expect(results.filter((r) => r.reference.ok).length).toBeGreaterThan(1000);
    expect(results.filter((r) => !r.reference.ok).length).toBeGreaterThan(1000);
    for (const { line, reference, fast } of results) {
      if (reference.ok) expect(fast, line).toEqual(reference);
      else expect(fast, line).toBeUndefined();
    }
  });

  it('takes a key for the next field in Go order only when it is exactly that name', () => {
    // The check matches the key it expects next without scanning it: a key that only starts
    // like it, is cut short, escaped or out of order must still be judged as the reference does.
    expectAgreement([
      '{"id":"a","details":{},"eventType":"e","group":"g","version":"v","kind":"k","name":"n"}',
      '{"id":"a","detailsX":5,"eventType":"e"}',
      '{"id":"a","detail":5,"eventType":"e"}',
      '{"id":"a","details":5}',
      '{"id":"a","details"',
      '{"id":"a","details',
      '{"id":"a","det',
      '{"i\u0064":5}',
      '{"id":5}',
      '{"id" :"a", "eventType" : "e" ,"name":"n"}',
      '{"name":"n","id":"a","eventType":"e","name":7}',
      '{"eventType":"e","id":"a","eventType":"f"}',
      '{"dryRun":true,"id":"a","dryRun":"x"}',
      '{"requestUserGroups":["a"],"dryRun":false,"extra":1,"dryRun":1}',
      '{"id":"a","details":{"name":5,"eventType":[1]},"name":"n"}',
    ]);
  });

  it('takes exactly the lines that are valid UTF-8 as Node’s isUtf8 says, at every alignment', () => {
    // The check scans strings sixteen bytes a step and validates each non-ASCII sequence, so
    // that the reader needs no UTF-8 pass of its own: every kind of sequence, valid or not,
    // at each offset of the 16-byte step and cut by the line's end.
    const seqs = [
      [0xc3, 0xa9],
      [0xe2, 0x82, 0xac],
      [0xf0, 0x9f, 0x98, 0x80],
      [0xf4, 0x8f, 0xbf, 0xbf],
      [0xed, 0x9f, 0xbf],
      [0xee, 0x80, 0x80],
      [0xe0, 0xa0, 0x80],
      [0xf0, 0x90, 0x80, 0x80],
      [0xc0, 0x80],
      [0xc1, 0xbf],
      [0xe0, 0x80, 0x80],
      [0xe0, 0x9f, 0xbf],
      [0xed, 0xa0, 0x80],
      [0xed, 0xbf, 0xbf],
      [0xf0, 0x80, 0x80, 0x80],
      [0xf0, 0x8f, 0xbf, 0xbf],
      [0xf4, 0x90, 0x80, 0x80],
      [0xf5, 0x80, 0x80, 0x80],
      [0xff],
      [0x80],
      [0xbf],
      [0xc3],
      [0xe2, 0x82],
      [0xf0, 0x9f, 0x98],
      [0xc3, 0x28],
      [0xe2, 0x28, 0xac],
      [0xc3, 0xa9, 0xa9],
    ];
    const lines: Buffer[] = [];
    for (const seq of seqs) {
      for (let pad = 0; pad < 18; pad++) {
        const before = Buffer.from(`{"message":"${'m'.repeat(pad)}`);
        lines.push(Buffer.concat([before, Buffer.from(seq), Buffer.from('x"}')]));
        lines.push(Buffer.concat([before, Buffer.from(seq), Buffer.from('"}')]));
        // As a key, and outside any string (never valid there).
        lines.push(
          Buffer.concat([
            Buffer.from(`{"k${'m'.repeat(pad)}`),
            Buffer.from(seq),
            Buffer.from('":1}'),
          ]),
        );
        lines.push(
          Buffer.concat([
            Buffer.from(`{"k":1${' '.repeat(pad)}`),
            Buffer.from(seq),
            Buffer.from('}'),
          ]),
        );
      }
    }
    const buf = Buffer.concat(lines.flatMap((l) => [l, Buffer.from('\n')]));
    const spans: { at: number; length: number }[] = [];
    let at = 0;
    for (const l of lines) {
      spans.push({ at, length: l.length });
      at += l.length + 1;
    }
    const fast: boolean[] = [];
    checkExportLines(buf, spans, 0, spans.length, (_i, check) => fast.push(check !== undefined));
    const reference = lines.map((l) => isUtf8(l) && checkExportLine(l).ok);
    expect(reference.filter(Boolean).length).toBeGreaterThan(300);
    expect(reference.filter((ok) => !ok).length).toBeGreaterThan(300);
    for (let i = 0; i < lines.length; i++) {
      expect(fast[i], lines[i]!.toString('hex')).toBe(reference[i]);
    }
  });

  it('checks lines that lie anywhere in the buffer, with bytes between them', () => {
    expectAgreement(['{"name":"a"}', '{"name":1}', '{"eventType":"x"}'], '\n]garbage"\n');
  });

  const clang = spawnSync('clang', ['--version']).status === 0;
  const wasmLd = spawnSync('wasm-ld', ['--version']).status === 0;
  it.skipIf(!clang || !wasmLd)(
    'embeds exactly what line-check.c compiles to (needs clang and wasm-ld)',
    () => {
      expect(compileLineCheck().toString('base64')).toBe(LINE_CHECK_WASM);
    },
  );
});
