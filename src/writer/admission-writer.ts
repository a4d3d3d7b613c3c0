import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { errnoCode, GkExportError, isGkExportError } from '../errors.ts';
import { admissionSegmentStem, assertValidName } from '../protocol/names.ts';
import type { ExportMsg } from '../protocol/record.ts';
import {
  encodeAdmissionRecord,
  resolveAdmissionLimits,
  type AdmissionLimits,
} from './admission-limits.ts';
import { recoverChannel, recoverOpenSegment } from './admission-recovery.ts';
import {
  ensureChannelDir,
  openAdmissionSegment,
  type AdmissionSegment,
} from './admission-segment.ts';
import { enforceRetention, ensureFreeSpace, type SpoolUsage } from './admission-spool.ts';
import { resolveWriterConfig } from './config.ts';

/** Options of the admission segment writer: where, and Gatekeeper's limits to narrow. */
export interface AdmissionWriterOptions extends Partial<AdmissionLimits> {
  readonly root: string;
  readonly channel: string;
  /**
   * Called with a failure of background work (age rotation, recovery, retention), which has
   * no caller to reject. Default: a process warning.
   */
  readonly onError?: (err: unknown) => void;
}

/** Writes `violation_admission` records into rotating segments, as a webhook pod does. */
export interface AdmissionWriter {
  /** The channel directory the segments go to. */
  readonly dir: string;
  readonly limits: AdmissionLimits;
  /** Writes one record durably (written and fsynced before it resolves), like `Publish`. */
  write(msg: ExportMsg): Promise<void>;
  /** Writes records durably with one fsync, like `PublishBatch`; all or none are refused. */
  writeBatch(msgs: readonly ExportMsg[]): Promise<void>;
  /** Completes the current segment now (renamed to `.log`), if it has records. */
  rotate(): Promise<void>;
  /** Completes the current segment and stops; idempotent. */
  close(): Promise<void>;
}

/**
 * A segment stem for an instant (millisecond precision), in Gatekeeper 3.24's form; the
 * writer itself names segments with nanoseconds.
 *
 * @example
 * ```ts
 * admissionSegmentName(new Date('2026-08-01T10:00:00Z')); // 'admission-20260801T100000.000000000Z-<16 hex>'
 * ```
 */
export function admissionSegmentName(date: Date, hex = randomBytes(8).toString('hex')): string {
  return admissionSegmentStem(BigInt(date.getTime()) * 1_000_000n, hex);
}

/**
 * Creates the admission segment writer of one channel, Gatekeeper 3.24's disk contract:
 * `admission-<UTC ts>-<16 hex>.open` (`O_CREAT|O_EXCL|O_WRONLY|O_APPEND|O_NOFOLLOW`, 0660,
 * in a 0770 directory, held with LOCK_EX) completed to `.log` (0660) before it would pass
 * 1 MiB, at 1,000 records or after 1 minute. Before each write the oldest completed segments
 * beyond 20, 20 MiB or 24 h are removed (refused while a reader holds a lock on one), a
 * record over 64 KiB is refused, and 16 MiB of disk are kept free. At the first write, and
 * then every minute while admission files remain, crashed writers' `.open` segments are
 * recovered as `.recovered.log` (whole lines only) and unfinished deletions removed.
 *
 * @example
 * ```ts
 * const w = createAdmissionWriter({ root: '/tmp/violations/topics', channel: 'audit-channel' });
 * await w.write({ id: requestUid, eventType: 'violation_admission', … }); await w.close();
 * ```
 */
