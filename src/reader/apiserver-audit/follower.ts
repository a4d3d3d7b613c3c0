import { createHash } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { open, readdir, stat, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { errnoCode } from '../../errors.ts';
import type { Logger } from '../../telemetry/index.ts';
import {
  createLineReader,
  type LinePosition,
  type LineReader,
  type RawLine,
} from '../line-reader.ts';
import { optimizingCompilers } from '../../pipeline/optimizing-compilers.ts';

const FINGERPRINT_BYTES = 1024;

/** Which file lines come from: its inode, and a fingerprint that tells a reused inode apart. */
export interface FollowedFile {
  readonly ino: string;
  /** sha256 of the file's first bytes (its first line, or 1 KiB), 16 hex digits. */
  readonly fingerprint: string;
}

/**
 * What the follower hands out: whole lines of a file with the position just past them, or
 * the end of a file that was rotated away (read to its last byte, a partial last line
 * included as `truncated`).
 */
export type FollowEvent =
  | {
      readonly kind: 'lines';
      readonly file: FollowedFile;
      readonly lines: RawLine[];
      readonly position: LinePosition;
    }
  | { readonly kind: 'end'; readonly file: FollowedFile; readonly position: LinePosition };

export interface FollowerOptions {
  /** The live file, e.g. /var/log/kubernetes/audit/audit.log. */
  readonly path: string;
  /** Where to start in a file never seen before (and not reached by a followed rotation). */
  readonly start: 'beginning' | 'end';
  readonly maxLineBytes: number;
  readonly batchMaxRecords: number;
  /** How long an idle follower waits before it looks again (a directory event wakes it). */
  readonly pollIntervalMs: number;
  /** Where reading of a file stopped before (the checkpoint), if it ever did. */
  readonly resume: (file: FollowedFile) => LinePosition | undefined;
  /** Files whose reading stopped before their end (they may have been rotated away since). */
  readonly unfinished: () => (FollowedFile & LinePosition)[];
  readonly log: Logger;
}

interface Open extends FollowedFile {
  readonly fh: FileHandle;
  readonly reader: LineReader;
}

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

/**
 * Follows a log file across rotation, knowing nothing of what the lines mean: by rename (the
 * old inode is read to its end through the open handle, then the new file from its start)
 * and by copy-truncate (the file shrinks below the offset, or its first bytes change: start
 * over at 0). Files rotated away while nobody followed (`unfinished`) are found beside the
 * live file by inode and fingerprint and finished first. Yields until `signal` aborts; the
 * caller handles each event before the next is read (backpressure), and stopping early
 * closes every handle and watcher.
 *
 * @example
 * ```ts
 * for await (const ev of followRotatingFile({ path, start: 'end', resume, unfinished, … }, signal)) {
 *   if (ev.kind === 'lines') handle(ev.lines, ev.position);
 * }
 * ```
 */
export async function* followRotatingFile(
  opts: FollowerOptions,
  signal: AbortSignal,
): AsyncGenerator<FollowEvent> {
  const readerFor = (fh: FileHandle, pos: LinePosition) =>
    createLineReader(fh, pos, { maxLineBytes: opts.maxLineBytes });

  /** The next lines of `f`; at a file's end (`final`) its unterminated last line too. */
  async function readLines(f: Open, final: boolean): Promise<RawLine[]> {
    const lines = await f.reader.read(opts.batchMaxRecords);
    const tail = lines.length === 0 && final ? await f.reader.takeRemainder() : undefined;
    if (tail) lines.push(tail);
    return lines;
  }

  const id = (f: Open): FollowedFile => ({ ino: f.ino, fingerprint: f.fingerprint });

  /** Opens the live file if it is there and fingerprintable, positioned where to read. */
  async function openLive(fresh: boolean): Promise<Open | undefined> {
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
    const saved = opts.resume({ ino, fingerprint });
    let pos: LinePosition = { offset: 0, line: 0 };
    if (saved && saved.offset <= Number(st.size)) pos = { offset: saved.offset, line: saved.line };
    else if (!fresh && opts.start === 'end') {
      // Never seen and not a rotation we followed: start at the end (whole lines only).
      pos = { offset: await lastLineEnd(fh, Number(st.size)), line: 0 };
    }
    opts.log.info(
      { path: opts.path, ino, offset: pos.offset },
      'following the API server audit log',
    );
    optimizingCompilers.noteBacklog(Number(st.size) - pos.offset);
    return { fh, ino, fingerprint, reader: readerFor(fh, pos) };
  }

  /** Unfinished files rotated away while nobody followed, found beside the live file. */
  async function* rotatedWhileDown(): AsyncGenerator<Open> {
    const pending = opts.unfinished();
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
      opts.log.info(
        { path, offset: entry.offset },
        'finishing an audit log rotated while the reader was down',
      );
      const from = { offset: entry.offset, line: entry.line };
      yield { fh, ino: entry.ino, fingerprint, reader: readerFor(fh, from) };
    }
  }

  let current: Open | undefined;
  let wake: (() => void) | undefined;
  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(dirname(opts.path), () => wake?.());
    watcher.on('error', () => undefined);
  } catch {
    watcher = undefined; // polling alone still works
  }
  // One wait for the next poll, a change in the directory or the abort, whichever is first;
  // it leaves no listener on the long-lived signal behind.
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
  /** Every remaining line of `f`, then its end. */
  async function* finish(f: Open): AsyncGenerator<FollowEvent> {
    for (let lines = await readLines(f, true); lines.length; lines = await readLines(f, true)) {
      yield { kind: 'lines', file: id(f), lines, position: f.reader.position() };
    }
    yield { kind: 'end', file: id(f), position: f.reader.position() };
  }

  let rotated = false;
  try {
    for await (const f of rotatedWhileDown()) {
      current = f;
      yield* finish(f);
      await f.fh.close();
      current = undefined;
    }
    while (!signal.aborted) {
      if (!current) {
        current = await openLive(rotated);
        if (!current) {
          await idle();
          continue;
        }
      }
      const lines = await readLines(current, false);
      if (lines.length) {
        yield { kind: 'lines', file: id(current), lines, position: current.reader.position() };
        continue;
      }
      // Nothing new: rotated away (rename), truncated (copy-truncate), or just quiet?
      const st = await stat(opts.path, { bigint: true }).catch(() => undefined);
      if (st && st.ino.toString() !== current.ino) {
        yield* finish(current);
        await current.fh.close();
        current = undefined;
        rotated = true;
        continue;
      }
      const fp = st ? await fingerprintOf(current.fh) : undefined;
      const shrunk = st !== undefined && Number(st.size) < current.reader.position().offset;
      if (shrunk || (fp !== undefined && fp !== current.fingerprint)) {
        opts.log.info(
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
  }
}
