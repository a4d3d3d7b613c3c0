import { GkExportError, type EncodeErrorCode } from '../errors.ts';
import { isRawJsonNumber } from './json-numbers.ts';
import { EXPORT_MSG_FIELD_TYPES, EXPORT_MSG_FIELDS } from './record.ts';
import type { ExportMsg, FieldType } from './record.ts';

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

// What omitempty and the fast path check for each field, by its JSON type, in Go's order.
const STRING = 0;
const DETAILS = 1;
const LIST = 2;
const MAP = 3;
const BOOL = 4;
const KIND = {
  string: STRING,
  'JSON value': DETAILS,
  'array of strings': LIST,
  'object of strings': MAP,
  boolean: BOOL,
} as const satisfies Record<FieldType, number>;
const FIELDS: readonly string[] = EXPORT_MSG_FIELDS;
const KINDS = EXPORT_MSG_FIELDS.map((f) => KIND[EXPORT_MSG_FIELD_TYPES[f]]);

// A record's state (bits; the highest decides): 0 when JSON.stringify(m) writes Go's bytes.
/** A string map's keys are out of order: a shallow copy with that map sorted will do. */
const SORT_ANNOTATIONS = 1;
const SORT_LABELS = 2;
/** An odd key in a string map, or a map that is no plain object: the exact encoder. */
const EXACT = 4;
/** An empty, unknown, misplaced or mistyped field: a copy built in Go's order. */
const GENERAL = 8;

const INDEX_KEY = /^(?:0|[1-9]\d*)$/;
/**
 * Keys a copy cannot hold in the order set: JS objects list integer-like keys first, and
 * assigning `__proto__` sets the prototype.
 */
const oddKey = (k: string) => {
  const c = k.charCodeAt(0);
  return (c >= 0x30 && c <= 0x39 && INDEX_KEY.test(k)) || k === '__proto__';
};
/** JSON.stringify would call a prototype's toJSON; the exact encoder reads inherited fields. */
const plain = (v: object) => {
  const p: unknown = Object.getPrototypeOf(v);
  return p === Object.prototype || p === null;
};
const strings = (a: unknown[]) => {
  for (let i = 0; i < a.length; i++) if (typeof a[i] !== 'string') return false;
  return true;
};

/**
 * The state of a record's top level: fields known, in Go's order, none empty (omitempty) or
 * mistyped, string maps sorted. (`details`, any value but null, is left to `ordered`.)
 */
function recordState(m: ExportMsg): number {
  if (!plain(m)) return GENERAL;
  const o = m as Record<string, unknown>;
  let s = 0;
  let j = 0;
  for (const k in o) {
    // Keys are internalized strings: each !== compares pointers.
    while (j < FIELDS.length && FIELDS[j] !== k) j++;
    if (j === FIELDS.length) return GENERAL;
    const v = o[k];
    const kind = KINDS[j++];
    if (v === undefined) continue; // left out by both
    if (kind === STRING) {
      if (typeof v !== 'string' || v.length === 0) return GENERAL;
    } else if (kind === DETAILS) {
      if (v === null) return GENERAL;
    } else if (kind === MAP) {
      s |= mapState(v, k === 'resourceLabels' ? SORT_LABELS : SORT_ANNOTATIONS);
      if (s >= EXACT) return s;
    } else if (kind === LIST) {
      if (!Array.isArray(v) || v.length === 0 || !strings(v)) return GENERAL;
    } else if (typeof v !== 'boolean') {
      return GENERAL;
    }
  }
  return s;
}

/** The state of a string map: 0, `unsorted`, EXACT or GENERAL (also when empty). */
function mapState(v: unknown, unsorted: number): number {
  if (typeof v !== 'object' || v === null || !plain(v)) return GENERAL;
  const o = v as Record<string, unknown>;
  let s = GENERAL; // until a key is seen
  let prev = '';
  for (const k in o) {
    if (typeof o[k] !== 'string') return GENERAL;
    if (oddKey(k)) return EXACT;
    if (s === GENERAL) s = 0;
    else if (byCodePoint(prev, k) > 0) s = unsorted;
    prev = k;
  }
  return s;
}

