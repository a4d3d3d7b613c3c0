import { GkExportError, type NameErrorCode } from '../errors.ts';

/**
 * A run's state, in one vocabulary for code, logs and metrics (the `state` of "run delivered"
 * and of `gk_export_runs_completed_total`) and `gk-export inspect`:
 * - `open`: being written: its writer holds the `.txt`, or it has not been idle for long;
 * - `complete`: completed by its writer (renamed to `.log`; an admission segment's `.log`);
 * - `incomplete`: complete, but read to its end without the `audit is completed` marker;
 * - `abandoned`: a `.txt` that no writer holds stopped growing (its writer crashed).
 * A file's name alone says `open` or `complete`: {@link FileState} joins that to the kind.
 *
 * @example
 * ```ts
 * if (run.phase === RunPhase.Open) return; // not delivered unless followed
 * ```
 */
export const RunPhase = {
  Open: 'open',
  Complete: 'complete',
  Incomplete: 'incomplete',
  Abandoned: 'abandoned',
} as const;
export type RunPhase = (typeof RunPhase)[keyof typeof RunPhase];

/**
 * The state a file on the export volume is in, derived from its name alone (DESIGN §1): its
 * kind and, in the words of {@link RunPhase}, `open` or `complete`.
 */
export const FileState = {
  AuditOpen: 'audit-open',
  AuditComplete: 'audit-complete',
  AdmissionOpen: 'admission-open',
  AdmissionComplete: 'admission-complete',
  Deleting: 'deleting',
  NotOurs: 'not-ours',
} as const;
export type FileState = (typeof FileState)[keyof typeof FileState];

/** What a file name says about the file. `run` is the name without its extension. */
export interface ClassifiedName {
  readonly state: FileState;
  readonly run: string;
}

/**
 * Why `name` is not a valid channel or run name, or undefined when it is valid.
 * Invalid: empty, `.`/`..`, containing `/`, `\` or NUL, or absolute.
 *
 * @example
 * ```ts
 * invalidNameReason('audit-channel'); // undefined
 * invalidNameReason('../x');          // 'contains "/"'
 * ```
 */
export function invalidNameReason(name: string): string | undefined {
  if (name.length === 0) return 'is empty';
  if (name === '.' || name === '..') return `is "${name}"`;
  if (name.includes('/')) return 'contains "/"';
  if (name.includes('\\')) return 'contains "\\"';
  if (name.includes('\0')) return 'contains a NUL byte';
  return undefined;
}

/**
 * Throws ERR_INVALID_NAME unless `name` is a valid channel or run name.
 *
 * @example
 * ```ts
 * assertValidName('channel', 'audit-channel');
 * ```
 */
export function assertValidName(kind: 'channel' | 'run', name: string): void {
  const reason = invalidNameReason(name);
  if (reason !== undefined) {
    throw new GkExportError<NameErrorCode>(
      'ERR_INVALID_NAME',
      `invalid ${kind} name ${JSON.stringify(name)}: it ${reason}; use a plain file name without "/", "\\" or ".."`,
    );
  }
}

/**
 * The run (file stem) for an audit ID: every `:` becomes `_`.
 *
 * @example
 * ```ts
 * runNameForAuditId('2023-07-18T21:21:52Z'); // '2023-07-18T21_21_52Z'
 * ```
 */
export function runNameForAuditId(auditId: string): string {
  const run = auditId.replaceAll(':', '_');
  const reason = invalidNameReason(run);
  if (reason !== undefined) {
    throw new GkExportError<NameErrorCode>(
      'ERR_INVALID_AUDIT_ID',
      `invalid audit ID ${JSON.stringify(auditId)}: its run name ${reason}`,
    );
  }
  return run;
}

/**
 * The audit ID (RFC 3339, UTC, whole seconds) for an instant, as Gatekeeper formats it.
 *
 * @example
 * ```ts
 * auditIdFor(new Date('2023-07-18T21:21:52.345Z')); // '2023-07-18T21:21:52Z'
 * ```
 */
