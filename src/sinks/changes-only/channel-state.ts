import {
  closeSync,
  fdatasyncSync,
  fstatSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  readdirSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import {
  readCompletedRun,
  writeCompletedRun,
  type CompletedRun,
} from '../../completed-run-file.ts';
import { errnoCode } from '../../errors.ts';
import type { ExportMsg } from '../../protocol/record.ts';
import type { Delivery } from '../../sinks/sink.ts';
import { violationIdentity } from './identity.ts';
import { ENTRY_BYTES, RunIndex, validPrefix, writeEntry } from './run-index.ts';

const idxName = (run: string) => `run-${run}.idx`;
const recName = (run: string) => `run-${run}.rec`;

/** The run being delivered: its violations are appended to its index and record files. */
interface CurrentRun {
  readonly run: string;
  /** False when the run was not seen from its first line: it is compared, never recorded. */
  readonly tracking: boolean;
  idxFd?: number;
  recFd?: number;
  idxBytes: number;
  recBytes: number;
}

/**
 * What `--changes-only` keeps per channel (and per sink) in the state dir:
 *
 * - `state.json`: the last completed run (name and completion line), replaced atomically —
 *   the single switch from one "previous run" to the next;
 * - `run-<run>.rec`: each run's violation lines, as sent (needed to send one back as
 *   `violation_resolved` once it disappears), and `run-<run>.idx`: 32 bytes per violation,
 *   its identity hash and where its line lies. At most two runs are kept: the previous one
 *   and the one being delivered.
 *
 * Everything is synchronous: a batch is compared and recorded in the order sinks are called,
 * and its lines are on disk (fdatasync) before the batch can be acknowledged and
 * checkpointed, so a crash never leaves a checkpoint past a violation the state lacks. The
 * index is written after the lines and synced once per run: a tail it lost is rebuilt from
 * the record file.
 *
 * @example
 * ```ts
 * const s = openChannelState('/state/changes-only/stdout/audit-channel', console.warn);
 * s.begin('2026-01-01T00_00_00Z', true);
 * ```
 */
export function openChannelState(dir: string, warn: (message: string) => void) {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  let previous = readCompletedRun(dir);
  let index = RunIndex.empty();
  try {
    if (previous) index = RunIndex.from(readRunFiles(dir, previous.run).entries);
  } catch (err) {
    if (errnoCode(err) !== 'ENOENT') throw err;
    // Someone removed the files: the next run goes out in full (repeats, nothing lost).
    warn(`the files of run ${previous?.run} are missing: the next run is sent in full`);
    previous = undefined;
  }
  let current: CurrentRun | undefined;
  let prevRecFd: number | undefined;

  function closeCurrent(): void {
    if (current?.idxFd !== undefined) closeSync(current.idxFd);
    if (current?.recFd !== undefined) closeSync(current.recFd);
    current = undefined;
  }

  function closePrevious(): void {
    if (prevRecFd !== undefined) closeSync(prevRecFd);
    prevRecFd = undefined;
  }

  /** Removes run files other than the previous run's and `keep`'s (left by a crash). */
  function removeStale(keep: string): void {
    const wanted = new Set([keep, previous?.run].filter((r) => r !== undefined));
    for (const name of readdirSync(dir)) {
      const m = /^run-(.*)\.(idx|rec)$/.exec(name);
      if (m && !wanted.has(m[1]!)) rmSync(join(dir, name), { force: true });
    }
  }

  return {
    /** The last completed run, or undefined before the channel's first. */
    get previous(): CompletedRun | undefined {
      return previous;
    },
    /** The previous run's violations. */
    get index(): RunIndex {
      return index;
    },
    /** The run being delivered, once `begin` was called for it. */
    get current(): Pick<CurrentRun, 'run' | 'tracking'> | undefined {
      return current;
    },

    /**
     * Starts (or resumes after a restart) run `run`. From its first line the run's files
     * start empty; later in the run they are resumed when they exist — the violations they
     * hold are marked as met — and otherwise the run is only compared (`tracking` false).
     */
    begin(run: string, fromStart: boolean): void {
      closeCurrent();
      removeStale(run);
      index.clearSeen();
      const idx = join(dir, idxName(run));
      const rec = join(dir, recName(run));
      if (fromStart) {
        const idxFd = openSync(idx, 'w', 0o600);
        const recFd = openSync(rec, 'w', 0o600);
        current = { run, tracking: true, idxFd, recFd, idxBytes: 0, recBytes: 0 };
        return;
      }
      let files: ReturnType<typeof readRunFiles>;
      try {
        files = readRunFiles(dir, run);
      } catch (err) {
        if (errnoCode(err) !== 'ENOENT') throw err;
        current = { run, tracking: false, idxBytes: 0, recBytes: 0 };
        return;
      }
      index.markSeenIn(RunIndex.from(files.entries));
      // Appends go after what is valid: a torn or lost tail is replaced.
      const recFd = openSync(rec, 'r+');
      ftruncateSync(recFd, files.recBytes);
      const idxFd = openSync(idx, 'r+');
      ftruncateSync(idxFd, 0);
      writeAll(idxFd, files.entries, 0);
      current = {
        run,
        tracking: true,
        idxFd,
        recFd,
        idxBytes: files.entries.length,
        recBytes: files.recBytes,
      };
    },

    /** Records violations of the current run (identities in the same order), durably. */
    append(records: readonly Delivery[], ids: readonly Buffer[]): void {
      const c = current;
      if (!c?.tracking || records.length === 0) return;
      const lines = records.map((d) => d.bytes ?? Buffer.from(d.raw));
      const entries = Buffer.alloc(records.length * ENTRY_BYTES);
      const body = Buffer.allocUnsafe(lines.reduce((n, l) => n + l.length + 1, 0));
      let at = 0;
      for (let i = 0; i < records.length; i++) {
        const line = lines[i]!;
        line.copy(body, at);
        body[at + line.length] = 0x0a;
        writeEntry(entries, i * ENTRY_BYTES, ids[i]!, {
          offset: c.recBytes + at,
          length: line.length,
          line: records[i]!.line,
        });
        at += line.length + 1;
      }
      // The lines are what must survive; the index can be rebuilt from them.
      writeAll(c.recFd!, body, c.recBytes);
      fdatasyncSync(c.recFd!);
      c.recBytes += body.length;
      writeAll(c.idxFd!, entries, c.idxBytes);
      c.idxBytes += entries.length;
    },

    /** The previous run's record of entry `i`. */
    previousRecord(i: number): ExportMsg {
      const ref = index.refOf(i);
      prevRecFd ??= openSync(join(dir, recName(previous!.run)), 'r');
      const buf = Buffer.allocUnsafe(ref.length);
      let got = 0;
      while (got < ref.length) {
        const n = readSync(prevRecFd, buf, got, ref.length - got, ref.offset + got);
        if (n === 0) break;
        got += n;
      }
      return JSON.parse(buf.toString('utf8', 0, got)) as ExportMsg;
    },

    /**
     * The current run, completed at `line`, becomes the previous run: its index is synced,
     * then one atomic replace of `state.json`; the older run's files are removed after it.
     */
    commit(line: number): void {
      const c = current;
      if (!c?.tracking) return;
      fdatasyncSync(c.idxFd!);
      closeCurrent();
      closePrevious();
      const next: CompletedRun = { run: c.run, line };
      writeCompletedRun(dir, next);
      previous = next;
      removeStale(c.run);
      index = RunIndex.from(readRunFiles(dir, c.run).entries);
    },

    /** Releases the open files; idempotent. */
    close(): void {
      closeCurrent();
      closePrevious();
    },
  };
}

export type ChannelState = ReturnType<typeof openChannelState>;

function writeAll(fd: number, buf: Buffer, position: number): void {
  let done = 0;
  while (done < buf.length) done += writeSync(fd, buf, done, buf.length - done, position + done);
}

/**
 * A run's index entries: the index file's valid prefix, plus entries rebuilt from the record
 * file's whole lines after it (an index tail lost in a crash). `recBytes` is where the last
 * whole record ends. Throws ENOENT when the run has no files.
 */
function readRunFiles(dir: string, run: string): { entries: Buffer; recBytes: number } {
  const fd = openSync(join(dir, recName(run)), 'r');
  let size: number;
  let raw: Buffer;
  try {
    size = fstatSync(fd).size;
  } catch (err) {
    closeSync(fd);
    throw err;
  }
  try {
    raw = readFileSync(join(dir, idxName(run)));
  } catch (err) {
    if (errnoCode(err) !== 'ENOENT') {
      closeSync(fd);
      throw err;
    }
    raw = Buffer.alloc(0);
  }
  const valid = validPrefix(raw, size);
  const rebuilt: Buffer[] = [raw.subarray(0, valid.entries * ENTRY_BYTES)];
  // Only the records after the valid index are read (normally none).
  const tail = Buffer.allocUnsafe(size - valid.end);
  try {
    let got = 0;
    while (got < tail.length) {
      const n = readSync(fd, tail, got, tail.length - got, valid.end + got);
      if (n === 0) break;
      got += n;
    }
  } finally {
    closeSync(fd);
  }
  let at = 0;
  for (;;) {
    const nl = tail.indexOf(0x0a, at);
    if (nl < 0 || nl === at) break;
    let msg: ExportMsg;
    try {
      msg = JSON.parse(tail.toString('utf8', at, nl)) as ExportMsg;
    } catch {
      break; // not a line this state wrote: the rest is a torn tail
    }
    const e = Buffer.alloc(ENTRY_BYTES);
    const offset = valid.end + at;
    writeEntry(e, 0, violationIdentity(msg), { offset, length: nl - at, line: 0 });
    rebuilt.push(e);
    at = nl + 1;
  }
  return { entries: Buffer.concat(rebuilt), recBytes: valid.end + at };
}
