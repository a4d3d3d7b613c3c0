/**
 * What the volume holds, counted once however many sinks' lanes read it.
 *
 * Every sink's lane reads the whole volume. A line read (and a bad line reported), a run found
 * and a run finished are counted by whichever lane gets to it first, so the counts stay right
 * when the lanes are at different places, when one restarts from its checkpoint and when one
 * stops for good: the others go on counting from where it was, with no gap and nothing twice.
 * A file's lines are read in order, so "read before" is a mark per file: the end of the
 * furthest line any lane has read. The tally remembers the files most recently read
 * (`MAX_FILES`): enough for every run and segment a volume holds at once.
 *
 * @example
 * ```ts
 * const tally = createVolumeTally(); // one per reader, shared by its lanes
 * const from = tally.fresh('c/run.log', lines); // lines[from…] are new: count and report them
 * ```
 */
export interface VolumeTally {
  /**
   * Of `lines` (read from `file` in order), the index of the first one no lane has read
   * before (`lines.length`: none is new); they all count as read from now on.
   */
  fresh(file: string, lines: readonly { readonly start: number; readonly end: number }[]): number;
  /** A run (by its checkpoint key) found undelivered: true the first time, until it is finished. */
  found(run: string): boolean;
  /** A delivered run found to have grown: true if no lane said so since it was finished. */
  grew(run: string): boolean;
  /** A run finished (delivered or lost): true once per time it was found. */
  finished(run: string): boolean;
  /**
   * The run's file was replaced by another under the same name and inode: the new one counts
   * from its start. (Each lane that notices says so; lines one had counted in between are
   * counted again, never skipped.)
   */
  replaced(run: string): void;
  /** A bad directory entry seen: true the first time (until `forget`). */
  once(entry: string): boolean;
  /** Forgets an entry, so that it counts again when it comes back. */
  forget(entry: string): void;
}

/** At most this many files' marks and runs' states are kept (least recently used go first). */
export const MAX_FILES = 4096;

interface FileState {
  /** End of the furthest line read. */
  mark: number;
  /** Found and not yet finished / finished. */
  run?: 'pending' | 'finished';
}

/** A reader with one sink: its one lane reads everything first. */
export const SOLE_READER: VolumeTally = {
  fresh: () => 0,
  found: () => true,
  grew: () => true,
  finished: () => true,
  replaced: () => undefined,
  once: () => true,
  forget: () => undefined,
};

/** The tally of a reader with several sinks, shared by their lanes. */
export function createVolumeTally(): VolumeTally {
  const files = new Map<string, FileState>();
  const entries = new Set<string>();

  /** The state of `key`, now the most recently used. */
  function get(key: string): FileState {
    let s = files.get(key);
    if (s) files.delete(key);
    else s = { mark: 0 };
    files.set(key, s);
    if (files.size > MAX_FILES) files.delete(files.keys().next().value!);
    return s;
  }

  return {
    fresh(file, lines) {
      if (lines.length === 0) return 0;
      const s = get(file);
      let from = 0;
      while (from < lines.length && lines[from]!.start < s.mark) from++;
      s.mark = Math.max(s.mark, lines[lines.length - 1]!.end);
      return from;
    },
    found(run) {
      const s = get(run);
      if (s.run) return false;
      s.run = 'pending';
      return true;
    },
    grew(run) {
      const s = get(run);
      if (s.run === 'pending') return false;
      s.run = 'pending';
      return true;
    },
    finished(run) {
      const s = get(run);
      if (s.run !== 'pending') return false;
      s.run = 'finished';
      return true;
    },
    replaced(run) {
      files.delete(run);
    },
    once(entry) {
      if (entries.has(entry)) return false;
      entries.add(entry);
      return true;
    },
    forget(entry) {
      entries.delete(entry);
    },
  };
}
