/**
 * The writer: gives any Node audit process Gatekeeper's disk-export contract, byte for byte.
 *
 * @example
 * ```ts
 * import { createDiskWriter } from 'gk-export/writer';
 * ```
 */
export { createDiskWriter, type DiskWriter, type DiskWriterErrorCode } from './disk-writer.ts';
export type { AuditRun, AuditRunErrorCode } from './audit-run.ts';
export type { DiskWriterOptions } from './config.ts';
export {
  createAdmissionWriter,
  admissionSegmentName,
  type AdmissionWriter,
  type AdmissionWriterOptions,
} from './admission-writer.ts';
export {
  encodeAdmissionRecord,
  GATEKEEPER_ADMISSION_LIMITS,
  type AdmissionLimits,
  type AdmissionRecordErrorCode,
} from './admission-limits.ts';
export type { AdmissionSpoolErrorCode } from './admission-spool.ts';
export type { AdmissionSegmentErrorCode } from './admission-segment.ts';
export { pruneCompletedRuns } from './retention.ts';
export {
  createAuditLogger,
  formatGatekeeperLogLine,
  gatekeeperLogFields,
  AuditLogEvent,
  type AuditLogger,
  type ConstraintRef,
} from './audit-log.ts';
