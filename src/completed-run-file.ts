import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fsyncDirSync } from './durable-fs.ts';
import { errnoCode, GkExportError, type CompletedRunErrorCode } from './errors.ts';

/** A channel's last completed run, as an output stage saw it: name and completion line. */
export interface CompletedRun {
  readonly run: string;
  readonly line: number;
}

const FILE = 'state.json';
const TMP = 'state.json.tmp';

/**
 * Reads `<dir>/state.json` (`{"version":1,"previous":{"run":…,"line":…}|null}`); a complete
 * temp file left by a crash before its rename wins. Undefined when there is none yet.
 *
 * @example
 * ```ts
 * const last = readCompletedRun('/state/changes-only/stdout/audit-channel');
 * ```
 */
export function readCompletedRun(dir: string): CompletedRun | undefined {
  for (const name of [TMP, FILE]) {
    let text: string;
    try {
      text = readFileSync(join(dir, name), 'utf8');
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') continue;
      throw err;
    }
    const parsed = parse(text);
    if (parsed !== undefined) return parsed ?? undefined;
    if (name === FILE) {
      throw new GkExportError<CompletedRunErrorCode>(
        'ERR_RUN_STATE_CORRUPT',
        `${join(dir, FILE)} is not a version-1 run state; move the directory aside to start over`,
      );
    }
  }
  return undefined;
}

/**
 * Replaces `<dir>/state.json` atomically (temp file, fsync, rename, directory fsync): the one
 * step that moves a channel from one completed run to the next.
 *
 * @example
 * ```ts
 * writeCompletedRun(dir, { run: '2026-01-01T00_00_00Z', line: 1002 });
 * ```
 */
export function writeCompletedRun(dir: string, previous: CompletedRun): void {
  const tmp = join(dir, TMP);
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeFileSync(fd, JSON.stringify({ version: 1, previous }));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, join(dir, FILE));
  fsyncDirSync(dir);
}

/** The parsed state (null: none recorded), or undefined when the text is not a state. */
function parse(text: string): CompletedRun | null | undefined {
  try {
    const v = JSON.parse(text) as { version?: unknown; previous?: Partial<CompletedRun> | null };
    if (v?.version !== 1) return undefined;
    const p = v.previous;
    if (p === null) return null;
    if (typeof p?.run !== 'string' || !Number.isSafeInteger(p.line)) return undefined;
    return { run: p.run, line: p.line! };
  } catch {
    return undefined;
  }
}
