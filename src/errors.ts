// Every error code gk-export throws, in one closed list grouped by the module that throws it.
// A new code is added here (to its module's group, or a new group added to ErrorCode), so the
// compiler refuses a code that is misspelt or belongs to no module.

// ── protocol (src/protocol/) ────────────────────────────────────────────────────────────────

/** protocol/names.ts: a channel, run or audit ID that the disk-export contract does not allow. */
export type NameErrorCode = 'ERR_INVALID_NAME' | 'ERR_INVALID_AUDIT_ID';
/** protocol/flock.ts: the flock(2) binding is missing, a lock is held, or flock failed. */
export type FlockErrorCode = 'ERR_FLOCK_UNAVAILABLE' | 'ERR_LOCK_HELD' | 'ERR_FLOCK_FAILED';
/** protocol/go-json.ts (through encode.ts): a value Go's encoding/json would not produce. */
export type EncodeErrorCode = 'ERR_UNSUPPORTED_VALUE';

// ── writer (src/writer/) ────────────────────────────────────────────────────────────────────

/** writer/config.ts and writer/admission-limits.ts: writer options that are not allowed. */
export type WriterConfigErrorCode = 'ERR_INVALID_CONFIG';
/** writer/disk-writer.ts and writer/admission-writer.ts: misuse of a writer's lifecycle. */
export type DiskWriterErrorCode = 'ERR_RUN_ALREADY_OPEN' | 'ERR_NO_OPEN_RUN' | 'ERR_WRITER_CLOSED';
/** writer/audit-run.ts: a write to a run already completed or aborted. */
export type AuditRunErrorCode = 'ERR_RUN_CLOSED';
/** writer/admission-limits.ts: a record an admission segment must not hold. */
export type AdmissionRecordErrorCode = 'ERR_NOT_ADMISSION_RECORD' | 'ERR_RECORD_TOO_LARGE';
/** writer/admission-spool.ts: the spool's bounds refuse more records. */
export type AdmissionSpoolErrorCode =
  'ERR_ADMISSION_SPOOL_BUSY' | 'ERR_ADMISSION_SPOOL_FULL' | 'ERR_ADMISSION_DISK_FULL';
/** writer/admission-segment.ts: the channel directory or a segment file is not usable. */
export type AdmissionSegmentErrorCode = 'ERR_ADMISSION_DIR' | 'ERR_ADMISSION_SEGMENT';

// ── configuration (src/config/, each component's options) ───────────────────────────────────

/**
 * Settings of the commands: one value that is not allowed (`ERR_INVALID_SETTING`, thrown by
 * the parsers of src/config/), or settings that do not go together or are missing
 * (`ERR_INVALID_CONFIG`).
 */
export type ConfigErrorCode = 'ERR_INVALID_SETTING' | 'ERR_INVALID_CONFIG';

// ── state (src/pipeline/checkpoint.ts, src/dead-letter.ts, src/reader/state-lock.ts, …) ──────

/** pipeline/checkpoint.ts: the checkpoint file cannot be read or written. */
export type CheckpointErrorCode = 'ERR_CHECKPOINT_CORRUPT' | 'ERR_CHECKPOINT_WRITE';
/** dead-letter.ts: a bad record cannot be set aside, or shutdown ended the wait for it. */
export type DeadLetterErrorCode = 'ERR_DEAD_LETTER_WRITE' | 'ERR_DEAD_LETTER_INTERRUPTED';
/** reader/state-lock.ts: another reader holds the state dir, or it cannot be written. */
export type StateLockErrorCode = 'ERR_STATE_LOCKED' | 'ERR_STATE_DIR_NOT_WRITABLE';
/** completed-run-file.ts: a per-run state file of changes-only or openreports is damaged. */
export type CompletedRunErrorCode = 'ERR_RUN_STATE_CORRUPT';

// ── server (src/server/) ────────────────────────────────────────────────────────────────────

/** server/http-server.ts: the metrics and health server cannot listen on its port. */
export type ServerErrorCode = 'ERR_HTTP_LISTEN';

// ── sinks (src/sinks/) ──────────────────────────────────────────────────────────────────────

/** sinks/webhook/: the receiver refused a batch for good, or shutdown ended its retries. */
export type WebhookErrorCode = 'ERR_SINK_PERMANENT' | 'ERR_SINK_INTERRUPTED';
/** sinks/stdout.ts: stdout was closed or failed; or the shutdown grace period ended a write. */
export type StdoutErrorCode = 'ERR_STDOUT_CLOSED' | 'ERR_STDOUT_WRITE' | 'ERR_SINK_INTERRUPTED';
/** sinks/openreports/: no Kubernetes configuration, or shutdown ended the retries. */
export type OpenReportsErrorCode = 'ERR_KUBE_CONFIG' | 'ERR_SINK_INTERRUPTED';

/**
 * Every code a GkExportError can carry: the union of the groups above.
 *
 * @example
 * ```ts
 * const code: ErrorCode = 'ERR_LOCK_HELD';
 * ```
 */
export type ErrorCode =
  | NameErrorCode
  | FlockErrorCode
  | EncodeErrorCode
  | WriterConfigErrorCode
  | DiskWriterErrorCode
  | AuditRunErrorCode
  | AdmissionRecordErrorCode
  | AdmissionSpoolErrorCode
  | AdmissionSegmentErrorCode
  | ConfigErrorCode
  | CheckpointErrorCode
  | DeadLetterErrorCode
  | StateLockErrorCode
  | CompletedRunErrorCode
  | ServerErrorCode
  | WebhookErrorCode
  | StdoutErrorCode
  | OpenReportsErrorCode;

/**
 * One base class for every error gk-export throws. Each error carries a stable, literal
 * `code` from {@link ErrorCode} (tests and callers branch on it, never on the message) and an
 * optional `cause`.
 *
 * @example
 * ```ts
 * throw new GkExportError('ERR_INVALID_NAME', 'channel "a/b" contains "/"');
 * ```
 */
export class GkExportError<C extends ErrorCode = ErrorCode> extends Error {
  override readonly name = 'GkExportError';
  readonly code: C;

  constructor(code: C, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/**
 * True when `err` is a GkExportError, optionally with the given code.
 *
 * @example
 * ```ts
 * if (isGkExportError(err, 'ERR_LOCK_HELD')) retry();
 * ```
 */
export function isGkExportError<C extends ErrorCode = ErrorCode>(
  err: unknown,
  code?: C,
): err is GkExportError<C> {
  return err instanceof GkExportError && (code === undefined || err.code === code);
}

/** The `errno` code of a Node system error (`ENOENT`, `EACCES` …), or undefined. */
export function errnoCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err) {
    const code = (err as { code: unknown }).code;
    return typeof code === 'string' ? code : undefined;
  }
  return undefined;
}
