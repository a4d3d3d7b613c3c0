import type { Option } from 'commander';
import { sep } from 'node:path';
import { formatByteSize, parseByteSize } from '../config/byte-size.ts';
import { boolOption, listSetting, parseBool, setting } from '../config/commander.ts';
import { DEFAULTS, defaultStateDir } from '../config/defaults.ts';
import { formatDuration, parseDuration } from '../config/duration.ts';
import { integer, oneOf, parsePath } from '../config/parsers.ts';
import { GkExportError } from '../errors.ts';
import type { ExportMsgField } from '../protocol/record.ts';
import { LOG_LEVELS, type LogLevel } from '../telemetry/index.ts';
import { DROPPABLE_FIELDS, type FilterConfig } from './filters.ts';

/** What the disk-export source consumes. */
export const READ_MODES = ['all', 'audit', 'admission'] as const;
export type ReadMode = (typeof READ_MODES)[number];

/** Record formats of the stdout sink. */
export const STDOUT_FORMATS = ['raw', 'gatekeeper-log'] as const;
export type StdoutFormat = (typeof STDOUT_FORMATS)[number];

/** Everything `gk-export read` needs for the disk-export source, filters and stdout. */
export interface ReaderConfig {
  readonly root: string;
  readonly stateDir: string;
  readonly mode: ReadMode;
  readonly deleteAfterRead: boolean;
  readonly poll: boolean;
  readonly intervalMs: number;
  readonly followOpen: boolean;
  readonly abandonAfterMs: number;
  readonly maxOpenFiles: number;
  readonly maxAuditResults: number;
  readonly maxRecordBytes: number;
  readonly batchMaxRecords: number;
  readonly batchMaxBytes: number;
  readonly format: StdoutFormat;
  readonly includeMarkers: boolean;
  readonly filters: FilterConfig;
  readonly logLevel: LogLevel;
  /** Port of /metrics, /healthz, /readyz; 0 disables the listener. */
  readonly httpPort: number;
}

/**
 * The mode when neither `--mode` nor `GK_EXPORT_MODE` gives one. Gatekeeper's own reader
 * consumes (and deletes) admission segments exactly when `DELETE_AFTER_READ` is true, and
 * the 3.24 chart's admission sidecar sets just that, so a drop-in reader does the same.
 *
 * @example
 * ```ts
 * defaultMode({ DELETE_AFTER_READ: 'true' }); // 'admission'
 * defaultMode({});                            // 'all'
 * ```
 */
export function defaultMode(env: NodeJS.ProcessEnv = process.env): ReadMode {
  const v = env.DELETE_AFTER_READ;
  if (v === undefined || v.trim() === '') return DEFAULTS.reader.mode;
  try {
    return parseBool(v) ? 'admission' : DEFAULTS.reader.mode;
  } catch {
    // An invalid value is reported by --delete-after-read's own parser.
    return DEFAULTS.reader.mode;
  }
}

/**
 * The reader's command-line options, each with its environment variable.
 *
 * @example
 * ```ts
 * for (const o of readerOptions()) command.addOption(o);
 * ```
 */
