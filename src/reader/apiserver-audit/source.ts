import { createHash } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { open, readdir, stat, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { DeadLetter } from '../../dead-letter.ts';
import { errnoCode } from '../../errors.ts';
import { encodeExportMsg } from '../../protocol/encode.ts';
import { deliveryKey, type Delivery } from '../../sinks/sink.ts';
import { InvalidCode, type Telemetry } from '../../telemetry/index.ts';
import {
  checkpointKey,
  type CheckpointEntry,
  type CheckpointStore,
} from '../../pipeline/checkpoint.ts';
import { reportInvalid } from '../invalid.ts';
import { createLineReader, type LineReader } from '../line-reader.ts';
import type { Deliver, Source } from '../../pipeline/source.ts';
import { decodeAuditEvent } from './decode.ts';

export interface ApiserverAuditOptions {
  /** The live audit log, e.g. /var/log/kubernetes/audit/audit.log. */
  readonly path: string;
  /** Where to start in a file never seen before. */
  readonly start: 'beginning' | 'end';
  readonly webhookName: string;
  readonly maxRecordBytes: number;
  readonly batchMaxLines: number;
  readonly pollIntervalMs: number;
  readonly store: CheckpointStore;
  readonly telemetry: Telemetry;
  readonly deadLetter: DeadLetter;
}

const SOURCE = 'apiserver-audit';
const FINGERPRINT_BYTES = 1024;

interface Followed {
  fh: FileHandle;
  ino: string;
  /** sha256 of the file's first bytes (its first line, or 1 KiB): tells a reused inode apart. */
  fingerprint: string;
  reader: LineReader;
}

/**
 * Follows the API server's audit log across rotation: by rename (the old inode is read to its
 * end through the open handle, then the new file from its start) and by copy-truncate (the
 * file shrinks below our offset: start over at 0). Gatekeeper's denials become
 * `violation_admission` records through the same pipeline; other lines are skipped and
 * counted by reason. The checkpoint is keyed by inode and a fingerprint of the first bytes.
 *
 * @example
 * ```ts
 * const source = createApiserverAuditSource({ path, start: 'end', webhookName: 'validation.gatekeeper.sh', … });
 * ```
 */
export function createApiserverAuditSource(opts: ApiserverAuditOptions): Source {
  const { telemetry, store } = opts;
  const channel = SOURCE;
  const file = basename(opts.path);
  let current: Followed | undefined;

  async function fingerprintOf(fh: FileHandle): Promise<string | undefined> {
    const buf = Buffer.alloc(FINGERPRINT_BYTES);
    const { bytesRead } = await fh.read(buf, 0, FINGERPRINT_BYTES, 0);
    const nl = buf.subarray(0, bytesRead).indexOf(10);
    // Wait until the first line (or 1 KiB) is there: a fingerprint must not change later.
    if (nl < 0 && bytesRead < FINGERPRINT_BYTES) return undefined;
    const head = buf.subarray(0, nl >= 0 ? nl + 1 : bytesRead);
    return createHash('sha256').update(head).digest('hex').slice(0, 16);
  }

  /** Offset of the end of the last complete line at or before `size`. */
  async function lastLineEnd(fh: FileHandle, size: number): Promise<number> {
    const span = Math.min(size, 1 << 20);
    const buf = Buffer.alloc(span);
    await fh.read(buf, 0, span, size - span);
    const nl = buf.lastIndexOf(10);
    return nl < 0 ? size - span : size - span + nl + 1;
  }

  const entryFor = (
    f: Followed,
    pos: { offset: number; line: number },
    done = false,
  ): CheckpointEntry => ({
    source: SOURCE,
    channel,
    run: f.fingerprint,
    ino: f.ino,
    offset: pos.offset,
    line: pos.line,
    done,
    fingerprint: f.fingerprint,
  });

  /** Opens the live file if it is there and fingerprintable; positions it from the checkpoint. */
  async function openLive(fresh: boolean): Promise<Followed | undefined> {
    let fh: FileHandle;
    try {
      fh = await open(opts.path, 'r');
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return undefined;
      throw err;
    }
    const st = await fh.stat({ bigint: true });
    const fingerprint = await fingerprintOf(fh);
    if (!fingerprint) {
      await fh.close();
      return undefined;
    }
    const ino = st.ino.toString();
    const saved = store.get(checkpointKey({ source: SOURCE, channel, run: fingerprint, ino }));
    let pos = { offset: 0, line: 0 };
    if (saved && saved.offset <= Number(st.size)) pos = { offset: saved.offset, line: saved.line };
    else if (!fresh && opts.start === 'end') {
      // Never seen and not a rotation we followed: start at the end (whole lines only).
      pos = { offset: await lastLineEnd(fh, Number(st.size)), line: 0 };
    }
    const f: Followed = {
      fh,
      ino,
      fingerprint,
      reader: createLineReader(fh, pos, { maxLineBytes: opts.maxRecordBytes }),
    };
    telemetry.log.info(
      { path: opts.path, ino, offset: pos.offset },
      'following the API server audit log',
    );
    return f;
  }

  /** Reads and delivers what is available; false when there was nothing. */
  async function pump(f: Followed, deliver: Deliver, finalRead = false): Promise<boolean> {
    const lines = await f.reader.read(opts.batchMaxLines);
    const tail = lines.length === 0 && finalRead ? await f.reader.takeRemainder() : undefined;
    if (tail) lines.push(tail);
    if (lines.length === 0) return false;
    const batch: Delivery[] = [];
    for (const line of lines) {
      if (line.tooLong || line.truncated) {
        await reportInvalid(
          { telemetry, deadLetter: opts.deadLetter },
          {
            file,
            line: line.number,
            bytes: line.bytes,
            code: line.tooLong ? InvalidCode.LineTooLong : InvalidCode.TruncatedLine,
            reason: line.tooLong ? 'line over --max-record-bytes' : 'file ends without a newline',
          },
        );
        continue;
      }
      const r = decodeAuditEvent(line.bytes.toString('utf8'), opts.webhookName);
      if ('invalid' in r) {
        await reportInvalid(
          { telemetry, deadLetter: opts.deadLetter },
          {
            file,
            line: line.number,
            bytes: line.bytes,
            code: InvalidCode.InvalidJson,
            reason: r.invalid,
          },
        );
        continue;
      }
      if ('skip' in r) {
        telemetry.metrics.auditEventsSkipped.inc({ reason: r.skip });
        continue;
      }
      r.records.forEach((msg, i) => {
        const key = `${deliveryKey(channel, f.fingerprint, line.number)}#${i}`;
        batch.push({
          key,
          source: SOURCE,
          channel,
          run: f.fingerprint,
          line: line.number,
          raw: encodeExportMsg(msg),
          msg,
        });
      });
    }
    telemetry.metrics.recordsRead.inc({ source: SOURCE }, lines.length);
    await deliver(batch, entryFor(f, f.reader.position()));
    return true;
  }

  /**
   * A file we were reading when the reader stopped may have been rotated away since: find it
   * beside the live file by inode + fingerprint and deliver its rest before the live file.
   */
  async function finishRotatedWhileDown(deliver: Deliver): Promise<void> {
    const pending = [...store.entries()].filter((e) => e.source === SOURCE && !e.done);
    if (pending.length === 0) return;
    const live = await stat(opts.path, { bigint: true }).catch(() => undefined);
    const dir = dirname(opts.path);
    for (const name of await readdir(dir).catch(() => [] as string[])) {
      const path = join(dir, name);
      const st = await stat(path, { bigint: true }).catch(() => undefined);
      if (!st?.isFile() || (live && st.ino === live.ino)) continue;
      const entry = pending.find((e) => e.ino === st.ino.toString());
      if (!entry) continue;
      const fh = await open(path, 'r');
      const fingerprint = await fingerprintOf(fh);
      if (!fingerprint || fingerprint !== entry.fingerprint) {
        await fh.close();
        continue;
      }
      telemetry.log.info(
        { path, offset: entry.offset },
        'finishing an audit log rotated while the reader was down',
      );
      const f: Followed = {
        fh,
        ino: entry.ino,
        fingerprint,
        reader: createLineReader(
          fh,
          { offset: entry.offset, line: entry.line },
          { maxLineBytes: opts.maxRecordBytes },
        ),
      };
      try {
        while (await pump(f, deliver, true)) {
          /* to the end */
        }
        await deliver([], entryFor(f, f.reader.position(), true));
      } finally {
        await fh.close();
      }
    }
  }

  return {
    name: SOURCE,
    async run(deliver: Deliver, signal: AbortSignal): Promise<void> {
      let wake: (() => void) | undefined;
      let watcher: FSWatcher | undefined;
      try {
        watcher = watch(dirname(opts.path), () => wake?.());
        watcher.on('error', () => undefined);
      } catch {
        watcher = undefined; // polling alone still works
      }
      // One wait for the next poll, a change in the directory or the abort, whichever is
      // first; it leaves no listener on the long-lived signal behind.
      const idle = () =>
        new Promise<void>((resolve) => {
          const done = () => {
            clearTimeout(t);
            signal.removeEventListener('abort', done);
            wake = undefined;
            resolve();
          };
          const t = setTimeout(done, opts.pollIntervalMs);
          wake = done;
          if (signal.aborted) done();
          else signal.addEventListener('abort', done, { once: true });
        });
      let rotated = false;
      try {
        await finishRotatedWhileDown(deliver);
        while (!signal.aborted) {
          if (!current) {
            current = await openLive(rotated);
            if (!current) {
              await idle();
              continue;
            }
          }
          if (await pump(current, deliver)) continue;
          // Nothing new: rotated away (rename), truncated (copy-truncate), or just quiet?
          const st = await stat(opts.path, { bigint: true }).catch(() => undefined);
          const pos = current.reader.position();
          if (st && st.ino.toString() !== current.ino) {
            while (await pump(current, deliver, true)) {
              /* finish the old inode */
            }
            await deliver([], entryFor(current, current.reader.position(), true));
            await current.fh.close();
            current = undefined;
            rotated = true;
            continue;
          }
          const fp = st ? await fingerprintOf(current.fh) : undefined;
          if (
            st &&
            (Number(st.size) < pos.offset || (fp !== undefined && fp !== current.fingerprint))
          ) {
            telemetry.log.info(
              { path: opts.path },
              'audit log was truncated (copy-truncate): starting over',
            );
            await current.fh.close();
            current = undefined;
            rotated = true;
            continue;
          }
          await idle();
        }
      } finally {
        watcher?.close();
        await current?.fh.close();
        current = undefined;
      }
    },
  };
}
