/**
 * The writer: gives any Node audit process Gatekeeper's disk-export contract, byte for byte.
 *
 * @example
 * ```ts
 * import { createDiskWriter, type ExportMsg } from 'gk-export/writer';
 *
 * const writer = createDiskWriter({ root: '/tmp/violations/topics', maxAuditResults: 3 });
 * const run = await writer.startRun('audit-channel', '2023-07-18T21:21:52Z');
 * await run.write({ eventType: 'violation_audited', name: 'must-have-owner' } satisfies ExportMsg);
 * await run.complete();
 * ```
 */
export { createDiskWriter, type DiskWriter } from './disk-writer.ts';
export type { AuditRun } from './audit-run.ts';
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
} from './admission-limits.ts';
export { pruneCompletedRuns } from './retention.ts';
export { createAuditLogger, type AuditLogger } from './audit-log.ts';
export {
  formatGatekeeperLogLine,
  gatekeeperLogFields,
  AuditLogEvent,
  type ConstraintRef,
} from '../protocol/gatekeeper-log.ts';
// What a writer's caller builds and catches, so that `gk-export/writer` alone is enough.
export type { ExportMsg } from '../protocol/record.ts';
export {
  GkExportError,
  isGkExportError,
  type AdmissionRecordErrorCode,
  type AdmissionSegmentErrorCode,
  type AdmissionSpoolErrorCode,
  type AuditRunErrorCode,
  type DiskWriterErrorCode,
  type ErrorCode,
} from '../errors.ts';
