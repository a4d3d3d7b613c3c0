/**
 * Checks one export line as bytes, without building objects: JSON syntax (RFC 8259), that
 * the top level is an object, and that every known ExportMsg field has Gatekeeper's type.
 * This is the reference check, which explains what is wrong with a line; the reader's hot path
 * runs the same check compiled to WebAssembly (line-check-batch.ts) and comes here only for
 * the lines it rejects.
 */

import { decodeJsonString, jsonStringAt } from './json-string.ts';
import { Expect, EXPECT_NAME, knownField } from './line-check-fields.ts';

// Value kinds found while scanning.
const K_STRING = 1;
const K_NUMBER = 2;
const K_OBJECT = 3;
const K_ARRAY = 4;
const K_BOOL = 5;
const K_NULL = 6;
const KIND_NAME = ['', 'string', 'number', 'object', 'array', 'boolean', 'null'];

/** The outcome of checking a line. */
export type LineCheck =
  | {
      readonly ok: true;
      /**
       * Top-level `eventType` and `name` (undefined when absent or null), and `message` when
       * there is no `eventType` (the run markers).
       */
      readonly eventType: string | undefined;
      readonly message: string | undefined;
      readonly name: string | undefined;
    }
  | {
      readonly ok: false;
      readonly code: 'invalid_json' | 'not_an_object' | 'wrong_field_type';
      readonly reason: string;
    };

class Bad extends Error {
  readonly code: 'invalid_json' | 'wrong_field_type';
  constructor(code: 'invalid_json' | 'wrong_field_type', message: string) {
    super(message);
    this.code = code;
  }
}

const MAX_DEPTH = 512;
// Scan results that are not the position. The position is passed
// in and returned as a plain number: module-level `let` variables are slow in per-byte loops
// (every access is a context load with a hole check), locals stay in registers.
let strStart = 0;
let strEscaped = false;
/** Kind of the value the last `value()` call scanned. */
let KIND = 0;

function fail(what: string, at: number): never {
  throw new Bad('invalid_json', `${what} at byte ${at}`);
}

function ws(b: Buffer, i: number, n: number): number {
  while (i < n) {
    const c = b[i]!;
    if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) i++;
    else break;
  }
  return i;
}

function isHex(h: number | undefined): boolean {
  return (
    h !== undefined &&
    ((h >= 0x30 && h <= 0x39) || (h >= 0x41 && h <= 0x46) || (h >= 0x61 && h <= 0x66))
  );
}

/** Bytes that end a run of plain string content: `"`, `\\` and control characters. */
const STOP = new Uint8Array(256);
for (let c = 0; c < 0x20; c++) STOP[c] = 1;
STOP[0x22] = 1;
STOP[0x5c] = 1;

/** Scans a string whose opening quote is at i; returns the index after the closing quote. */
function string(b: Buffer, i: number, n: number): number {
  i++;
  strStart = i;
  let escaped = false;
  for (;;) {
    // Plain content is most of a line: one table lookup a byte (measured faster than
    // unrolling or a chain of comparisons).
    while (i < n && STOP[b[i]!] === 0) i++;
    if (i >= n) fail('unterminated string', i);
    const c = b[i]!;
    if (c === 0x22) break;
    if (c !== 0x5c) fail('control character in string', i);
    escaped = true;
    const e = b[i + 1];
    if (e === 0x75) {
      if (!(isHex(b[i + 2]) && isHex(b[i + 3]) && isHex(b[i + 4]) && isHex(b[i + 5]))) {
        fail('bad \\u escape', i);
      }
      i += 6;
    } else if (
      e === 0x22 ||
      e === 0x5c ||
      e === 0x2f ||
      e === 0x62 ||
      e === 0x66 ||
      e === 0x6e ||
      e === 0x72 ||
      e === 0x74
    ) {
      i += 2;
    } else fail('bad escape', i);
  }
  strEscaped = escaped;
  return i + 1;
}

function digits(b: Buffer, i: number, n: number): number {
  const s = i;
  while (i < n && b[i]! >= 0x30 && b[i]! <= 0x39) i++;
  if (i === s) fail('bad number', i);
  return i;
}

function number(b: Buffer, i: number, n: number): number {
  if (b[i] === 0x2d) i++;
  if (b[i] === 0x30) i++;
  else i = digits(b, i, n);
  if (b[i] === 0x2e) i = digits(b, i + 1, n);
  if (b[i] === 0x65 || b[i] === 0x45) {
    i++;
    if (b[i] === 0x2b || b[i] === 0x2d) i++;
    i = digits(b, i, n);
  }
  return i;
}

function literal(b: Buffer, i: number, text: string, kind: number): number {
  for (let k = 0; k < text.length; k++) {
    if (b[i + k] !== text.charCodeAt(k)) fail('bad literal', i);
  }
  KIND = kind;
  return i + text.length;
}

/**
 * Scans any value at i and returns the index after it (its kind in KIND). `stringsOf` (a
 * field name) requires array elements / object values to be strings.
 */
function value(
  b: Buffer,
  i: number,
  n: number,
  depth: number,
  stringsOf: string | undefined,
): number {
  if (i >= n) fail('unexpected end', i);
  const c = b[i]!;
  if (c === 0x22) {
    KIND = K_STRING;
    return string(b, i, n);
  }
  if (c === 0x7b || c === 0x5b) return container(b, i, n, depth, stringsOf);
  if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
    KIND = K_NUMBER;
    return number(b, i, n);
  }
  if (c === 0x74) return literal(b, i, 'true', K_BOOL);
  if (c === 0x66) return literal(b, i, 'false', K_BOOL);
  if (c === 0x6e) return literal(b, i, 'null', K_NULL);
  return fail('unexpected character', i);
}

