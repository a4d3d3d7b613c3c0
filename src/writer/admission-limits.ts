import { GkExportError, type AdmissionRecordErrorCode } from '../errors.ts';
import { encodeExportMsg } from '../protocol/encode.ts';
import type { ExportMsg } from '../protocol/record.ts';

/**
 * The bounds of one channel's admission spool. The defaults are Gatekeeper 3.24's fixed
 * values (`pkg/export/disk/disk.go`); tests and embedders may narrow them.
 */
export interface AdmissionLimits {
  /** A segment is completed before a record would take it past this size. 1 MiB. */
  readonly maxBytes: number;
  /** A segment is completed at this many records. 1,000. */
  readonly maxRecords: number;
  /** A segment is completed this long after it was opened. 1 minute. */
  readonly maxAgeMs: number;
  /** Completed segments kept per channel; the oldest beyond are removed. 20. */
  readonly maxSegments: number;
  /** Bytes of completed segments plus the open one, per channel. 20 MiB. */
  readonly maxTotalBytes: number;
  /** Completed segments older than this (by mtime) are removed. 24 hours. */
  readonly retainMs: number;
  /** A record (its JSON, without the newline) larger than this is refused. 64 KiB. */
  readonly maxRecordBytes: number;
  /** Free space the file system keeps beyond every record written. 16 MiB. */
  readonly minFreeBytes: number;
}

/** Gatekeeper 3.24's admission spool limits. */
export const GATEKEEPER_ADMISSION_LIMITS: AdmissionLimits = Object.freeze({
  maxBytes: 1 << 20,
  maxRecords: 1000,
  maxAgeMs: 60_000,
  maxSegments: 20,
  maxTotalBytes: 20 << 20,
  retainMs: 24 * 60 * 60 * 1000,
  maxRecordBytes: 64 << 10,
  minFreeBytes: 16 << 20,
});

/**
 * Fills in Gatekeeper's defaults and checks each limit (a positive whole number; the free
 * space reserve may be 0). Throws ERR_INVALID_CONFIG naming the limit.
 *
 * @example
 * ```ts
 * resolveAdmissionLimits({ maxRecords: 10 }); // { maxBytes: 1048576, maxRecords: 10, … }
 * ```
 */
export function resolveAdmissionLimits(over: Partial<AdmissionLimits> = {}): AdmissionLimits {
  const limits = { ...GATEKEEPER_ADMISSION_LIMITS };
  for (const key of Object.keys(limits) as (keyof AdmissionLimits)[]) {
    const v = over[key] ?? limits[key];
    const min = key === 'minFreeBytes' ? 0 : 1;
    if (!Number.isSafeInteger(v) || v < min) {
      throw new GkExportError(
        'ERR_INVALID_CONFIG',
        `${key} ${JSON.stringify(v)} is not allowed: use a whole number ≥ ${min}`,
      );
    }
    limits[key] = v;
  }
  return limits;
}

/**
 * Encodes an admission record as the segment line it becomes (without the newline), or
 * refuses it: only `violation_admission` records belong in admission segments, and none
 * larger than `maxRecordBytes` (Gatekeeper: 64 KiB) or than a whole segment.
 *
 * @example
 * ```ts
 * const line = encodeAdmissionRecord({ id: uid, eventType: 'violation_admission', … });
 * ```
 */
export function encodeAdmissionRecord(
  msg: ExportMsg,
  limits: Pick<AdmissionLimits, 'maxRecordBytes' | 'maxBytes'> = GATEKEEPER_ADMISSION_LIMITS,
): Buffer {
  if (msg.eventType !== 'violation_admission') {
    throw new GkExportError<AdmissionRecordErrorCode>(
      'ERR_NOT_ADMISSION_RECORD',
      `eventType ${JSON.stringify(msg.eventType ?? '')} is not allowed in an admission segment: use violation_admission`,
    );
  }
  const line = Buffer.from(encodeExportMsg(msg));
  const max = Math.min(limits.maxRecordBytes, limits.maxBytes - 1);
  if (line.length > max) {
    throw new GkExportError<AdmissionRecordErrorCode>(
      'ERR_RECORD_TOO_LARGE',
      `the record is ${line.length} bytes, over the ${max}-byte limit of an admission record`,
    );
  }
  return line;
}
