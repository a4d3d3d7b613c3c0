import { fieldsOfType, type ExportMsg } from './record.ts';

/** One reason a value is not an ExportMsg. */
export interface FieldError {
  readonly field: string;
  readonly expected: string;
  readonly got: string;
}

/** The validator's result: the typed record, or every problem found. */
export type ValidationResult =
  | { readonly ok: true; readonly msg: ExportMsg }
  | { readonly ok: false; readonly errors: FieldError[] };

const STRING_FIELDS = fieldsOfType('string');
const STRING_LIST_FIELDS = fieldsOfType('array of strings');
const STRING_MAP_FIELDS = fieldsOfType('object of strings');

/** The JSON type name of a value, for messages (`null`, `array`, `object`, …). */
export function jsonTypeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

/**
 * Checks that a value (typically from `JSON.parse`) is an ExportMsg: an object whose known
 * fields have Gatekeeper's types. Unknown fields are allowed (Gatekeeper drops them). `null`
 * is accepted for any field, as Go's decoder accepts it (it leaves the zero value). Never
 * throws, whatever the input.
 *
 * @example
 * ```ts
 * const r = validateExportMsg(JSON.parse(line));
 * if (!r.ok) console.error(r.errors); // [{ field: 'name', expected: 'string', got: 'number' }]
 * ```
 */
export function validateExportMsg(value: unknown): ValidationResult {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, errors: [{ field: '', expected: 'object', got: jsonTypeOf(value) }] };
  }
  const v = value as Record<string, unknown>;
  let errors: FieldError[] | undefined;
  const bad = (field: string, expected: string, got: string) =>
    (errors ??= []).push({ field, expected, got });
  try {
    for (const f of STRING_FIELDS) {
      const x = v[f];
      if (x !== undefined && x !== null && typeof x !== 'string') bad(f, 'string', jsonTypeOf(x));
    }
    for (const f of STRING_LIST_FIELDS) {
      const x = v[f];
      if (x === undefined || x === null) continue;
      if (!Array.isArray(x)) bad(f, 'array of strings', jsonTypeOf(x));
      else {
        const i = x.findIndex((e) => typeof e !== 'string');
        if (i >= 0) bad(`${f}[${i}]`, 'string', jsonTypeOf(x[i]));
      }
    }
    for (const f of STRING_MAP_FIELDS) {
      const x = v[f];
      if (x === undefined || x === null) continue;
      if (typeof x !== 'object' || Array.isArray(x)) bad(f, 'object of strings', jsonTypeOf(x));
      else {
        for (const [k, e] of Object.entries(x)) {
          if (typeof e !== 'string') bad(`${f}.${k}`, 'string', jsonTypeOf(e));
        }
      }
    }
    const dry = v.dryRun;
    if (dry !== undefined && dry !== null && typeof dry !== 'boolean') {
      bad('dryRun', 'boolean', jsonTypeOf(dry));
    }
    const details = v.details;
    if (details !== undefined && !isJsonValue(details, new Set(), 0)) {
      bad('details', 'JSON value', jsonTypeOf(details));
    }
  } catch (err) {
    // A getter or proxy that throws: the value is not a plain record.
    bad('', 'plain object', `object that throws on access (${String(err)})`);
  }
  return errors ? { ok: false, errors } : { ok: true, msg: v as ExportMsg };
}

const MAX_DEPTH = 1000;

function isJsonValue(x: unknown, seen: Set<object>, depth: number): boolean {
  switch (typeof x) {
    case 'string':
    case 'boolean':
      return true;
    case 'number':
      return Number.isFinite(x);
    case 'object': {
      if (x === null) return true;
      if (seen.has(x) || depth > MAX_DEPTH) return false;
      seen.add(x);
      const ok = Array.isArray(x)
        ? x.every((e) => isJsonValue(e, seen, depth + 1))
        : Object.values(x).every((e) => isJsonValue(e, seen, depth + 1));
      seen.delete(x);
      return ok;
    }
    default:
      return false;
  }
}
