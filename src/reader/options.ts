import { InvalidArgumentError, Option } from 'commander';
import { dirname, join, resolve, sep } from 'node:path';
import { parseByteSize } from '../byte-size.ts';
import { parseDuration } from '../duration.ts';
import { GkExportError, isGkExportError } from '../errors.ts';
import type { ExportMsgField } from '../protocol/record.ts';
import { LOG_LEVELS, type LogLevel } from '../telemetry/index.ts';
import type { ReadMode } from './disk-source.ts';
import { DROPPABLE_FIELDS, type FilterConfig } from './filters.ts';

/** Default export root, as Gatekeeper's chart mounts it. */
export const DEFAULT_ROOT = '/tmp/violations/topics';

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
  readonly batchMaxLines: number;
  readonly batchMaxBytes: number;
  readonly format: StdoutFormat;
  readonly includeMarkers: boolean;
  readonly filters: FilterConfig;
  readonly logLevel: LogLevel;
  /** Port of /metrics, /healthz, /readyz; 0 disables the listener. */
  readonly httpPort: number;
}

/**
 * Turns a parser that throws GkExportError into a commander option parser (one-line
 * "invalid argument" errors, exit code 2).
 *
 * @example
 * ```ts
 * new Option('--timeout <duration>').argParser(optionParser(parseDuration));
 * ```
 */
export function optionParser<T>(parse: (v: string) => T): (v: string) => T {
  return (v) => {
    try {
      return parse(v);
    } catch (err) {
      if (isGkExportError(err)) throw new InvalidArgumentError(err.message);
      throw err;
    }
  };
}

function intIn(min: number, max: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!/^\d+$/.test(v.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`use a whole number from ${min} to ${max}`);
    }
    return n;
  };
}

/** Parses `true`/`false` (also `1`/`0`, `yes`/`no`), for flags that env vars can set. */
export function parseBool(v: string | boolean): boolean {
  // A bare flag passes its preset (true) through the parser.
  if (typeof v === 'boolean') return v;
  const s = v.trim().toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(s)) return true;
  if (['false', '0', 'no', 'off'].includes(s)) return false;
  throw new InvalidArgumentError('use true or false');
}

function collect(parse: (v: string) => string = (v) => v) {
  return (v: string, prev: string[] | undefined): string[] => {
    // Repeatable flags and comma-separated env values both work.
    const items = v
      .split(',')
      .map((s) => parse(s.trim()))
      .filter((s) => s.length > 0);
    return [...(prev ?? []), ...items];
  };
}

function oneOf<T extends string>(allowed: readonly T[]) {
  return (v: string): T => {
    if (!(allowed as readonly string[]).includes(v)) {
      throw new InvalidArgumentError(`allowed: ${allowed.join(', ')}`);
    }
    return v as T;
  };
}

