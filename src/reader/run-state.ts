import type { FileHandle } from 'node:fs/promises';
import type { CheckpointEntry } from '../pipeline/checkpoint.ts';
import { checkpointKey } from '../pipeline/checkpoint.ts';
import { classifyFileName, RunPhase } from '../protocol/names.ts';
import type { LineReader } from './line-reader.ts';
import type { ScannedFile } from './scan.ts';

/**
 * What the reader tracks about one run file (one inode) of a channel. Its phase, `delivered`
 * and `gone` change only through the `mark…` functions below.
 */
export interface RunState {
  readonly kind: 'audit' | 'admission';
  readonly channel: string;
  /** Run name at first sight; stays the key even if the file is renamed. */
  readonly run: string;
  readonly ino: string;
  /** Current file name in the channel directory. */
  name: string;
  readonly phase: RunPhase;
  /**
   * mtime of the completed file: the delivery and retention order key. An mtime in the future
   * counts as the time the reader first saw it, so that such a run still ages.
   */
  mtimeMs: number;
  size: number;
  /** When the file was last seen to grow (for abandonment). */
  lastGrowthMs: number;
  fh?: FileHandle;
  /**
   * The open in progress. A scan and the delivery loop may both want the file open: they share
   * this one open, so each file has one descriptor, opened once and closed once.
   */
  opening?: Promise<void>;
  /** The file could not be opened (unreadable, not a regular file): skipped until a full scan. */
  readonly openFailed: boolean;
  reader?: LineReader;
  /** Every line is delivered and checkpointed. */
  readonly delivered: boolean;
  /** The file is no longer in the directory (it is read through the held descriptor). */
  readonly gone: boolean;
  lines: number;
  violations: number;
  invalid: number;
  sawCompletion: boolean;
  readonly byConstraint: Map<string, number>;
}

/** The run as the transitions below see it: the fields read-only elsewhere change here. */
const w = (r: RunState) => r as { -readonly [K in keyof RunState]: RunState[K] };

/**
 * Creates the tracking state for a newly seen file.
 *
 * @example
 * ```ts
 * const r = newRunState('audit-channel', scannedFile, Date.now());
 * ```
 */
export function newRunState(channel: string, f: ScannedFile, nowMs: number): RunState {
  return {
    kind: f.state.startsWith('admission') ? 'admission' : 'audit',
    channel,
    run: f.run,
    ino: f.ino,
    name: f.name,
    phase: f.state === 'audit-open' ? RunPhase.Open : RunPhase.Complete,
    mtimeMs: Math.min(f.mtimeMs, nowMs),
    size: f.size,
    lastGrowthMs: nowMs,
    openFailed: false,
    delivered: false,
    gone: false,
    lines: 0,
    violations: 0,
    invalid: 0,
    sawCompletion: false,
    byConstraint: new Map(),
  };
}

/**
 * The scan lists the file (again): its name, size and mtime as listed; it is not gone; a `.txt`
 * renamed to `.log` is complete. `full` (a full scan) lets a file that could not be opened be
 * tried again.
 *
 * @example
 * ```ts
 * for (const f of listing.files) markListed(runs.get(f.ino)!, f, Date.now(), full);
 * ```
 */
export function markListed(r: RunState, f: ScannedFile, nowMs: number, full: boolean): void {
  w(r).gone = false;
  if (full) w(r).openFailed = false;
  r.name = f.name;
  if (f.state !== 'audit-open') markComplete(r);
  if (r.phase !== RunPhase.Open) {
    r.mtimeMs = f.mtimeMs > nowMs ? Math.min(r.mtimeMs, nowMs) : f.mtimeMs;
  }
  if (f.size !== r.size) {
    r.size = f.size;
    r.lastGrowthMs = nowMs;
  }
}

/**
 * An open run is complete: its writer renamed it, or it vanished with no writer holding it.
 *
 * @example
 * ```ts
 * if (f.state === 'audit-complete') markComplete(r); // renamed .txt → .log
 * ```
 */
export function markComplete(r: RunState): void {
  if (r.phase === RunPhase.Open) w(r).phase = RunPhase.Complete;
}

/**
 * An open run whose file no writer holds stopped growing: its writer crashed.
 *
 * @example
 * ```ts
 * if (idleMs > abandonAfterMs && !isHeldByWriter(r.fh.fd)) markAbandoned(r);
 * ```
 */
export function markAbandoned(r: RunState): void {
  if (r.phase === RunPhase.Open) w(r).phase = RunPhase.Abandoned;
}