export function auditIdFor(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Every admission segment's name starts with this. */
export const ADMISSION_PREFIX = 'admission-';

/**
 * An admission segment's timestamp as Gatekeeper writes it: UTC in Go's layout
 * `20060102T150405.000000000Z` (nanoseconds, always nine digits).
 *
 * @example
 * ```ts
 * admissionTimestamp(1_785_578_400_123_456_789n); // '20260801T100000.123456789Z'
 * ```
 */
export function admissionTimestamp(epochNs: bigint): string {
  const ms = Number(epochNs / 1_000_000n);
  const iso = new Date(ms).toISOString(); // 2026-08-01T10:00:00.123Z
  const ns = (epochNs % 1_000_000_000n).toString().padStart(9, '0');
  return `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}T${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}.${ns}Z`;
}

/**
 * The stem of an admission segment (Gatekeeper 3.24): `admission-<UTC ts>-<16 lowercase hex>`.
 * The file is `<stem>.open` while written, `<stem>.log` when complete,
 * `<stem>.recovered.log` when recovered from a crashed writer, `<stem>.log.deleting` while
 * being deleted. Stems sort oldest first by name.
 *
 * @example
 * ```ts
 * admissionSegmentStem(1_785_578_400_123_456_789n, '0123456789abcdef');
 * // 'admission-20260801T100000.123456789Z-0123456789abcdef'
 * ```
 */
export function admissionSegmentStem(epochNs: bigint, hex: string): string {
  if (!/^[0-9a-f]{16}$/.test(hex)) {
    throw new GkExportError<NameErrorCode>(
      'ERR_INVALID_NAME',
      `admission segment id ${JSON.stringify(hex)} is not 16 lowercase hex digits`,
    );
  }
  return `${ADMISSION_PREFIX}${admissionTimestamp(epochNs)}-${hex}`;
}

/**
 * Classifies a file name of a channel directory by its state. Admission segments are
 * recognised by their prefix alone, as Gatekeeper's own reader does, so every generation of
 * names is read: Gatekeeper 3.24's `admission-20260801T100000.123456789Z-<16 hex>.log`, its
 * `….recovered.log`, and the older `admission-2026-08-01T10_00_00.000Z-<8 hex>.log`. A name
 * containing `.deleting` is a segment being deleted: never read.
 *
 * @example
 * ```ts
 * classifyFileName('2023-07-18T21_21_52Z.txt'); // { state: 'audit-open', run: '2023-07-18T21_21_52Z' }
 * classifyFileName('notes.md');                 // { state: 'not-ours', run: 'notes.md' }
 * ```
 */
export function classifyFileName(name: string): ClassifiedName {
  if (invalidNameReason(name) !== undefined) return { state: FileState.NotOurs, run: name };
  if (name.endsWith('.deleting')) return { state: FileState.Deleting, run: stem(name) };
  const dot = name.lastIndexOf('.');
  if (dot <= 0) return { state: FileState.NotOurs, run: name };
  const run = name.slice(0, dot);
  const ext = name.slice(dot);
  const admission = run.startsWith(ADMISSION_PREFIX) && run.length > ADMISSION_PREFIX.length;
  if (admission) {
    // Gatekeeper's recovery and its reader skip any admission name containing ".deleting".
    if (run.includes('.deleting')) return { state: FileState.Deleting, run };
    if (ext === '.open') return { state: FileState.AdmissionOpen, run };
    if (ext === '.log') return { state: FileState.AdmissionComplete, run };
    return { state: FileState.NotOurs, run: name };
  }
  if (ext === '.txt') return { state: FileState.AuditOpen, run };
  if (ext === '.log') return { state: FileState.AuditComplete, run };
  return { state: FileState.NotOurs, run: name };
}

function stem(name: string): string {
  const dot = name.lastIndexOf('.');
  return dot > 0 ? name.slice(0, dot) : name;
}

/** File name of an audit run in progress. */
export function openRunFileName(run: string): string {
  return `${run}.txt`;
}

/** File name of a completed audit run. */
export function completeRunFileName(run: string): string {
  return `${run}.log`;
}

/** The markers that open and close an audit run (DESIGN §1). */
export const AUDIT_STARTED = 'audit is started';
export const AUDIT_COMPLETED = 'audit is completed';