function boolOption(flags: string, description: string, env: string, dflt: boolean): Option {
  return new Option(`${flags} [bool]`, description)
    .env(env)
    .preset(true)
    .default(dflt)
    .argParser(parseBool);
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
  return [
    new Option('--root <dir>', 'export root (one directory per channel)')
      .env('ROOT_PATH')
      .default(DEFAULT_ROOT),
    new Option(
      '--state-dir <dir>',
      'checkpoints and dead letters (default: .gk-export-state beside the root)',
    ).env('GK_EXPORT_STATE_DIR'),
    new Option('--mode <mode>', 'what to consume: all, audit or admission')
      .env('GK_EXPORT_MODE')
      .default('all')
      .argParser(oneOf(['all', 'audit', 'admission'] as const)),
    boolOption(
      '--delete-after-read',
      'delete admission segments once delivered',
      'DELETE_AFTER_READ',
      true,
    ),
    boolOption(
      '--poll',
      'poll the volume instead of using native file events',
      'GK_EXPORT_POLL',
      false,
    ),
    new Option('--poll-interval <duration>', 'polling interval and rescan period')
      .env('GK_EXPORT_POLL_INTERVAL')
      .default(1000, '1s')
      .argParser(optionParser(parseDuration)),
    boolOption(
      '--follow-open',
      'stream runs while they are being written',
      'GK_EXPORT_FOLLOW_OPEN',
      false,
    ),
    new Option('--abandon-after <duration>', 'an unlocked .txt idle this long is abandoned')
      .env('GK_EXPORT_ABANDON_AFTER')
      .default(600_000, '10m')
      .argParser(optionParser(parseDuration)),
    new Option('--max-open-files <n>', 'run files held open at once')
      .env('GK_EXPORT_MAX_OPEN_FILES')
      .default(256)
      .argParser(intIn(2, 65536)),
    new Option('--max-audit-results <n>', 'delivered runs kept per channel (0..5)')
      .env('GK_EXPORT_MAX_AUDIT_RESULTS')
      .default(3)
      .argParser(intIn(0, 5)),
    new Option('--max-record-bytes <size>', 'longest line accepted')
      .env('GK_EXPORT_MAX_RECORD_BYTES')
      .default(2 * 1024 * 1024, '2MiB')
      .argParser(optionParser(parseByteSize)),
    new Option('--batch-max-records <n>', 'records read per batch')
      .env('GK_EXPORT_BATCH_MAX_RECORDS')
      .default(4096)
      .argParser(intIn(1, 1_000_000)),
    new Option('--batch-max-bytes <size>', 'bytes read per batch')
      .env('GK_EXPORT_BATCH_MAX_BYTES')
      .default(256 * 1024, '256KiB')
      .argParser(optionParser(parseByteSize)),
    new Option('--format <format>', 'stdout format: raw or gatekeeper-log')
      .env('GK_EXPORT_FORMAT')
      .default('raw')
      .argParser(oneOf(STDOUT_FORMATS)),
    boolOption(
      '--include-markers',
      'also print the run start/completed markers',
      'GK_EXPORT_INCLUDE_MARKERS',
      false,
    ),
    new Option('--event-type <type>', 'keep only these event types (repeatable)')
      .env('GK_EXPORT_EVENT_TYPE')
      .argParser(collect()),
    new Option('--enforcement-action <action>', 'keep only these enforcement actions (repeatable)')
      .env('GK_EXPORT_ENFORCEMENT_ACTION')
      .argParser(collect()),
    new Option('--constraint-kind <kind>', 'keep only these constraint kinds (repeatable)')
      .env('GK_EXPORT_CONSTRAINT_KIND')
      .argParser(collect()),
    new Option(
      '--namespace <ns>',
      'keep only violations of resources in these namespaces (repeatable)',
    )
      .env('GK_EXPORT_NAMESPACE')
      .argParser(collect()),
    new Option('--drop-field <field>', 'remove this field from every record (repeatable)')
      .env('GK_EXPORT_DROP_FIELD')
      .argParser(collect(oneOf(DROPPABLE_FIELDS))),
    new Option('--http-port <port>', 'port of /metrics, /healthz and /readyz (0 disables)')
      .env('GK_EXPORT_HTTP_PORT')
      .default(9465)
      .argParser(intIn(0, 65535)),
    new Option('--log-level <level>', 'operational log level (stderr)')
      .env('GK_EXPORT_LOG_LEVEL')
      .default('info')
      .argParser(oneOf(LOG_LEVELS)),
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
  // An empty ROOT_PATH counts as unset.
  const root = resolve(String(o.root || DEFAULT_ROOT));
  const stateDir = o.stateDir
    ? resolve(String(o.stateDir))
    : join(dirname(root), '.gk-export-state');
  const list = (v: unknown) => (Array.isArray(v) ? (v as string[]) : []);
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
    mode: (o.mode as ReadMode | undefined) ?? 'all',
    deleteAfterRead: o.deleteAfterRead !== false,
    poll: o.poll === true,
    intervalMs: Number(o.pollInterval ?? 1000),
    followOpen: o.followOpen === true,
    abandonAfterMs: Number(o.abandonAfter ?? 600_000),
    maxOpenFiles: Number(o.maxOpenFiles ?? 256),
    maxAuditResults: Number(o.maxAuditResults ?? 3),
    maxRecordBytes: Number(o.maxRecordBytes ?? 2 * 1024 * 1024),
    batchMaxLines: Number(o.batchMaxRecords ?? 4096),
    batchMaxBytes: Number(o.batchMaxBytes ?? 256 * 1024),
    format: (o.format as StdoutFormat | undefined) ?? 'raw',
    includeMarkers: o.includeMarkers === true,
    filters: {
      eventTypes: list(o.eventType),
      enforcementActions: list(o.enforcementAction),
      constraintKinds: list(o.constraintKind),
      namespaces: list(o.namespace),
      dropFields: list(o.dropField) as ExportMsgField[],
    },
    logLevel: (o.logLevel as LogLevel | undefined) ?? 'info',
    httpPort: Number(o.httpPort ?? 9465),
  };
}
