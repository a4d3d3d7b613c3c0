import { GkExportError } from '../errors.ts';
import type { ExportMsg } from './record.ts';

/** Error codes of the encoder. */
export type EncodeErrorCode = 'ERR_UNSUPPORTED_VALUE';

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
 */
function str(s: string): string {
  const j = JSON.stringify(s.isWellFormed() ? s : s.toWellFormed());
  return HTML.test(j) ? j.replace(HTML_ALL, (c) => HTML_ESC[c]!) : j;
}

/** Compares as Go does, by UTF-8 bytes (= by code points), not by UTF-16 code units. */
function byCodePoint(a: string, b: string): number {
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

/** Any JSON value (`details`), maps sorted by key at every depth. */
function value(v: unknown, depth: number): string {
  switch (typeof v) {
    case 'string':
      return str(v);
    case 'number':
      return num(v);
    case 'boolean':
      return v ? 'true' : 'false';
    case 'object': {
      if (v === null) return 'null';
      if (depth > 1000) {
        throw new GkExportError<EncodeErrorCode>(
          'ERR_UNSUPPORTED_VALUE',
          'details nested too deeply',
        );
      }
      if (Array.isArray(v)) {
        let out = '[';
        for (let i = 0; i < v.length; i++) out += (i ? ',' : '') + value(v[i], depth + 1);
        return out + ']';
      }
      const keys = Object.keys(v).sort(byCodePoint);
      let out = '{';
      for (let i = 0; i < keys.length; i++) {
        const k = keys[i]!;
        out += (i ? ',' : '') + str(k) + ':' + value((v as Record<string, unknown>)[k], depth + 1);
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

function stringMap(m: Record<string, string>): string | undefined {
  const keys = Object.keys(m);
  if (keys.length === 0) return undefined;
  keys.sort(byCodePoint);
  let out = '{';
  for (let i = 0; i < keys.length; i++) {
    out += (i ? ',' : '') + str(keys[i]!) + ':' + str(m[keys[i]!]!);
  }
  return out + '}';
}

function stringList(a: readonly string[]): string | undefined {
  if (a.length === 0) return undefined;
  let out = '[';
  for (let i = 0; i < a.length; i++) out += (i ? ',' : '') + str(a[i]!);
  return out + ']';
}

/**
 * Encodes an ExportMsg byte for byte as Gatekeeper's Go `encoding/json` does: struct field
 * order, `omitempty` (empty strings, lists and maps, a null `details` and an absent `dryRun` are
 * left out; an empty `details` object and an explicit `dryRun: false` are kept), map keys sorted, HTML-safe escaping, unknown
 * fields dropped. No trailing newline.
 *
 * @example
 * ```ts
 * encodeExportMsg({ message: 'audit is started', id: '2023-07-18T21:21:52Z' });
 * // '{"id":"2023-07-18T21:21:52Z","message":"audit is started"}'
 * ```
 */
export function encodeExportMsg(m: ExportMsg): string {
  return fastEncode(m) ?? exactEncode(m);
}

/** The field-by-field encoder: exact in every case, the reference for the fast path. */
function exactEncode(m: ExportMsg): string {
  let out = '{';
  const put = (key: string, encoded: string | undefined) => {
    if (encoded === undefined) return;
    out += (out.length > 1 ? ',"' : '"') + key + '":' + encoded;
  };
  const s = (v: string | undefined | null) => (v ? str(v) : undefined);
  put('id', s(m.id));
  if (m.details !== undefined && m.details !== null) put('details', value(m.details, 0));
  put('eventType', s(m.eventType));
  put('group', s(m.group));
  put('version', s(m.version));
  put('kind', s(m.kind));
  put('name', s(m.name));
  put('namespace', s(m.namespace));
  put('message', s(m.message));
  put('enforcementAction', s(m.enforcementAction));
  if (m.enforcementActions) put('enforcementActions', stringList(m.enforcementActions));
  if (m.constraintAnnotations) put('constraintAnnotations', stringMap(m.constraintAnnotations));
  put('resourceGroup', s(m.resourceGroup));
  put('resourceAPIVersion', s(m.resourceAPIVersion));
  put('resourceKind', s(m.resourceKind));
  put('resourceNamespace', s(m.resourceNamespace));
  put('resourceName', s(m.resourceName));
  if (m.resourceLabels) put('resourceLabels', stringMap(m.resourceLabels));
  put('timestamp', s(m.timestamp));
  put('operation', s(m.operation));
  put('requestResource', s(m.requestResource));
  put('requestSubresource', s(m.requestSubresource));
  put('requestUsername', s(m.requestUsername));
  put('requestUserUID', s(m.requestUserUID));
  if (m.requestUserGroups) put('requestUserGroups', stringList(m.requestUserGroups));
  // A pointer in Go (*bool, omitempty): absent stays absent, an explicit false is written.
  if (typeof m.dryRun === 'boolean') put('dryRun', m.dryRun ? 'true' : 'false');
  return out + '}';
}

/** Set when a value needs the exact encoder (integer-like keys, -0, non-finite numbers …). */
let needsExact = false;
const INDEX_KEY = /^(?:0|[1-9]\d*)$/;

/** A copy with object keys in Go's order, or flags `needsExact`. */
function ordered(v: unknown, depth: number): unknown {
  if (typeof v === 'string' || typeof v === 'boolean' || v === null) return v;
  if (typeof v === 'number') {
    if (!Number.isFinite(v) || Object.is(v, -0)) needsExact = true;
    return v;
  }
  if (typeof v !== 'object' || depth > 1000) {
    needsExact = true;
    return null;
  }
  if (Array.isArray(v)) {
    // Copy only when an element changes (most arrays hold strings).
    let out: unknown[] | undefined;
    for (let i = 0; i < v.length; i++) {
      const x: unknown = v[i];
      if (typeof x === 'string') continue;
      const e = ordered(x, depth + 1);
      if (e !== x) (out ??= v.slice())[i] = e;
    }
    return out ?? v;
  }
  const obj = v as Record<string, unknown>;
  const keys = Object.keys(obj);
  let sorted = true;
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]!;
    const c = k.charCodeAt(0);
    if (c >= 0x30 && c <= 0x39 && INDEX_KEY.test(k)) needsExact = true;
    if (sorted && i > 0 && byCodePoint(keys[i - 1]!, k) > 0) sorted = false;
  }
  if (sorted) {
    // Already in Go's order (as Gatekeeper's own output is): reuse it unless a value changes.
    let out: Record<string, unknown> | undefined;
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i]!;
      const x = obj[k];
      if (typeof x === 'string') continue;
      const e = ordered(x, depth + 1);
      if (e !== x) (out ??= { ...obj })[k] = e;
    }
    return out ?? v;
  }
  keys.sort(byCodePoint);
  const out: Record<string, unknown> = {};
  // (Integer-like keys, which JS objects list first whatever the order, were flagged above.)
  for (let i = 0; i < keys.length; i++) out[keys[i]!] = ordered(obj[keys[i]!], depth + 1);
  return out;
}

const html = (c: string) => HTML_ESC[c]!;

/**
 * The common case in one JSON.stringify: an object literal in Go's field order (one hidden
 * class; `undefined` members are left out, as omitempty leaves out empty ones) with sorted
 * maps, then Go's extra escapes applied to the whole text (`<`, `>`, `&`, U+2028/9 can only
 * occur inside strings). Returns undefined when the exact encoder must decide (lone
 * surrogates, integer-like map keys, -0, values JSON cannot hold).
 */
function fastEncode(m: ExportMsg): string | undefined {
  needsExact = false;
  const o = {
    id: m.id || undefined,
    details: m.details === undefined || m.details === null ? undefined : ordered(m.details, 0),
    eventType: m.eventType || undefined,
    group: m.group || undefined,
    version: m.version || undefined,
    kind: m.kind || undefined,
    name: m.name || undefined,
    namespace: m.namespace || undefined,
    message: m.message || undefined,
    enforcementAction: m.enforcementAction || undefined,
    enforcementActions: m.enforcementActions?.length ? m.enforcementActions : undefined,
    constraintAnnotations: nonEmpty(m.constraintAnnotations),
    resourceGroup: m.resourceGroup || undefined,
    resourceAPIVersion: m.resourceAPIVersion || undefined,
    resourceKind: m.resourceKind || undefined,
    resourceNamespace: m.resourceNamespace || undefined,
    resourceName: m.resourceName || undefined,
    resourceLabels: nonEmpty(m.resourceLabels),
    timestamp: m.timestamp || undefined,
    operation: m.operation || undefined,
    requestResource: m.requestResource || undefined,
    requestSubresource: m.requestSubresource || undefined,
    requestUsername: m.requestUsername || undefined,
    requestUserUID: m.requestUserUID || undefined,
    requestUserGroups: m.requestUserGroups?.length ? m.requestUserGroups : undefined,
    dryRun: typeof m.dryRun === 'boolean' ? m.dryRun : undefined,
  };
  if (needsExact) return undefined;
  const text = JSON.stringify(o);
  // JSON.stringify writes a lone surrogate as \udXXX; Go writes U+FFFD. (A false alarm from
  // an escaped backslash followed by "ud" only costs the exact path.)
  if (text.includes('\\ud') || text.includes('\\uD')) return undefined;
  // (One replace: with no match it returns the text itself, and it scans no more than a test.)
  return text.replace(HTML_ALL, html);
}

/** A string map in Go's key order, or undefined when empty (omitempty). */
function nonEmpty(m: Record<string, string> | undefined): unknown {
  if (!m) return undefined;
  for (const _ in m) return ordered(m, 0);
  return undefined;
}
