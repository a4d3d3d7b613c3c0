import { GkExportError, type EncodeErrorCode } from '../errors.ts';
import { isRawJsonNumber } from './json-numbers.ts';

// JSON text as Go's encoding/json writes it: the parts the canonical encoder (encode.ts) and
// its generated field walks (encode-walks.generated.ts) are made of.

const HTML = /[<>&\u2028\u2029]/;
const HTML_ALL = /[<>&\u2028\u2029]/g;
const HTML_ESC: Record<string, string> = {
  '<': '\\u003c',
  '>': '\\u003e',
  '&': '\\u0026',
  '\u2028': '\\u2028',
  '\u2029': '\\u2029',
};

/**
 * A string as Go's encoding/json writes it (HTML-safe): JSON.stringify already produces Go's
 * escapes for `"`, `\`, control characters (`\b \f \n \r \t`, else `\u00xx`) and leaves DEL
 * and non-ASCII alone; Go additionally escapes `< > &` and U+2028/U+2029, and turns lone
 * surrogates (invalid UTF-8 to Go) into U+FFFD.
 *
 * @example
 * ```ts
 * goString('<a>'); // '"\\u003ca\\u003e"'
 * ```
 */
export function goString(s: string): string {
  const j = JSON.stringify(s.isWellFormed() ? s : s.toWellFormed());
  return HTML.test(j) ? j.replace(HTML_ALL, (c) => HTML_ESC[c]!) : j;
}

/**
 * Compares as Go does, by UTF-8 bytes (= by code points), not by UTF-16 code units.
 *
 * @example
 * ```ts
 * ['\u{1F600}', '\uffff'].sort(byCodePoint); // ['\uffff', '\u{1F600}']
 * ```
 */
export function byCodePoint(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0xd800 && y >= 0xd800) {
      // Surrogates (astral code points) sort after U+E000..U+FFFF.
      x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
      y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
    }
    return x - y;
  }
  return a.length - b.length;
}

function num(n: number): string {
  if (!Number.isFinite(n)) {
    throw new GkExportError<EncodeErrorCode>(
      'ERR_UNSUPPORTED_VALUE',
      `cannot encode ${n}: JSON has no NaN or Infinity`,
    );
  }
  // Go's float64 formatting matches ECMAScript's shortest round-trip form, except for -0.
  return Object.is(n, -0) ? '-0' : String(n);
}

/**
 * Any JSON value (`details`), maps sorted by key at every depth; throws ERR_UNSUPPORTED_VALUE
 * for what JSON cannot hold.
 *
 * @example
 * ```ts
 * goValue({ b: 1, a: [-0] }, 0); // '{"a":[-0],"b":1}'
 * ```
 */
export function goValue(v: unknown, depth: number): string {
  switch (typeof v) {
    case 'string':
      return goString(v);
    case 'number':
      return num(v);
    case 'boolean':
      return v ? 'true' : 'false';
    case 'object': {
      if (v === null) return 'null';
      // A number kept as its source text (see parseJsonKeepingNumbers).
      if (isRawJsonNumber(v)) return v.rawJSON;
      if (depth > 1000) {
        throw new GkExportError<EncodeErrorCode>(
          'ERR_UNSUPPORTED_VALUE',
          'details nested too deeply',
        );
      }
      if (Array.isArray(v)) {
        let out = '[';
        for (let i = 0; i < v.length; i++) out += (i ? ',' : '') + goValue(v[i], depth + 1);
        return out + ']';
      }
      const keys = Object.keys(v).sort(byCodePoint);
      let out = '{';
      for (let i = 0; i < keys.length; i++) {
        const k = keys[i]!;
        out +=
          (i ? ',' : '') +
          goString(k) +
          ':' +
          goValue((v as Record<string, unknown>)[k], depth + 1);
      }
      return out + '}';
    }
    default:
      throw new GkExportError<EncodeErrorCode>(
        'ERR_UNSUPPORTED_VALUE',
        `cannot encode a ${typeof v} in details`,
      );
  }
}

/**
 * A string map with its keys sorted, or undefined when it is empty (omitempty).
 *
 * @example
 * ```ts
 * goStringMap({ b: '1', a: '2' }); // '{"a":"2","b":"1"}'
 * ```
 */
export function goStringMap(m: Record<string, string>): string | undefined {
  const keys = Object.keys(m);
  if (keys.length === 0) return undefined;
  keys.sort(byCodePoint);
  let out = '{';
  for (let i = 0; i < keys.length; i++) {
    out += (i ? ',' : '') + goString(keys[i]!) + ':' + goString(m[keys[i]!]!);
  }
  return out + '}';
}

/**
 * A string list, or undefined when it is empty (omitempty).
 *
 * @example
 * ```ts
 * goStringList(['a', 'b']); // '["a","b"]'
 * ```
 */
export function goStringList(a: readonly string[]): string | undefined {
  if (a.length === 0) return undefined;
  let out = '[';
  for (let i = 0; i < a.length; i++) out += (i ? ',' : '') + goString(a[i]!);
  return out + ']';
}

const html = (c: string) => HTML_ESC[c]!;

/**
 * Go's extra escapes on JSON.stringify's text (`<`, `>`, `&`, U+2028/9 occur only inside
 * strings): the slices between matches found by indexOf, joined by the escapes. About twice as
 * fast as a regex replace calling back per match, or a replaceAll per character.
 *
 * @example
 * ```ts
 * htmlSafe(JSON.stringify({ m: 'a & b' })); // '{"m":"a \\u0026 b"}'
 * ```
 */
export function htmlSafe(s: string): string {
  if (s.includes('\u2028') || s.includes('\u2029')) return s.replace(HTML_ALL, html); // rare
  let lt = s.indexOf('<');
  let gt = s.indexOf('>');
  let amp = s.indexOf('&');
  let out = '';
  let from = 0;
  for (;;) {
    // The first of the three (-1: none left).
    let i = lt;
    let e = '\\u003c';
    if (gt !== -1 && (i === -1 || gt < i)) {
      i = gt;
      e = '\\u003e';
    }
    if (amp !== -1 && (i === -1 || amp < i)) {
      i = amp;
      e = '\\u0026';
    }
    if (i === -1) return from === 0 ? s : out + s.slice(from);
    out += s.slice(from, i) + e;
    from = i + 1;
    if (i === lt) lt = s.indexOf('<', from);
    else if (i === gt) gt = s.indexOf('>', from);
    else amp = s.indexOf('&', from);
  }
}
