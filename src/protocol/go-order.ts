import { byCodePoint } from './go-json.ts';
import { isRawJsonNumber } from './json-numbers.ts';

// Objects laid out so that one JSON.stringify writes Go's bytes: the fast path of the canonical
// encoder (encode.ts) and of its generated Go-order copy (encode-walks.generated.ts).

const INDEX_KEY = /^(?:0|[1-9]\d*)$/;

/**
 * Keys a copy cannot hold in the order set: JS objects list integer-like keys first, and
 * assigning `__proto__` sets the prototype.
 *
 * @example
 * ```ts
 * oddKey('10'); // true
 * ```
 */
export const oddKey = (k: string): boolean => {
  const c = k.charCodeAt(0);
  return (c >= 0x30 && c <= 0x39 && INDEX_KEY.test(k)) || k === '__proto__';
};

/**
 * JSON.stringify would call a prototype's toJSON; the exact encoder reads inherited fields.
 *
 * @example
 * ```ts
 * plain({}); // true
 * ```
 */
export const plain = (v: object): boolean => {
  const p: unknown = Object.getPrototypeOf(v);
  return p === Object.prototype || p === null;
};

/**
 * Whether every element is a string.
 *
 * @example
 * ```ts
 * strings(['a', 1]); // false
 * ```
 */
export const strings = (a: unknown[]): boolean => {
  for (let i = 0; i < a.length; i++) if (typeof a[i] !== 'string') return false;
  return true;
};

/** Set when a value needs the exact encoder (odd keys, -0, non-finite numbers …). */
let needsExact = false;

/**
 * Starts laying out one record: `orderingFailed()` then says whether any `ordered` call since
 * met a value only the exact encoder writes as Go does.
 *
 * @example
 * ```ts
 * beginOrdering();
 * const d = ordered(m.details, 0);
 * if (orderingFailed()) return exactEncode(m);
 * ```
 */
export function beginOrdering(): void {
  needsExact = false;
}

/**
 * Whether a value since `beginOrdering()` needs the exact encoder.
 *
 * @example
 * ```ts
 * beginOrdering();
 * ordered({ x: -0 }, 0);
 * orderingFailed(); // true
 * ```
 */
export function orderingFailed(): boolean {
  return needsExact;
}

/**
 * A JSON value with object keys in Go's order: the value itself when it already is (as in
 * Gatekeeper's own output), else a copy; or flags `orderingFailed()`.
 *
 * @example
 * ```ts
 * JSON.stringify(ordered({ b: 1, a: 2 }, 0)); // '{"a":2,"b":1}'
 * ```
 */
export function ordered(v: unknown, depth: number): unknown {
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
 *
 * @example
 * ```ts
 * Object.keys(sortedCopy({ b: 1, a: 2 })); // ['a', 'b']
 * ```
 */
export function sortedCopy<T>(obj: Record<string, T>): Record<string, T> {
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
 * A string map in Go's key order, or undefined when it is empty or absent (omitempty).
 *
 * @example
 * ```ts
 * nonEmpty({}); // undefined
 * ```
 */
export function nonEmpty(m: Record<string, string> | undefined): unknown {
  if (!m) return undefined;
  for (const _ in m) return ordered(m, 0);
  return undefined;
}
