import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { encodeWalksSource, GENERATED } from '../../scripts/gen-encode-walks.ts';
import { exactEncode, goOrder } from '../../src/protocol/encode-walks.generated.ts';
import {
  EXPORT_MSG_FIELD_TYPES,
  EXPORT_MSG_FIELDS,
  type ExportMsg,
  type FieldType,
} from '../../src/protocol/record.ts';

const SAMPLE = {
  string: 'v',
  'JSON value': { b: 1, a: [true] },
  'array of strings': ['x', 'y'],
  'object of strings': { k: 'v' },
  boolean: false,
} satisfies Record<FieldType, unknown>;

describe('the encoder field walks generated from the field table', () => {
  it('are what scripts/gen-encode-walks.ts writes from the table (npm run gen:encode)', async () => {
    expect(readFileSync(GENERATED, 'utf8')).toBe(await encodeWalksSource());
  });

  it('both write every field of the table, in its order', () => {
    const full = Object.fromEntries(
      EXPORT_MSG_FIELDS.toReversed().map((f) => [f, SAMPLE[EXPORT_MSG_FIELD_TYPES[f]]]),
    ) as ExportMsg;
    const exact = exactEncode(full);
    expect(Object.keys(JSON.parse(exact) as object)).toEqual(EXPORT_MSG_FIELDS);
    expect(JSON.stringify(goOrder(full))).toBe(exact);
  });
});
