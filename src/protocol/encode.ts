import { exactEncode, goOrder } from './encode-walks.generated.ts';
import { byCodePoint, htmlSafe } from './go-json.ts';
import {
  beginOrdering,
  oddKey,
  ordered,
  orderingFailed,
  plain,
  sortedCopy,
  strings,
} from './go-order.ts';
import { EXPORT_MSG_FIELD_TYPES, EXPORT_MSG_FIELDS, fieldsOfType } from './record.ts';
import type { ExportMsg, FieldType } from './record.ts';

// The canonical encoder. Its two walks over the fields — the exact encoder and the fast path's
// Go-order copy — are generated from the field table (encode-walks.generated.ts); the parts
// they are made of are in go-json.ts (Go's JSON text) and go-order.ts (objects laid out so
// that JSON.stringify writes Go's bytes).

/**
 * Encodes an ExportMsg byte for byte as Gatekeeper's Go `encoding/json` does: struct field
 * order, `omitempty` (empty strings, lists and maps, a null `details` and an absent `dryRun` are
 * left out; an empty `details` object and an explicit `dryRun: false` are kept), map keys
 * sorted, HTML-safe escaping, unknown fields dropped. No trailing newline.
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
/** The string maps; bit `1 << i`: map i's keys are out of order (a sorted copy of it will do). */
const MAPS = fieldsOfType('object of strings');
/** Per field (in table order): its out-of-order bit when it is a string map. */
const SORT_BITS = EXPORT_MSG_FIELDS.map((f) => (MAPS.includes(f) ? 1 << MAPS.indexOf(f) : 0));
/** An odd key in a string map, or a map that is no plain object: the exact encoder. */
const EXACT = 1 << MAPS.length;
/** An empty, unknown, misplaced or mistyped field: a copy built in Go's order. */
const GENERAL = EXACT << 1;

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
      s |= mapState(v, SORT_BITS[j - 1]!);
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
    beginOrdering();
    const details = m.details === undefined ? undefined : ordered(m.details, 0);
    if (orderingFailed()) return undefined;
    if (state === 0 && details === m.details) {
      text = JSON.stringify(m);
    } else {
      // (A spread keeps the key order, and a key assigned again keeps its place.)
      const o: Record<string, unknown> = { ...m };
      if (details !== m.details) o.details = details;
      for (let i = 0; i < MAPS.length; i++) {
        if (state & (1 << i)) o[MAPS[i]!] = sortedCopy(m[MAPS[i]!] as Record<string, string>);
      }
      text = JSON.stringify(o);
    }
  }
  // JSON.stringify writes a lone surrogate as \udxxx (lowercase hex digits, never \uDxxx); Go
  // writes U+FFFD. (A false alarm from an escaped backslash followed by "ud" only costs the
  // exact path.)
  if (text.includes('\\ud')) return undefined;
  return htmlSafe(text);
}