export function createAdmissionWriter(opts: AdmissionWriterOptions): AdmissionWriter {
  const { root: rootOpt, channel, onError, ...over } = opts;
  const { root } = resolveWriterConfig({ root: rootOpt });
  assertValidName('channel', channel);
  const limits = resolveAdmissionLimits(over);
  const dir = join(root, channel);
  const report = onError ?? ((err: unknown) => process.emitWarning(err as Error));
  let current: { seg: AdmissionSegment; timer: NodeJS.Timeout } | undefined;
  let usage: SpoolUsage | undefined;
  let recovered = false;
  let janitor: NodeJS.Timeout | undefined;
  let chain: Promise<unknown> = Promise.resolve();
  let closed: Promise<void> | undefined;

  // Operations run one at a time, so rotation, retention and writes never interleave; a
  // failed one does not stop the next.
  function serial<T>(step: () => Promise<T>): Promise<T> {
    const p = chain.then(step);
    chain = p.catch(() => undefined);
    return p;
  }

  const openBytes = () => current?.seg.bytes ?? 0;

  async function retention(reserved: number): Promise<void> {
    usage = await enforceRetention(dir, limits, openBytes(), reserved, usage);
  }

  /** Retention after a rotation: a refusal here waits for the next write to report it. */
  async function retentionAfterRotation(): Promise<void> {
    usage = undefined;
    try {
      await retention(0);
    } catch (err) {
      if (!isGkExportError(err)) throw err;
    }
  }

  async function completeCurrent(): Promise<void> {
    const c = current;
    if (!c) return;
    current = undefined;
    clearTimeout(c.timer);
    if (c.seg.records === 0) await c.seg.discard();
    else await c.seg.complete();
  }

  async function openSegment(): Promise<AdmissionSegment> {
    const seg = await openAdmissionSegment(dir);
    const timer = setTimeout(() => {
      void serial(async () => {
        if (current?.seg !== seg) return;
        await completeCurrent();
        await retentionAfterRotation();
      }).catch(report);
    }, limits.maxAgeMs);
    timer.unref();
    current = { seg, timer };
    return seg;
  }

  function scheduleJanitor(): void {
    if (janitor || closed) return;
    const every = Math.min(Math.max(limits.maxAgeMs, 1000), 60_000);
    janitor = setTimeout(() => {
      void serial(async () => {
        janitor = undefined;
        if (closed) return;
        const remaining = await recoverChannel(dir, limits.maxBytes);
        usage = undefined;
        await retention(0);
        if (remaining || current) scheduleJanitor();
      }).catch((err: unknown) => {
        report(err);
        scheduleJanitor();
      });
    }, every);
    janitor.unref();
  }

  async function freeSpace(bytes: number): Promise<void> {
    try {
      await ensureFreeSpace(dir, limits.minFreeBytes, bytes);
    } catch (err) {
      // The channel directory is gone (its Connection was deleted): make it again.
      if (errnoCode(err) !== 'ENOENT') throw err;
      await ensureChannelDir(dir);
      await ensureFreeSpace(dir, limits.minFreeBytes, bytes);
    }
  }

  async function writeLines(lines: Buffer[]): Promise<void> {
    if (!recovered) {
      // As Gatekeeper does when it creates a Connection: repair a crashed writer's leftovers.
      await recoverChannel(dir, limits.maxBytes);
      recovered = true;
    }
    const batchBytes = lines.reduce((a, l) => a + l.length + 1, 0);
    await retention(batchBytes);
    try {
      await freeSpace(batchBytes);
    } catch (err) {
      if (!isGkExportError(err, 'ERR_ADMISSION_DISK_FULL')) throw err;
      usage = undefined;
      await retention(batchBytes);
      await freeSpace(batchBytes);
    }
    if (current && (await current.seg.unlinked())) {
      // Its directory was deleted (the Connection was removed or moved), and the records in
      // it with it: start a new segment rather than append to a file nobody can see.
      clearTimeout(current.timer);
      await current.seg.abandon();
      current = undefined;
    }
    let rotated = false;
    for (const line of lines) {
      const recordBytes = line.length + 1;
      let seg = current?.seg;
      if (
        seg &&
        seg.records > 0 &&
        (seg.bytes + recordBytes > limits.maxBytes ||
          seg.records >= limits.maxRecords ||
          Date.now() - seg.openedAt >= limits.maxAgeMs)
      ) {
        await completeCurrent();
        rotated = true;
        seg = undefined;
      }
      seg ??= await openSegment();
      try {
        await seg.append(Buffer.concat([line, NEWLINE]), 1);
      } catch (err) {
        // Completed through recovery, which keeps whole lines only.
        clearTimeout(current?.timer);
        current = undefined;
        await seg.abandon();
        await recoverOpenSegment(seg.path, limits.maxBytes).catch(() => undefined);
        throw err;
      }
      if (seg.bytes >= limits.maxBytes || seg.records >= limits.maxRecords) {
        await completeCurrent();
        rotated = true;
      }
    }
    await current?.seg.sync();
    scheduleJanitor();
    if (rotated) await retentionAfterRotation();
  }

  function refuseIfClosed(): void {
    if (closed) throw new GkExportError('ERR_WRITER_CLOSED', 'the admission writer is closed');
  }

  const writer: AdmissionWriter = {
    dir,
    limits,
    write(msg) {
      return writer.writeBatch([msg]);
    },
    async writeBatch(msgs) {
      refuseIfClosed();
      const lines = msgs.map((m) => encodeAdmissionRecord(m, limits));
      if (lines.length === 0) return;
      await serial(() => writeLines(lines));
    },
    rotate() {
      return serial(async () => {
        if (!current) return;
        await completeCurrent();
        await retentionAfterRotation();
      });
    },
    close() {
      closed ??= serial(async () => {
        clearTimeout(janitor);
        janitor = undefined;
        await completeCurrent();
      });
      return closed;
    },
  };
  return writer;
}

const NEWLINE = Buffer.from('\n');