/** Set when a value needs the exact encoder (odd keys, -0, non-finite numbers …). */
let needsExact = false;

/**
 * A JSON value with object keys in Go's order: the value itself when it already is (as in
 * Gatekeeper's own output), else a copy; or flags `needsExact`.
 */
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
  // JSON.stringify writes a number kept as text as that text.
  if (isRawJsonNumber(v)) return v;
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
  if (!plain(v)) {
    needsExact = true;
    return null;
  }
  const obj = v as Record<string, unknown>;
  let out: Record<string, unknown> | undefined;
  let sorted = true;
  let prev = '';
  // Whether the keys are those of the last template made or found, for sparing sortedCopy.
  let shape = lastShape;
  let n = 0;
  for (const k in obj) {
    if (shape !== undefined && shape.keys[n++] !== k) shape = undefined;
    if (oddKey(k)) {
      needsExact = true;
      return v;
    }
    if (sorted && byCodePoint(prev, k) > 0) sorted = false;
    prev = k;
    const x = obj[k];
    if (typeof x === 'string' || (Array.isArray(x) && strings(x))) continue;
    const e = ordered(x, depth + 1);
    if (e !== x) (out ??= { ...obj })[k] = e;
  }
  if (sorted) return out ?? v;
  if (shape !== undefined && n === shape.keys.length) {
    return Object.assign({ ...shape.template }, out ?? obj);
  }
  return sortedCopy(out ?? obj);
}

/**
 * A copy of an object (with no odd keys) with its keys sorted by code point. A small one is a
 * clone of a template with that key order, filled by Object.assign (a key already there keeps
 * its place): adding keys one by one to an empty object costs several times as much.
 */
function sortedCopy<T>(obj: Record<string, T>): Record<string, T> {
  const keys = Object.keys(obj);
  if (keys.length <= TEMPLATE_KEYS) return Object.assign({ ...template(keys) }, obj);
  keys.sort(byCodePoint);
  const out: Record<string, T> = {};
  for (let i = 0; i < keys.length; i++) out[keys[i]!] = obj[keys[i]!]!;
  return out;
}

interface Shape {
  /** An object's keys in its own order … */
  keys: readonly string[];
  /** … and an object with the same keys sorted (all `undefined`). */
  template: Record<string, unknown>;
}
const TEMPLATE_KEYS = 16;
/** The last shapes made (records repeat a few), reused in turn. */
const shapes: Shape[] = [];
let nextShape = 0;
let lastShape: Shape | undefined;

function template(keys: readonly string[]): Record<string, unknown> {
  next: for (const t of shapes) {
    if (t.keys.length !== keys.length) continue;
    for (let i = 0; i < keys.length; i++) if (t.keys[i] !== keys[i]) continue next;
    lastShape = t;
    return t.template;
  }
  const template: Record<string, unknown> = {};
  for (const k of [...keys].sort(byCodePoint)) template[k] = undefined;
  shapes[nextShape] = lastShape = { keys: [...keys], template };
  nextShape = (nextShape + 1) % 16;
  return template;
}

/**
 * One JSON.stringify, then Go's extra escapes on its text. A canonical record (fields in Go's
 * order, none empty, maps sorted: built in Go's order, or parsed from Gatekeeper's output) is
 * stringified as it is, with no copy; one whose maps are out of order, as a shallow copy with
 * them sorted; any other, as a copy built in Go's order. Returns undefined when the exact
 * encoder must decide (lone surrogates, odd map keys, -0, values JSON cannot hold).
 */
