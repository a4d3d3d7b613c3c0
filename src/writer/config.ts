import { isAbsolute, normalize, resolve, sep } from 'node:path';
import { DEFAULTS } from '../config/defaults.ts';
import { GkExportError, type WriterConfigErrorCode } from '../errors.ts';

/** Public options of the disk writer. */
export interface DiskWriterOptions {
  /** Export root (Gatekeeper's Connection `path`), e.g. /tmp/violations/topics. */
  readonly root: string;
  /** Completed audit runs kept per channel, 0..5 (Gatekeeper's `maxAuditResults`). Default 3. */
  readonly maxAuditResults?: number;
  /** How long to retry the exclusive lock on a new run file. Default 30 s. */
  readonly lockTimeoutMs?: number;
  /** Buffered bytes that trigger a write of whole lines. Default 64 KiB. */
  readonly flushBytes?: number;
}

/** Options resolved once: every default filled in, every value checked. */
export interface WriterConfig {
  readonly root: string;
  readonly maxAuditResults: number;
  readonly lockTimeoutMs: number;
  readonly flushBytes: number;
}

function bad(message: string): GkExportError<WriterConfigErrorCode> {
  return new GkExportError<WriterConfigErrorCode>('ERR_INVALID_CONFIG', message);
}

/**
 * Checks and completes writer options. `root` must not be `/` nor contain `..`;
 * `maxAuditResults` is an integer 0..5, as Gatekeeper allows.
 *
 * @example
 * ```ts
 * resolveWriterConfig({ root: '/tmp/violations/topics' }); // { maxAuditResults: 3, … }
 * ```
 */
export function resolveWriterConfig(opts: DiskWriterOptions): WriterConfig {
  const root = opts.root;
  if (typeof root !== 'string' || root.trim() === '') {
    throw bad('root is empty: give the export directory, e.g. /tmp/violations/topics');
  }
  if (root.split(/[/\\]/).includes('..')) {
    throw bad(`root ${JSON.stringify(root)} contains "..": give a path without parent references`);
  }
  const abs = resolve(root);
  if (normalize(abs) === sep || (isAbsolute(root) && normalize(root) === sep)) {
    throw bad('root is "/": give a dedicated export directory, e.g. /tmp/violations/topics');
  }
  const max = opts.maxAuditResults ?? DEFAULTS.volume.maxAuditResults;
  if (!Number.isInteger(max) || max < 0 || max > 5) {
    throw bad(`maxAuditResults ${JSON.stringify(max)} is not allowed: use an integer from 0 to 5`);
  }
  const lockTimeoutMs = opts.lockTimeoutMs ?? DEFAULTS.writer.lockTimeoutMs;
  const flushBytes = opts.flushBytes ?? DEFAULTS.writer.flushBytes;
  if (!(lockTimeoutMs >= 0) || !(flushBytes > 0)) {
    throw bad('lockTimeoutMs must be ≥ 0 and flushBytes > 0');
  }
  return { root: abs, maxAuditResults: max, lockTimeoutMs, flushBytes };
}
