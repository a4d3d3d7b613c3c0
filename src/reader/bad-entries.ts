import type { DeadLetter } from '../dead-letter.ts';
import { reportInvalid } from '../pipeline/invalid.ts';
import type { InvalidCode, Telemetry } from '../telemetry/index.ts';
import { pathInRoot, type Channel } from './channel.ts';
import type { VolumeTally } from './lanes/volume-tally.ts';

/** Reports bad directory entries (files and channels), each once. */
export interface BadEntries {
  /** A bad run file: the same name and inode is reported once. */
  file(
    ch: Channel,
    f: { name: string; ino: string },
    code: InvalidCode,
    reason: string,
  ): Promise<void>;
  /**
   * A bad entry of a channel, or of the root (`ch` undefined), the first time it is seen: `id`
   * says what "the same" is.
   */
  once(
    ch: Channel | undefined,
    id: string,
    name: string,
    code: InvalidCode,
    reason: string,
  ): Promise<void>;
}

/**
 * Reports symlinks, files that are not regular files, unreadable files and names that are not
 * UTF-8 through the one path for bad input (a log line, a count, the dead letter), each once
 * while it stays: a channel remembers what it reported (`Channel.reported`), the root here.
 *
 * @example
 * ```ts
 * const bad = createBadEntries({ telemetry, deadLetter, tally: SOLE_READER });
 * await bad.file(ch, f, InvalidCode.Symlink, 'symlink named like a run file; ignored');
 * ```
 */
export function createBadEntries(deps: {
  readonly telemetry: Telemetry;
  readonly deadLetter: DeadLetter;
  /** With several sinks, an entry another sink's source reported is only skipped here. */
  readonly tally: VolumeTally;
}): BadEntries {
  /** Bad names in the root already reported. */
  const rootReported = new Set<string>();

  async function once(
    ch: Channel | undefined,
    id: string,
    name: string,
    code: InvalidCode,
    reason: string,
  ): Promise<void> {
    const reported = ch?.reported ?? rootReported;
    if (reported.has(id)) return;
    reported.add(id);
    if (!deps.tally.once(entryKey(ch, id))) return;
    await reportInvalid(deps, {
      file: ch ? pathInRoot(ch, name) : name,
      line: 0,
      code,
      reason,
    });
  }

  return {
    file: (ch, f, code, reason) => once(ch, `${f.name}@${f.ino}`, f.name, code, reason),
    once,
  };
}

/** A bad entry as the volume tally knows it: its channel (none: the root) and its id. */
export const entryKey = (ch: Channel | undefined, id: string) =>
  ch ? `${ch.name}/${id}` : `/${id}`;
