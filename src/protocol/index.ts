/**
 * The disk-export contract as a library: the ExportMsg record and its types, the validator,
 * Go's canonical encoding, and the file names of a channel directory. Pure JavaScript: it
 * loads no native code (the `flock` binding is the writer's, behind `gk-export/writer`), so a
 * consumer that only encodes or checks records pays for nothing else.
 *
 * @example
 * ```ts
 * import { classifyFileName, encodeExportMsg, validateExportMsg } from 'gk-export/protocol';
 *
 * const r = validateExportMsg(JSON.parse(line));
 * if (r.ok) process.stdout.write(encodeExportMsg(r.msg) + '\n');
 * classifyFileName('2023-07-18T21_21_52Z.log'); // { state: 'audit-complete', run: '2023-07-18T21_21_52Z' }
 * ```
 */
export {
  EXPORT_MSG_FIELDS,
  EXPORT_MSG_FIELD_TYPES,
  EventType,
  type ExportMsg,
  type ExportMsgField,
  type FieldType,
} from './record.ts';
export { validateExportMsg, type FieldError, type ValidationResult } from './validate.ts';
export { encodeExportMsg } from './encode.ts';
export {
  AUDIT_COMPLETED,
  AUDIT_STARTED,
  FileState,
  assertValidName,
  auditIdFor,
  classifyFileName,
  completeRunFileName,
  invalidNameReason,
  openRunFileName,
  runNameForAuditId,
  type ClassifiedName,
} from './names.ts';
export {
  GkExportError,
  isGkExportError,
  type EncodeErrorCode,
  type ErrorCode,
  type NameErrorCode,
} from '../errors.ts';
