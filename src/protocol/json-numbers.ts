/** `JSON.rawJSON` / `JSON.isRawJSON` (Node 21+; not yet in TypeScript's lib). */
const J = JSON as JSON & {
  rawJSON(text: string): RawJsonNumber;
  isRawJSON(v: unknown): boolean;
};

/** A number kept as its original JSON text; `JSON.stringify` writes the text as it is. */
export interface RawJsonNumber {
  readonly rawJSON: string;
}

/** Text that may hold a number a float64 cannot: an exponent, or 16 or more digits in a row. */
const SUSPECT = /\d[eE]|\d{16}/;

/**
 * `JSON.parse`, except that a number a float64 cannot hold — out of range (`1e999`, which
 * would become Infinity and then `null`), underflowing to zero (`1e-999`), or an integer beyond
 * 2^53 — is kept as its original text (a `JSON.rawJSON` value), so re-encoding the record
 * (`JSON.stringify`, the canonical encoder) writes exactly what the source wrote. Texts without
 * such a candidate take the plain `JSON.parse`.
 *
 * @example
 * ```ts
 * JSON.stringify(parseJsonKeepingNumbers('{"n":1e999}')); // '{"n":1e999}'
 * ```
 */
export function parseJsonKeepingNumbers(text: string): unknown {
  if (!SUSPECT.test(text)) return JSON.parse(text);
  return JSON.parse(text, keepUnholdable);
}

/**
 * True for a number kept as text by `parseJsonKeepingNumbers`.
 *
 * @example
 * ```ts
 * if (isRawJsonNumber(v)) out += v.rawJSON;
 * ```
 */
export function isRawJsonNumber(v: unknown): v is RawJsonNumber {
  return typeof v === 'object' && v !== null && J.isRawJSON(v);
}

function keepUnholdable(_key: string, value: unknown, ctx?: { source?: string }): unknown {
  if (typeof value !== 'number' || ctx?.source === undefined) return value;
  return holds(value, ctx.source) ? value : J.rawJSON(ctx.source);
}

/** Whether the float64 `v` is the number `source` says (up to float rounding of a fraction). */
function holds(v: number, source: string): boolean {
  if (!Number.isFinite(v)) return false;
  if (v === 0) return !/[1-9]/.test(source.split(/[eE]/)[0]!);
  if (/^-?\d+$/.test(source)) return Number.isSafeInteger(v);
  return true;
}
