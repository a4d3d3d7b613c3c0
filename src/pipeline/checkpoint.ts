import { access, mkdir, open, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { fsyncDir } from '../durable-fs.ts';
import { GkExportError, errnoCode, type CheckpointErrorCode } from '../errors.ts';
import { monotonicMs } from '../telemetry/clock.ts';

/** How far one file has been delivered. Keyed by source + channel + run + inode. */
export interface CheckpointEntry {
  readonly source: string;
  readonly channel: string;
  readonly run: string;
  /** Inode number as a decimal string (inodes can exceed 2^53). */
  readonly ino: string;
  /** Byte offset just past the last acknowledged line. */
  readonly offset: number;
  /** Number of lines acknowledged (the last acknowledged line number). */
  readonly line: number;
  /** True once the whole (completed) file is delivered. */
  readonly done: boolean;
  /** Optional fingerprint of the file's first bytes (a reused inode is then not mistaken). */
  readonly fingerprint?: string;
}

interface CheckpointFile {
  version: 1;
  checkpoints: CheckpointEntry[];
}

/** The checkpoint file of a reader with one sink (several sinks: `checkpoints/<sink>.json`). */
export const CHECKPOINT_FILE = 'checkpoints.json';

/**
 * Group commit: `flushSoon` writes at most once per this many ms. A crash then repeats at
 * most what was acknowledged within the last interval (and the batches in flight).
 */
export const CHECKPOINT_INTERVAL_MS = 100;

/** The store key of an entry. */
export function checkpointKey(e: Pick<CheckpointEntry, 'source' | 'channel' | 'run' | 'ino'>) {
  return `${e.source}:${e.channel}/${e.run}@${e.ino}`;
}

/**
 * A versioned JSON checkpoint file in the state dir, written atomically (temp file, fsync,
 * rename, directory fsync) and only when something changed. Callers advance an entry only
 * after the sinks acknowledged the lines it covers. `file` names it (default `checkpoints.json`);
 * with `create`, the first flush writes it even while it holds nothing. `flush` writes now;
 * `flushSoon` writes at most once per `intervalMs` (group commit), so a stream of acknowledged
 * batches costs a few writes a second however small its batches are.
 *
 * @example
 * ```ts
 * const store = await openCheckpointStore('/tmp/violations/.gk-export-state');
 * store.set({ source: 'audit', channel: 'c', run: 'r', ino: '12', offset: 120, line: 3, done: false });
 * await store.flushSoon(); // within 100 ms
 * await store.flush(); // now
 * ```
 */
export async function openCheckpointStore(
  dir: string,
  opts: { file?: string; create?: boolean; intervalMs?: number } = {},
) {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const FILE = opts.file ?? CHECKPOINT_FILE;
  const TMP = `${FILE}.tmp`;
  const intervalMs = opts.intervalMs ?? CHECKPOINT_INTERVAL_MS;
  const entries = new Map<string, CheckpointEntry>();
  for (const e of await loadEntries(dir, FILE)) entries.set(checkpointKey(e), e);
  // `create`: the next flush writes the file even when it holds nothing yet.
  let dirty =
    opts.create === true &&
    !(await access(join(dir, FILE)).then(
      () => true,
      () => false,
    ));
  let writing: Promise<boolean> = Promise.resolve(false);
  let lastWriteAt = -Infinity;
  /** The write `flushSoon` scheduled, shared by every caller until it runs. */
  let scheduled: { timer: NodeJS.Timeout; settle: (p: Promise<boolean>) => void } | undefined;
  let soon: Promise<boolean> | undefined;

  /** A write waiting for the one in progress: every flush until it starts joins it. */
  let queued: Promise<boolean> | undefined;

  /** Writes now (after the write in progress); a scheduled write becomes this one. */
  function flush(): Promise<boolean> {
    const pending = scheduled;
    const promised = soon;
    if (pending) clearTimeout(pending.timer);
    scheduled = undefined;
    soon = undefined;
    let next = queued;
    if (!next) {
      // The write takes its snapshot when it starts: what callers set until then is in it.
      next = writing
        .catch(() => false)
        .then(() => {
          queued = undefined;
          return write();
        });
      queued = next;
      writing = next;
    }
    pending?.settle(next);
    return promised ?? next;
  }

  async function write(): Promise<boolean> {
    if (!dirty) return false;
    dirty = false;
    lastWriteAt = monotonicMs();
    const body: CheckpointFile = { version: 1, checkpoints: [...entries.values()] };
    const text = JSON.stringify(body);
    const tmp = join(dir, TMP);
    // On the thread pool: with a write per interval, not per batch, its few round trips cost
    // nothing, and the loop goes on checking and sending batches while the disk syncs.
    try {
      const fh = await open(tmp, 'w', 0o600);
      try {
        await fh.writeFile(text);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, join(dir, FILE));
      await fsyncDir(dir);
      return true;
    } catch (err) {
      dirty = true;
      throw new GkExportError<CheckpointErrorCode>(
        'ERR_CHECKPOINT_WRITE',
        `cannot write checkpoint in ${dir}: ${(err as Error).message}`,
        { cause: err },
      );
    }
  }

  return {
    dir,
    get(key: string): CheckpointEntry | undefined {
      return entries.get(key);
    },
    set(entry: CheckpointEntry): void {
      const key = checkpointKey(entry);
      const old = entries.get(key);
      if (
        old &&
        old.offset === entry.offset &&
        old.line === entry.line &&
        old.done === entry.done &&
        old.fingerprint === entry.fingerprint
      ) {
        return;
      }
      entries.set(key, entry);
      dirty = true;
    },
    delete(key: string): void {
      if (entries.delete(key)) dirty = true;
    },
    entries(): IterableIterator<CheckpointEntry> {
      return entries.values();
    },
    /**
     * Persists pending changes now; concurrent calls are serialised. Resolves true when it
     * wrote the file (false: nothing had changed).
     */
    flush,
    /**
     * Persists pending changes no later than `intervalMs` after the previous write: at once
     * when that is past, else with one timer that every call until then shares. Resolves
     * (or rejects) as that write does; `flush` meanwhile writes at once and settles it too.
     */
    flushSoon(): Promise<boolean> {
      if (soon) return soon;
      const wait = lastWriteAt + intervalMs - monotonicMs();
      if (wait <= 0) return flush();
      soon = new Promise<boolean>((resolve, reject) => {
        scheduled = {
          timer: setTimeout(flush, wait),
          settle: (p) => void p.then(resolve, reject),
        };
      });
      return soon;
    },
  };
}

export type CheckpointStore = Awaited<ReturnType<typeof openCheckpointStore>>;

async function loadEntries(dir: string, FILE: string): Promise<CheckpointEntry[]> {
  // A complete temp file is newer than the real one: the rename did not happen.
  for (const name of [`${FILE}.tmp`, FILE]) {
    let text: string;
    try {
      text = await readFile(join(dir, name), 'utf8');
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') continue;
      throw err;
    }
    const parsed = parseCheckpointFile(text);
    if (typeof parsed === 'object') return parsed.checkpoints;
    if (name === FILE) {
      throw new GkExportError<CheckpointErrorCode>(
        'ERR_CHECKPOINT_CORRUPT',
        `checkpoint file ${join(dir, FILE)} is not a version-1 checkpoint${parsed ? ` (${parsed})` : ''}; move it aside to start over`,
      );
    }
  }
  return [];
}

/** The checkpoint file, or why it is not one (empty when it is not even JSON of that shape). */
function parseCheckpointFile(text: string): CheckpointFile | string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return '';
  }
  if (typeof value !== 'object' || value === null) return '';
  const v = value as Partial<CheckpointFile>;
  if (v.version !== 1 || !Array.isArray(v.checkpoints)) return '';
  for (const [i, e] of v.checkpoints.entries()) {
    const problem = entryProblem(e);
    if (problem) return `entry ${i}: ${problem}`;
  }
  return v as CheckpointFile;
}

/** What is wrong with one entry, or undefined. Offsets and line numbers are never negative. */
function entryProblem(e: unknown): string | undefined {
  if (typeof e !== 'object' || e === null) return 'not an object';
  const x = e as Record<string, unknown>;
  for (const k of ['source', 'channel', 'run', 'ino'] as const) {
    if (typeof x[k] !== 'string') return `${k} is not a string`;
  }
  for (const k of ['offset', 'line'] as const) {
    const n = x[k];
    if (!Number.isSafeInteger(n) || (n as number) < 0) {
      return `${k} ${JSON.stringify(n)} is not a non-negative integer`;
    }
  }
  if (typeof x.done !== 'boolean') return 'done is not a boolean';
  return undefined;
}
