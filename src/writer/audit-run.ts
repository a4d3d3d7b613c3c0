import { chmod, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { fsyncDir } from '../durable-fs.ts';
import { encodeExportMsg } from '../protocol/encode.ts';
import {
  AUDIT_COMPLETED,
  AUDIT_STARTED,
  assertValidName,
  completeRunFileName,
  openRunFileName,
  runNameForAuditId,
} from '../protocol/names.ts';
import type { ExportMsg } from '../protocol/record.ts';
import { GkExportError, type AuditRunErrorCode } from '../errors.ts';
import type { WriterConfig } from './config.ts';
import { openLineFile } from './line-file.ts';
import { pruneCompletedRuns } from './retention.ts';

/** One audit run being written: `<run>.txt` under LOCK_EX until `complete()` or `abort()`. */
export interface AuditRun {
  readonly channel: string;
  readonly auditId: string;
  readonly run: string;
  /** Path of the `.txt` while open. */
  readonly path: string;
  /** Appends a violation (buffered; whole lines only ever reach the file). */
  write(msg: ExportMsg): Promise<void>;
  flush(): Promise<void>;
  /**
   * Writes the completion marker, fsyncs, unlocks, closes, renames `.txt` → `.log`,
   * chmods 0666, fsyncs the directory and applies retention.
   */
  complete(): Promise<{ path: string; lines: number }>;
  /** Unlocks, closes and removes the `.txt`: no `.log` appears. */
  abort(): Promise<void>;
}

/**
 * Starts a run: validates names, creates the channel directory, opens and locks
 * `<run>.txt` and writes the "audit is started" marker.
 *
 * @example
 * ```ts
 * const run = await startAuditRun(config, 'audit-channel', '2023-07-18T21:21:52Z');
 * await run.write(violation); await run.complete();
 * ```
 */
export async function startAuditRun(
  config: WriterConfig,
  channel: string,
  auditId: string,
  onEnd: () => void = () => undefined,
): Promise<AuditRun> {
  assertValidName('channel', channel);
  const run = runNameForAuditId(auditId);
  const dir = join(config.root, channel);
  const path = join(dir, openRunFileName(run));
  const file = await openLineFile(dir, path, config);
  let ended = false;
  const ensureOpen = () => {
    if (ended) {
      throw new GkExportError<AuditRunErrorCode>(
        'ERR_RUN_CLOSED',
        `run ${run} of channel ${channel} is already completed or aborted`,
      );
    }
  };
  try {
    await file.append(encodeExportMsg({ id: auditId, message: AUDIT_STARTED }));
  } catch (err) {
    await file.drop();
    throw err;
  }
  return {
    channel,
    auditId,
    run,
    path,
    async write(msg) {
      ensureOpen();
      await file.append(encodeExportMsg(msg));
    },
    async flush() {
      ensureOpen();
      await file.flush();
    },
    async complete() {
      ensureOpen();
      ended = true;
      onEnd();
      await file.append(encodeExportMsg({ id: auditId, message: AUDIT_COMPLETED }));
      await file.seal();
      const done = join(dir, completeRunFileName(run));
      await rename(path, done);
      await chmod(done, 0o666);
      await fsyncDir(dir);
      await pruneCompletedRuns(dir, config.maxAuditResults);
      return { path: done, lines: file.lines };
    },
    async abort() {
      if (ended) return;
      ended = true;
      onEnd();
      await file.drop();
      await unlink(path).catch(() => undefined);
    },
  };
}