function fastEncode(m: ExportMsg): string | undefined {
  const state = recordState(m);
  // The highest bit decides: the other map may have been only out of order.
  if (state >= EXACT && state < GENERAL) return undefined;
  let text: string;
  if (state >= GENERAL) {
    const o = goOrder(m);
    if (o === undefined) return undefined;
    text = JSON.stringify(o);
  } else {
    needsExact = false;
    const details = m.details === undefined ? undefined : ordered(m.details, 0);
    if (needsExact) return undefined;
    if (state === 0 && details === m.details) {
      text = JSON.stringify(m);
    } else {
      // (A spread keeps the key order, and a key assigned again keeps its place.)
      const o: ExportMsg = { ...m };
      if (details !== m.details) o.details = details;
      if (state & SORT_ANNOTATIONS) o.constraintAnnotations = sortedCopy(m.constraintAnnotations!);
      if (state & SORT_LABELS) o.resourceLabels = sortedCopy(m.resourceLabels!);
      text = JSON.stringify(o);
    }
  }
  // JSON.stringify writes a lone surrogate as \udxxx (lowercase hex digits, never \uDxxx); Go
  // writes U+FFFD. (A false alarm from an escaped backslash followed by "ud" only costs the
  // exact path.)
  if (text.includes('\\ud')) return undefined;
  return htmlSafe(text);
}

/**
 * A copy in Go's field order with sorted maps, its empty fields left out (omitempty), or
 * undefined (`needsExact`). (Adding only the fields present beats an object literal of all
 * 26 with `undefined` for the missing ones, which JSON.stringify then has to skip.)
 */
function goOrder(m: ExportMsg): object | undefined {
  needsExact = false;
  const o: Record<string, unknown> = {};
  if (m.id) o.id = m.id;
  if (m.details !== undefined && m.details !== null) o.details = ordered(m.details, 0);
  if (m.eventType) o.eventType = m.eventType;
  if (m.group) o.group = m.group;
  if (m.version) o.version = m.version;
  if (m.kind) o.kind = m.kind;
  if (m.name) o.name = m.name;
  if (m.namespace) o.namespace = m.namespace;
  if (m.message) o.message = m.message;
  if (m.enforcementAction) o.enforcementAction = m.enforcementAction;
  if (m.enforcementActions?.length) o.enforcementActions = m.enforcementActions;
  const a = nonEmpty(m.constraintAnnotations);
  if (a !== undefined) o.constraintAnnotations = a;
  if (m.resourceGroup) o.resourceGroup = m.resourceGroup;
  if (m.resourceAPIVersion) o.resourceAPIVersion = m.resourceAPIVersion;
  if (m.resourceKind) o.resourceKind = m.resourceKind;
  if (m.resourceNamespace) o.resourceNamespace = m.resourceNamespace;
  if (m.resourceName) o.resourceName = m.resourceName;
  const l = nonEmpty(m.resourceLabels);
  if (l !== undefined) o.resourceLabels = l;
  if (m.timestamp) o.timestamp = m.timestamp;
  if (m.operation) o.operation = m.operation;
  if (m.requestResource) o.requestResource = m.requestResource;
  if (m.requestSubresource) o.requestSubresource = m.requestSubresource;
  if (m.requestUsername) o.requestUsername = m.requestUsername;
  if (m.requestUserUID) o.requestUserUID = m.requestUserUID;
  if (m.requestUserGroups?.length) o.requestUserGroups = m.requestUserGroups;
  if (typeof m.dryRun === 'boolean') o.dryRun = m.dryRun;
  return needsExact ? undefined : o;
}

/** A string map in Go's key order, or undefined when empty (omitempty). */
function nonEmpty(m: Record<string, string> | undefined): unknown {
  if (!m) return undefined;
  for (const _ in m) return ordered(m, 0);
  return undefined;
}

const html = (c: string) => HTML_ESC[c]!;

/**
 * Go's extra escapes on JSON.stringify's text (`<`, `>`, `&`, U+2028/9 occur only inside
 * strings): the slices between matches found by indexOf, joined by the escapes. About twice as
 * fast as a regex replace calling back per match, or a replaceAll per character.
 */
function htmlSafe(s: string): string {
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