function container(
  b: Buffer,
  i: number,
  n: number,
  depth: number,
  stringsOf: string | undefined,
): number {
  if (depth > MAX_DEPTH) fail('nesting too deep', i);
  const isObject = b[i] === 0x7b;
  const close = isObject ? 0x7d : 0x5d;
  const kind = isObject ? K_OBJECT : K_ARRAY;
  i = ws(b, i + 1, n);
  if (b[i] === close) {
    KIND = kind;
    return i + 1;
  }
  let idx = 0;
  for (;;) {
    // The key is decoded only to name it in an error.
    let keyStart = 0;
    let keyEnd = 0;
    let keyEscaped = false;
    if (isObject) {
      if (b[i] !== 0x22) fail('expected a key', i);
      i = string(b, i, n);
      keyStart = strStart;
      keyEnd = i - 1;
      keyEscaped = strEscaped;
      i = ws(b, i, n);
      if (b[i] !== 0x3a) fail("expected ':'", i);
      i = ws(b, i + 1, n);
    }
    i = value(b, i, n, depth + 1, undefined);
    if (stringsOf && KIND !== K_STRING && KIND !== K_NULL) {
      const where = isObject
        ? `${stringsOf}.${decodeJsonString(b, keyStart, keyEnd, keyEscaped)}`
        : `${stringsOf}[${idx}]`;
      throw new Bad('wrong_field_type', `${where}: expected string, got ${KIND_NAME[KIND]}`);
    }
    idx++;
    i = ws(b, i, n);
    if (b[i] === 0x2c) {
      i = ws(b, i + 1, n);
      continue;
    }
    if (b[i] === close) {
      KIND = kind;
      return i + 1;
    }
    fail(isObject ? "expected ',' or '}'" : "expected ',' or ']'", i);
  }
}

/**
 * Checks a line (UTF-8 bytes, no newline). Assumes the bytes are valid UTF-8 (checked before).
 *
 * @example
 * ```ts
 * const r = checkExportLine(Buffer.from('{"id":"x","name":5}'));
 * // { ok: false, code: 'wrong_field_type', reason: 'name: expected string, got number' }
 * ```
 */
export function checkExportLine(line: Buffer): LineCheck {
  try {
    return record(line, line.length);
  } catch (err) {
    if (err instanceof Bad) return { ok: false, code: err.code, reason: err.message };
    throw err;
  }
}

function record(b: Buffer, n: number): LineCheck {
  let i = ws(b, 0, n);
  if (b[i] !== 0x7b) {
    i = ws(b, value(b, i, n, 1, undefined), n);
    if (i !== n) fail('trailing characters', i);
    return {
      ok: false,
      code: 'not_an_object',
      reason: `JSON ${KIND_NAME[KIND]}, expected an object`,
    };
  }
  i = ws(b, i + 1, n);
  let eventType: string | undefined;
  let message: string | undefined;
  let name: string | undefined;
  let wrong: string[] | undefined;
  let msgStart = -1;
  let msgEnd = -1;
  let msgEscaped = false;
  let next = 0;
  if (b[i] === 0x7d) i++;
  else {
    for (;;) {
      if (b[i] !== 0x22) fail('expected a key', i);
      i = string(b, i, n);
      const field = strEscaped ? undefined : knownField(b, strStart, i - 1, next);
      if (field) next = field.index + 1;
      const key = field ? field.name : strEscaped ? decodeJsonString(b, strStart, i - 1, true) : '';
      const expect = field ? field.expect : Expect.any;
      i = ws(b, i, n);
      if (b[i] !== 0x3a) fail("expected ':'", i);
      i = ws(b, i + 1, n);
      i = value(
        b,
        i,
        n,
        2,
        expect === Expect.strList || expect === Expect.strMap ? key : undefined,
      );
      const kind = KIND;
      if (kind !== K_NULL) {
        const okType =
          expect === Expect.any ||
          (expect === Expect.str && kind === K_STRING) ||
          (expect === Expect.strList && kind === K_ARRAY) ||
          (expect === Expect.strMap && kind === K_OBJECT) ||
          (expect === Expect.bool && kind === K_BOOL);
        if (!okType) {
          (wrong ??= []).push(`${key}: expected ${EXPECT_NAME[expect]}, got ${KIND_NAME[kind]}`);
        } else if (kind === K_STRING) {
          if (key === 'eventType') eventType = jsonStringAt(b, strStart, i - 1, strEscaped);
          else if (key === 'name') name = jsonStringAt(b, strStart, i - 1, strEscaped);
          else if (key === 'message') {
            // Only markers (no eventType) need their message: decode it at the end.
            msgStart = strStart;
            msgEnd = i - 1;
            msgEscaped = strEscaped;
          }
        }
      }
      i = ws(b, i, n);
      if (b[i] === 0x2c) {
        i = ws(b, i + 1, n);
        continue;
      }
      if (b[i] === 0x7d) {
        i++;
        break;
      }
      fail("expected ',' or '}'", i);
    }
  }
  i = ws(b, i, n);
  if (i !== n) fail('trailing characters', i);
  if (wrong) return { ok: false, code: 'wrong_field_type', reason: wrong.join('; ') };
  if (eventType === undefined && msgStart >= 0)
    message = decodeJsonString(b, msgStart, msgEnd, msgEscaped);
  return { ok: true, eventType, message, name };
}
