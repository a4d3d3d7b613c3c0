import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { errnoCode } from '../errors.ts';
import type { CheckpointEntry } from '../pipeline/checkpoint.ts';
import { checkpointKey } from '../pipeline/checkpoint.ts';
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
  /** mtime of the completed file: the delivery order key. */
  mtimeMs: number;
  size: number;
  /** When the file was last seen to grow (for abandonment). */
  lastGrowthMs: number;
  fh?: FileHandle;
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
    mtimeMs: f.mtimeMs,
    size: f.size,
    lastGrowthMs: nowMs,
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
