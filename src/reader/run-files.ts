import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { errnoCode } from '../errors.ts';
import { InvalidCode, type Metrics } from '../telemetry/index.ts';
import type { BadEntries } from './bad-entries.ts';
import type { Channel } from './channel.ts';
import { inChannelDir } from './channel-dir.ts';
import { markUnopenable, type RunState } from './run-state.ts';

/** Why a file could not be opened. */
export type OpenFailure = 'replaced' | 'gone' | 'unreadable' | 'not-a-regular-file';

/** An open run file, or why it could not be opened. */
export type OpenedRun = FileHandle | { failure: OpenFailure; message: string };

/**
 * Opens a run file without following links and without blocking on a FIFO, and checks that
 * it is still the regular file (same inode) the scan saw.
 *
 * @example
 * ```ts
 * const fh = await openRunHandle(dir, r);
 * if ('failure' in fh) console.log(fh.message); // 'file disappeared'
 * ```
 */
export async function openRunHandle(dir: string, r: RunState): Promise<OpenedRun> {
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

/**
 * Opens a run file inside the channel directory the last scan read, never through a symlink;
 * a channel that is no longer that directory makes the file `gone`.
 *
 * @example
 * ```ts
 * const own = r.fh ?? (await openInChannel(ch, r));
 * ```
 */
export async function openInChannel(ch: Channel, r: RunState): Promise<OpenedRun> {
  const inDir = await inChannelDir(ch.dir, ch.id, (base) => openRunHandle(base, r));
  return inDir.ok ? inDir.value : { failure: 'gone', message: `channel ${inDir.problem}` };
}

/** The run files the source holds open: one descriptor per file, opened once, closed once. */
export interface RunFiles {
  /**
   * Opens a run file if it is not open yet. Beyond --max-open-files only the run a channel is
   * about to deliver is opened (`now`), so the limit can be exceeded by one per channel but
   * delivery never waits for a descriptor. A scan and the delivery loop asking at once share
   * one open. With `now`, a failure to open (EMFILE …) is thrown.
   */
  ensureOpen(ch: Channel, r: RunState, now?: boolean): Promise<void>;
  /** Closes a run's file (after an open in flight, if any): the one close of its one open. */
  close(r: RunState): Promise<void>;
}

/**
 * Owns the run files' descriptors and counts them (`gk_export_run_files_open`). A file that
 * cannot be opened for good (unreadable, not a regular file) is reported once and skipped
 * until a full scan; one gone or replaced since the scan asks for a full scan (`rescan`).
 *
 * @example
 * ```ts
 * const files = createRunFiles({ maxOpenFiles: 1024, metrics, bad, rescan: (ch) => scan(ch) });
 * await files.ensureOpen(ch, r, true);
 * if (r.fh) … ; await files.close(r);
 * ```
 */
export function createRunFiles(deps: {
  readonly maxOpenFiles: number;
  readonly metrics: Metrics;
  readonly bad: BadEntries;
  /** The channel's directory changed under a run: look at every entry again. */
  readonly rescan: (ch: Channel) => void;
}): RunFiles {
  let openFiles = 0;

  function countOpen(delta: number): void {
    openFiles += delta;
    // (A change, not a value: with several sinks each lane holds its own descriptors, and the
    // gauge is their sum.)
    deps.metrics.runFilesOpen.inc(delta);
  }

  async function openRun(ch: Channel, r: RunState, now: boolean): Promise<void> {
    let res: OpenedRun;
    try {
      res = await openInChannel(ch, r);
    } catch (err) {
      countOpen(-1);
      // EMFILE, EACCES on the directory …: a scan only tries to hold the file early and
      // tries again later; delivery reports it and retries.
      if (now) throw err;
      return;
    }
    if ('failure' in res) {
      countOpen(-1);
      if (res.failure === 'unreadable' || res.failure === 'not-a-regular-file') {
        // Not retried at every event (that would spin): the next full scan tries again.
        markUnopenable(r);
        const code =
          res.failure === 'unreadable' ? InvalidCode.Unreadable : InvalidCode.NotARegularFile;
        await deps.bad.file(ch, r, code, res.message);
      } else {
        // Gone or replaced since the scan: look again, lstat'ing every entry.
        deps.rescan(ch);
      }
      return;
    }
    if (r.delivered || ch.runs.get(r.ino) !== r) {
      // Finished or forgotten while it was being opened: nobody will use it.
      countOpen(-1);
      await res.close().catch(() => undefined);
      return;
    }
    r.fh = res;
  }

  return {
    async ensureOpen(ch, r, now = false) {
      if (r.opening) return r.opening;
      if (r.fh || r.delivered || r.gone || r.openFailed) return;
      if (openFiles >= deps.maxOpenFiles && !now) return;
      countOpen(1);
      r.opening = openRun(ch, r, now).finally(() => (r.opening = undefined));
      return r.opening;
    },
    async close(r) {
      if (r.opening) await r.opening.catch(() => undefined);
      const fh = r.fh;
      r.fh = undefined;
      r.reader?.dispose();
      r.reader = undefined;
      if (fh) {
        countOpen(-1);
        await fh.close().catch(() => undefined);
      }
    },
  };
}