export function readerOptions(): Option[] {
  const d = DEFAULTS.reader;
  return [
    setting('--root <dir>', 'export root (one directory per channel)', {
      env: 'ROOT_PATH',
      default: DEFAULTS.volume.root,
    }),
    setting(
      '--state-dir <dir>',
      'checkpoints and dead letters (default: .gk-export-state beside the root)',
      {
        env: 'GK_EXPORT_STATE_DIR',
      },
    ),
    setting('--mode <mode>', 'what to consume: all, audit or admission', {
      env: 'GK_EXPORT_MODE',
      parse: oneOf(READ_MODES),
      default: defaultMode(),
      show: 'admission if DELETE_AFTER_READ=true, else all',
    }),
    boolOption('--delete-after-read', 'delete admission segments once delivered', {
      env: 'DELETE_AFTER_READ',
      default: d.deleteAfterRead,
    }),
    boolOption('--poll', 'poll the volume instead of using native file events', {
      env: 'GK_EXPORT_POLL',
      default: d.poll,
    }),
    setting('--poll-interval <duration>', 'polling interval and rescan period', {
      env: 'GK_EXPORT_POLL_INTERVAL',
      parse: parseDuration,
      default: d.pollIntervalMs,
      show: formatDuration,
    }),
    boolOption('--follow-open', 'stream runs while they are being written', {
      env: 'GK_EXPORT_FOLLOW_OPEN',
      default: d.followOpen,
    }),
    setting('--abandon-after <duration>', 'an unlocked .txt idle this long is abandoned', {
      env: 'GK_EXPORT_ABANDON_AFTER',
      parse: parseDuration,
      default: d.abandonAfterMs,
      show: formatDuration,
    }),
    setting('--max-open-files <n>', 'run files held open at once', {
      env: 'GK_EXPORT_MAX_OPEN_FILES',
      parse: integer(2, 65536),
      default: d.maxOpenFiles,
    }),
    setting('--max-audit-results <n>', 'delivered runs kept per channel (0..5)', {
      env: 'GK_EXPORT_MAX_AUDIT_RESULTS',
      parse: integer(0, 5),
      default: DEFAULTS.volume.maxAuditResults,
    }),
    setting('--max-record-bytes <size>', 'longest line accepted', {
      env: 'GK_EXPORT_MAX_RECORD_BYTES',
      parse: parseByteSize,
      default: DEFAULTS.volume.maxRecordBytes,
      show: formatByteSize,
    }),
    setting('--batch-max-records <n>', 'records read per batch', {
      env: 'GK_EXPORT_BATCH_MAX_RECORDS',
      parse: integer(1, 1_000_000),
      default: d.batchMaxRecords,
    }),
    setting('--batch-max-bytes <size>', 'bytes read per batch', {
      env: 'GK_EXPORT_BATCH_MAX_BYTES',
      parse: parseByteSize,
      default: d.batchMaxBytes,
      show: formatByteSize,
    }),
    setting('--format <format>', 'stdout format: raw or gatekeeper-log', {
      env: 'GK_EXPORT_FORMAT',
      parse: oneOf(STDOUT_FORMATS),
      default: d.format,
    }),
    boolOption('--include-markers', 'also print the run start/completed markers', {
      env: 'GK_EXPORT_INCLUDE_MARKERS',
      default: d.includeMarkers,
    }),
    listSetting('--event-type <type>', 'keep only these event types (repeatable)', {
      env: 'GK_EXPORT_EVENT_TYPE',
      item: String,
    }),
    listSetting(
      '--enforcement-action <action>',
      'keep only these enforcement actions (repeatable)',
      {
        env: 'GK_EXPORT_ENFORCEMENT_ACTION',
        item: String,
      },
    ),
    listSetting('--constraint-kind <kind>', 'keep only these constraint kinds (repeatable)', {
      env: 'GK_EXPORT_CONSTRAINT_KIND',
      item: String,
    }),
    listSetting(
      '--namespace <ns>',
      'keep only violations of resources in these namespaces (repeatable)',
      {
        env: 'GK_EXPORT_NAMESPACE',
        item: String,
      },
    ),
    listSetting('--drop-field <field>', 'remove this field from every record (repeatable)', {
      env: 'GK_EXPORT_DROP_FIELD',
      item: oneOf(DROPPABLE_FIELDS),
    }),
    setting('--http-port <port>', 'port of /metrics, /healthz and /readyz (0 disables)', {
      env: 'GK_EXPORT_HTTP_PORT',
      parse: integer(0, 65535),
      default: d.httpPort,
    }),
    setting('--log-level <level>', 'operational log level (stderr)', {
      env: 'GK_EXPORT_LOG_LEVEL',
      parse: oneOf(LOG_LEVELS),
      default: d.logLevel,
    }),
  ];
}

/**
 * Turns parsed option values into the reader's config (defaults filled, paths absolute).
 *
 * @example
 * ```ts
 * const config = resolveReaderConfig(command.opts());
 * ```
 */
export function resolveReaderConfig(o: Record<string, unknown>): ReaderConfig {
  const d = DEFAULTS.reader;
  // An empty ROOT_PATH counts as unset.
  const root = parsePath(String(o.root || DEFAULTS.volume.root));
  const stateDir = o.stateDir ? parsePath(String(o.stateDir)) : defaultStateDir(root);
  const list = (v: unknown) => (Array.isArray(v) ? (v as string[]) : []);
  const num = (v: unknown, dflt: number) => Number(v ?? dflt);
  const bool = (v: unknown, dflt: boolean) => (typeof v === 'boolean' ? v : dflt);
  if (stateDir === root || stateDir.startsWith(root + sep)) {
    // Inside the root it would look like a channel to every reader and to the writer.
    throw new GkExportError(
      'ERR_INVALID_CONFIG',
      `--state-dir ${stateDir} is inside --root ${root}: use a directory outside the export root`,
    );
  }
  return {
    root,
    stateDir,
    mode: (o.mode as ReadMode | undefined) ?? d.mode,
    deleteAfterRead: bool(o.deleteAfterRead, d.deleteAfterRead),
    poll: bool(o.poll, d.poll),
    intervalMs: num(o.pollInterval, d.pollIntervalMs),
    followOpen: bool(o.followOpen, d.followOpen),
    abandonAfterMs: num(o.abandonAfter, d.abandonAfterMs),
    maxOpenFiles: num(o.maxOpenFiles, d.maxOpenFiles),
    maxAuditResults: num(o.maxAuditResults, DEFAULTS.volume.maxAuditResults),
    maxRecordBytes: num(o.maxRecordBytes, DEFAULTS.volume.maxRecordBytes),
    batchMaxRecords: num(o.batchMaxRecords, d.batchMaxRecords),
    batchMaxBytes: num(o.batchMaxBytes, d.batchMaxBytes),
    format: (o.format as StdoutFormat | undefined) ?? d.format,
    includeMarkers: bool(o.includeMarkers, d.includeMarkers),
    filters: {
      eventTypes: list(o.eventType),
      enforcementActions: list(o.enforcementAction),
      constraintKinds: list(o.constraintKind),
      namespaces: list(o.namespace),
      dropFields: list(o.dropField) as ExportMsgField[],
    },
    logLevel: (o.logLevel as LogLevel | undefined) ?? d.logLevel,
    httpPort: num(o.httpPort, d.httpPort),
  };
}
