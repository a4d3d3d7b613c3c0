import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { errnoCode } from '../errors.ts';
import type { CheckpointEntry } from '../pipeline/checkpoint.ts';
import { checkpointKey } from '../pipeline/checkpoint.ts';
import { classifyFileName } from '../protocol/names.ts';
import type { LineReader } from './line-reader.ts';
import type { ScannedFile } from './scan.ts';

/** Lifecycle of a run file as the reader sees it. */
export type RunPhase = 'open' | 'complete' | 'abandoned';

/** What the reader tracks about one run file (one inode) of a channel. */
export interface RunState {
  readonly kind: 'audit' | 'admission';
  readonly channel: string;
  /** Run name at first sight; stays the key even if the file is renamed. */
  readonly run: string;
  readonly ino: string;
  /** Current file name in the channel directory. */
  name: string;
  phase: RunPhase;
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
  openFailed: boolean;
  reader?: LineReader;
  delivered: boolean;
  /** The file is no longer in the directory (it is read through the held descriptor). */
  gone: boolean;
  lines: number;
  violations: number;
  invalid: number;
  sawCompletion: boolean;
  readonly byConstraint: Map<string, number>;
}

/** Creates the tracking state for a newly seen file. */
export function newRunState(channel: string, f: ScannedFile, nowMs: number): RunState {
  return {
    kind: f.state.startsWith('admission') ? 'admission' : 'audit',
    channel,
    run: f.run,
    ino: f.ino,
    name: f.name,
    phase: f.state === 'audit-open' ? 'open' : 'complete',
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

/** The checkpoint key of a run. */
export function runKey(r: RunState): string {
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
    if (r.phase !== 'complete' || r.gone) continue;
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

/** A checkpoint entry for a run at a position. */
export function runEntry(
  r: RunState,
  pos: { offset: number; line: number },
  done: boolean,
): CheckpointEntry {
  return { source: r.kind, channel: r.channel, run: r.run, ino: r.ino, ...pos, done };
}

/** Why a file could not be opened. */
export type OpenFailure = 'replaced' | 'gone' | 'unreadable' | 'not-a-regular-file';

/**
 * Opens a run file without following links and without blocking on a FIFO, and checks that
 * it is still the regular file (same inode) the scan saw.
 */
export async function openRunFile(
  dir: string,
  r: RunState,
): Promise<FileHandle | { failure: OpenFailure; message: string }> {
  let fh: FileHandle;
  try {
    fh = await open(
      join(dir, r.name),
      constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK,
    );
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'ENOENT') return { failure: 'gone', message: 'file disappeared' };
    if (code === 'ELOOP') return { failure: 'not-a-regular-file', message: 'is a symlink' };
    return { failure: 'unreadable', message: (err as Error).message };
  }
  const st = await fh.stat({ bigint: true });
  if (!st.isFile()) {
    await fh.close();
    return { failure: 'not-a-regular-file', message: 'is not a regular file' };
  }
  if (st.ino.toString() !== r.ino) {
    await fh.close();
    return { failure: 'replaced', message: 'file was replaced' };
  }
  return fh;
}
