// The reference line check's view of the ExportMsg field table (record.ts): which known field
// a key is, found from its bytes without decoding it, and the type its value must have.
import { EXPORT_MSG_FIELD_TYPES, type FieldType } from './record.ts';

/**
 * Expected type of a top-level field.
 *
 * @example
 * ```ts
 * if (field.expect === Expect.strList) …
 * ```
 */
export const Expect = { str: 1, strList: 2, strMap: 3, bool: 4, any: 5 } as const;
export type Expect = (typeof Expect)[keyof typeof Expect];

const EXPECT_OF: Record<FieldType, Expect> = {
  string: Expect.str,
  'array of strings': Expect.strList,
  'object of strings': Expect.strMap,
  boolean: Expect.bool,
  'JSON value': Expect.any,
};

/**
 * The field table's name of each expected type, for error messages.
 *
 * @example
 * ```ts
 * EXPECT_NAME[Expect.strMap]; // 'object of strings'
 * ```
 */
export const EXPECT_NAME = Object.fromEntries(
  Object.entries(EXPECT_OF).map(([name, expect]) => [expect, name]),
) as Record<Expect, FieldType>;

/** A known top-level field. */
export interface Field {
  readonly bytes: Uint8Array;
  readonly name: string;
  readonly expect: Expect;
  /** Position in Go's field order: the next key of a canonical line is usually the next field. */
  readonly index: number;
}

const FIELDS: Field[] = Object.entries(EXPORT_MSG_FIELD_TYPES).map(([name, type], index) => ({
  bytes: Buffer.from(name),
  name,
  expect: EXPECT_OF[type],
  index,
}));

/** Known fields grouped by byte length, for matching a key without decoding it. */
const BY_LENGTH: Field[][] = [];
for (const f of FIELDS) (BY_LENGTH[f.bytes.length] ??= []).push(f);

function sameBytes(b: Buffer, start: number, end: number, f: Field): boolean {
  const fb = f.bytes;
  if (fb.length !== end - start) return false;
  for (let k = 0; k < fb.length; k++) if (b[start + k] !== fb[k]) return false;
  return true;
}

/**
 * The known field whose name is exactly b[start, end), trying the `next` in Go order first.
 *
 * @example
 * ```ts
 * knownField(Buffer.from('"kind"'), 1, 5, 0)?.expect; // Expect.str
 * ```
 */
export function knownField(b: Buffer, start: number, end: number, next: number): Field | undefined {
  for (let k = next; k < FIELDS.length && k < next + 3; k++) {
    if (sameBytes(b, start, end, FIELDS[k]!)) return FIELDS[k];
  }
  const candidates = BY_LENGTH[end - start];
  if (!candidates) return undefined;
  for (const f of candidates) if (sameBytes(b, start, end, f)) return f;
  return undefined;
}
