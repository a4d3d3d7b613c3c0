import { describe, expect, it } from 'vitest';
import {
  admissionSegmentStem,
  admissionTimestamp,
  assertValidName,
  auditIdFor,
  classifyFileName,
  invalidNameReason,
  runNameForAuditId,
} from '../../src/protocol/names.ts';

describe('names and states', () => {
  it('turns an audit ID into its run name', () => {
    expect(runNameForAuditId('2023-07-18T21:21:52Z')).toBe('2023-07-18T21_21_52Z');
    expect(auditIdFor(new Date('2023-07-18T21:21:52.345Z'))).toBe('2023-07-18T21:21:52Z');
  });

  it.each(['', '.', '..', 'a/b', 'a\\b', '/abs', 'nul\0'])(
    'refuses the name %j with ERR_INVALID_NAME',
    (name) => {
      expect(invalidNameReason(name)).toBeDefined();
      expect(() => assertValidName('channel', name)).toThrow(
        expect.objectContaining({ code: 'ERR_INVALID_NAME' }),
      );
    },
  );

  it('refuses an audit ID whose run name is invalid', () => {
    expect(() => runNameForAuditId('../x')).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_AUDIT_ID' }),
    );
  });

  it.each([
    ['2023-07-18T21_21_52Z.txt', 'audit-open', '2023-07-18T21_21_52Z'],
    ['2023-07-18T21_21_52Z.log', 'audit-complete', '2023-07-18T21_21_52Z'],
    [
      'admission-2026-08-01T10_00_00.000Z-ab12cd34.open',
      'admission-open',
      'admission-2026-08-01T10_00_00.000Z-ab12cd34',
    ],
    [
      'admission-2026-08-01T10_00_00.000Z-ab12cd34.log',
      'admission-complete',
      'admission-2026-08-01T10_00_00.000Z-ab12cd34',
    ],
    [
      'admission-20260801T100000.123456789Z-0123456789abcdef.open',
      'admission-open',
      'admission-20260801T100000.123456789Z-0123456789abcdef',
    ],
    [
      'admission-20260801T100000.123456789Z-0123456789abcdef.log',
      'admission-complete',
      'admission-20260801T100000.123456789Z-0123456789abcdef',
    ],
    [
      'admission-20260801T100000.123456789Z-0123456789abcdef.recovered.log',
      'admission-complete',
      'admission-20260801T100000.123456789Z-0123456789abcdef.recovered',
    ],
    [
      'admission-20260801T100000.123456789Z-0123456789abcdef.log.deleting',
      'deleting',
      'admission-20260801T100000.123456789Z-0123456789abcdef.log',
    ],
    ['admission-x.deleting.log', 'deleting', 'admission-x.deleting'],
    ['admission-x.deleting', 'deleting', 'admission-x'],
    ['run.log.deleting', 'deleting', 'run.log'],
    ['notes.md', 'not-ours', 'notes.md'],
    ['.log', 'not-ours', '.log'],
    ['admission-.open', 'not-ours', 'admission-.open'],
    ['noext', 'not-ours', 'noext'],
  ])('classifies %s as %s', (name, state, run) => {
    expect(classifyFileName(name)).toEqual({ state, run });
  });

  it("formats an admission segment's timestamp in Go's 20060102T150405.000000000Z layout", () => {
    const ns = BigInt(Date.UTC(2026, 7, 1, 10, 0, 0)) * 1_000_000n + 123_456_789n;
    expect(admissionTimestamp(ns)).toBe('20260801T100000.123456789Z');
    expect(admissionTimestamp(BigInt(Date.UTC(2026, 0, 2, 3, 4, 5)) * 1_000_000n)).toBe(
      '20260102T030405.000000000Z',
    );
    expect(admissionSegmentStem(ns, '0123456789abcdef')).toBe(
      'admission-20260801T100000.123456789Z-0123456789abcdef',
    );
    expect(() => admissionSegmentStem(ns, 'ABCDEF0123456789')).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_NAME' }),
    );
  });
});
