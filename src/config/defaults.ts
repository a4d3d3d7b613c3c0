import { dirname, join } from 'node:path';

const KiB = 1024;
const MiB = 1024 * KiB;

/**
 * Every default of gk-export, declared once. Option declarations (the help text included) and
 * the functions that resolve a config from parsed values both read them here, so a default
 * cannot differ between `--help`, a flag left out and a config built in code.
 *
 * @example
 * ```ts
 * new Option('--max-open-files <n>').default(DEFAULTS.reader.maxOpenFiles);
 * ```
 */
export const DEFAULTS = {
  /** The export volume, as Gatekeeper's chart mounts it; shared by read, inspect and write. */
  volume: {
    root: '/tmp/violations/topics',
    channel: 'audit-channel',
    /** Gatekeeper's `maxAuditResults`: completed runs kept per channel. */
    maxAuditResults: 3,
    maxRecordBytes: 2 * MiB,
  },
  /** The disk writer library (writer/config.ts). */
  writer: {
    lockTimeoutMs: 30_000,
    flushBytes: 64 * 1024,
  },
  /** `gk-export read`: the disk-export source, the pipeline and the stdout sink. */
  reader: {
    /** Without --mode; DELETE_AFTER_READ=true makes it `admission` (reader/options.ts). */
    mode: 'all',
    deleteAfterRead: true,
    poll: false,
    pollIntervalMs: 1000,
    followOpen: false,
    abandonAfterMs: 600_000,
    maxOpenFiles: 256,
    batchMaxRecords: 4096,
    /** 256 KiB: a batch fits a raised pipe buffer, with short tasks between pipe writes. */
    batchMaxBytes: 256 * KiB,
    format: 'raw',
    includeMarkers: false,
    httpPort: 9465,
    logLevel: 'info',
    sinks: ['stdout'],
    sources: ['disk-export'],
    shutdownGraceMs: 20_000,
  },
  /** The webhook sink. */
  webhook: {
    format: 'ndjson',
    batchMaxRecords: 500,
    batchMaxBytes: 1 * MiB,
    flushIntervalMs: 1000,
    concurrency: 1,
    timeoutMs: 10_000,
    gzip: false,
    maxBackoffMs: 30_000,
    /** 0 = unlimited. */
    maxRetries: 0,
    insecureSkipVerify: false,
    onPermanentError: 'continue',
    clusterName: 'default',
  },
  /** The API server audit-log source. */
  apiserverAudit: {
    start: 'end',
    webhookName: 'validation.gatekeeper.sh',
  },
  /** `gk-export demo`. */
  demo: {
    intervalMs: 5000,
    /** 0 = until stopped. */
    runs: 0,
  },
} as const;

/**
 * The reader's state directory when none is given: `.gk-export-state` beside the export
 * root (never inside it, where it would look like a channel).
 *
 * @example
 * ```ts
 * defaultStateDir('/tmp/violations/topics'); // '/tmp/violations/.gk-export-state'
 * ```
 */
export function defaultStateDir(root: string): string {
  return join(dirname(root), '.gk-export-state');
}
