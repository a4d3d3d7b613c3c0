import {
  closeSync,
  fdatasyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readFileSync,
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
import { createRunResults, type RunResults, type Summary } from './reports.ts';
import type { ReportResult } from './results.ts';

/** What one batch added to a run: results kept, counts per scope, up to which line. */
export interface JournalEntry {
  /** The last line of the run this entry covers. */
  readonly to: number;
  /** Results kept (under the cap), with their scope. */
  readonly kept: readonly (readonly [string, ReportResult])[];
  /** Every result counted, per scope. */
  readonly counts: Readonly<Record<string, Partial<Summary>>>;
}

interface CurrentRun {
  readonly run: string;
  /** False when the run was not seen from its first line: it is never applied. */
  readonly tracking: boolean;
  readonly results: RunResults;
  /** Lines up to here are in `results` already (replayed from the journal). */
  readonly upTo: number;
  fd?: number;
  /** Bytes of the journal: where the next entry goes. */
  bytes: number;
}

const journalName = (run: string) => `run-${run}.journal`;

/**
 * The OpenReports sink's state for one channel (`<state-dir>/openreports/<channel>/`): the
 * last run applied (`state.json`, replaced atomically once all of its reports are applied)
 * and a journal of the run being accumulated (one JSON line per batch, fdatasync'ed before
 * the batch is acknowledged). After a crash in the middle of a run the journal restores what
 * the checkpoint has already passed, so the run is still applied whole.
 *
 * @example
 * ```ts
 * const j = openRunJournal('/state/openreports/audit-channel', 1000);
 * j.begin('2026-01-01T00_00_00Z', true);
 * ```
 */
export function openRunJournal(dir: string, maxResults: number) {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  let applied = readCompletedRun(dir);
  let current: CurrentRun | undefined;

  function closeCurrent(): void {
    if (current?.fd !== undefined) closeSync(current.fd);
    current = undefined;
  }

  function removeStale(keep: string): void {
    for (const name of readdirSync(dir)) {
      if (name.startsWith('run-') && name !== journalName(keep)) {
        rmSync(join(dir, name), { force: true });
      }
    }
  }

  return {
    /** The last run whose reports were all applied. */
    get applied(): CompletedRun | undefined {
      return applied;
    },
    /** The run being accumulated. */
    get current(): Pick<CurrentRun, 'run' | 'tracking' | 'results' | 'upTo'> | undefined {
      return current;
    },

    /**
     * Starts (or after a restart resumes) run `run`: from its first line with an empty
     * journal; later in the run from the journal when there is one, else untracked.
     */
    begin(run: string, fromStart: boolean): void {
      closeCurrent();
      removeStale(run);
      const path = join(dir, journalName(run));
      const results = createRunResults(maxResults);
      if (fromStart) {
        const fd = openSync(path, 'w', 0o600);
        current = { run, tracking: true, results, upTo: 0, fd, bytes: 0 };
        return;
      }
      let text: string;
      try {
        text = readFileSync(path, 'utf8');
      } catch (err) {
        if (errnoCode(err) !== 'ENOENT') throw err;
        current = { run, tracking: false, results, upTo: 0, bytes: 0 };
        return;
      }
      // Whole lines only: a crash in the middle of an append leaves a partial last line.
      const whole = text.lastIndexOf('\n') + 1;
      let upTo = 0;
      for (const line of text.slice(0, whole).split('\n')) {
        if (!line) continue;
        const e = JSON.parse(line) as JournalEntry;
        for (const [ns, r] of e.kept) results.replay(ns, [r], {});
        for (const [ns, c] of Object.entries(e.counts)) results.replay(ns, [], c);
        upTo = Math.max(upTo, e.to);
      }
      const fd = openSync(path, 'r+');
      const bytes = Buffer.byteLength(text.slice(0, whole));
      ftruncateSync(fd, bytes);
      current = { run, tracking: true, results, upTo, fd, bytes };
    },

    /** Appends a batch's entry to the journal, durably. */
    append(entry: JournalEntry): void {
      const c = current;
      if (c?.fd === undefined) return;
      const buf = Buffer.from(JSON.stringify(entry) + '\n');
      let done = 0;
      while (done < buf.length) {
        done += writeSync(c.fd, buf, done, buf.length - done, c.bytes + done);
      }
      fdatasyncSync(c.fd);
      c.bytes += buf.length;
    },

    /** The current run, completed at `line`, is applied: record it; drop its journal. */
    commit(line: number): void {
      const c = current;
      if (!c) return;
      closeCurrent();
      const next = { run: c.run, line };
      writeCompletedRun(dir, next);
      applied = next;
      removeStale('');
    },

    /** Releases the open journal; idempotent. */
    close(): void {
      closeCurrent();
    },
  };
}

export type RunJournal = ReturnType<typeof openRunJournal>;