/**
 * A writer still holds the open run's file: it is not abandoned, however long it idles.
 *
 * @example
 * ```ts
 * if (isHeldByWriter(r.fh.fd)) markHeld(r, Date.now());
 * ```
 */
export function markHeld(r: RunState, nowMs: number): void {
  r.lastGrowthMs = nowMs;
}

/**
 * The file could not be opened: it is skipped until a full scan lists it again.
 *
 * @example
 * ```ts
 * if (res.failure === 'unreadable') markUnopenable(r);
 * ```
 */
export function markUnopenable(r: RunState): void {
  w(r).openFailed = true;
}

/**
 * The file is no longer in the directory (read on through its descriptor, if held).
 *
 * @example
 * ```ts
 * if (!listed.has(r.ino) && r.fh) markGone(r); // read on through r.fh
 * ```
 */
export function markGone(r: RunState): void {
  w(r).gone = true;
}

/**
 * The checkpoint says every line of the file was delivered (before a restart).
 *
 * @example
 * ```ts
 * if (saved?.done && saved.offset === f.size) markFoundDelivered(r);
 * ```
 */
export function markFoundDelivered(r: RunState): void {
  w(r).delivered = true;
}

/**
 * Every line is delivered and checkpointed. A complete run read without its completion marker
 * is `incomplete` (an admission segment has no markers); an abandoned one stays abandoned.
 * Returns the run's final state.
 *
 * @example
 * ```ts
 * metrics.runsCompleted.inc({ state: markDelivered(r) }); // 'complete', 'incomplete' or 'abandoned'
 * ```
 */
export function markDelivered(r: RunState): RunPhase {
  w(r).delivered = true;
  if (r.phase !== RunPhase.Abandoned) {
    w(r).phase =
      r.kind === 'admission' || r.sawCompletion ? RunPhase.Complete : RunPhase.Incomplete;
  }
  return r.phase;
}

/**
 * Lines were appended to a delivered run: they are delivered too.
 *
 * @example
 * ```ts
 * if (saved?.done && f.size > saved.offset) markUndelivered(r);
 * ```
 */
export function markUndelivered(r: RunState): void {
  w(r).delivered = false;
  if (r.phase === RunPhase.Incomplete) w(r).phase = RunPhase.Complete;
}

/**
 * The checkpoint key of a run.
 *
 * @example
 * ```ts
 * const saved = store.get(runCheckpointKey(r));
 * ```
 */
export function runCheckpointKey(r: RunState): string {
  return checkpointKey({ source: r.kind, channel: r.channel, run: r.run, ino: r.ino });
}

/**
 * The completed, present runs as a scan would find them, by file name: a scan need not lstat
 * them, as completed files do not change (a file replaced under the same name is found by the
 * next full scan). Without this every event would cost an lstat per run not yet delivered, and
 * a backlog of N runs consumed one by one N² of them. A name held by two runs is left out.
 *
 * @example
 * ```ts
 * const known = completedFiles(runs.values());
 * await scanChannel(dir, (name) => known.get(name));
 * ```
 */
export function completedFiles(runs: Iterable<RunState>): Map<string, ScannedFile> {
  const known = new Map<string, ScannedFile>();
  const twice = new Set<string>();
  for (const r of runs) {
    if (!completedByWriter(r) || r.gone) continue;
    const state = classifyFileName(r.name).state;
    if (state !== 'audit-complete' && state !== 'admission-complete') continue;
    if (known.has(r.name)) twice.add(r.name);
    known.set(r.name, {
      name: r.name,
      state,
      run: r.run,
      type: 'file',
      ino: r.ino,
      size: r.size,
      mtimeMs: r.mtimeMs,
    });
  }
  for (const name of twice) known.delete(name);
  return known;
}

/**
 * The run was completed by its writer (`complete`, or delivered as `incomplete`): its file
 * does not change any more.
 *
 * @example
 * ```ts
 * if (completedByWriter(r) && f.state === 'audit-open') … // a new file on a reused inode
 * ```
 */
export function completedByWriter(r: RunState): boolean {
  return r.phase === RunPhase.Complete || r.phase === RunPhase.Incomplete;
}

/**
 * A checkpoint entry for a run at a position.
 *
 * @example
 * ```ts
 * await window.send(batch, runEntry(r, reader.position(), false));
 * ```
 */
export function runEntry(
  r: RunState,
  pos: { offset: number; line: number },
  done: boolean,
): CheckpointEntry {
  return { source: r.kind, channel: r.channel, run: r.run, ino: r.ino, ...pos, done };
}
