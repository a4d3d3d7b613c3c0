import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { errnoCode } from '../errors.ts';
import { classifyFileName, invalidNameReason, type FileState } from '../protocol/names.ts';

/** What a directory entry is on disk (from lstat: links are never followed). */
export type EntryType = 'file' | 'symlink' | 'directory' | 'fifo' | 'other';

/** One entry of a channel directory that belongs to the export contract. */
export interface ScannedFile {
  readonly name: string;
  readonly state: FileState;
  readonly run: string;
  readonly type: EntryType;
  readonly ino: string;
  readonly size: number;
  readonly mtimeMs: number;
}

function typeOf(st: {
  isFile(): boolean;
  isSymbolicLink(): boolean;
  isDirectory(): boolean;
  isFIFO(): boolean;
}): EntryType {
  if (st.isFile()) return 'file';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isDirectory()) return 'directory';
  if (st.isFIFO()) return 'fifo';
  return 'other';
}

/**
 * Lists the channels under the root: directories with a valid channel name. Symlinked
 * channel directories are not followed. Missing root → empty list.
 *
 * @example
 * ```ts
 * const channels = await listChannels('/tmp/violations/topics'); // ['audit-channel']
 * ```
 */
export async function listChannels(root: string): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(root, { withFileTypes: true });
  } catch (err) {
    if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') return [];
    throw err;
  }
  return entries
    .filter((e) => e.isDirectory() && invalidNameReason(e.name) === undefined)
    .map((e) => e.name)
    .sort();
}

/** One look at a channel directory. */
export interface ChannelScan {
  readonly files: ScannedFile[];
  /**
   * Entries that vanished between readdir and lstat. When there are any, the directory changed
   * during the scan: a file renamed meanwhile (`.txt` → `.log`) is in neither name, so a file
   * missing from `files` is not known to be gone.
   */
  readonly vanished: number;
}

/**
 * Reads a channel directory: every entry whose name is part of the contract, with lstat
 * data. Entries that vanish between readdir and lstat are skipped and counted. Missing dir →
 * undefined.
 *
 * @example
 * ```ts
 * const { files } = (await scanChannel('/tmp/violations/topics/audit-channel')) ?? { files: [] };
 * ```
 */
export async function scanChannel(
  dir: string,
  /** Entries the caller already knows and that cannot have changed (complete runs): no lstat. */
  known: (name: string) => ScannedFile | undefined = () => undefined,
): Promise<ChannelScan | undefined> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw err;
  }
  const out: ScannedFile[] = [];
  let vanished = 0;
  await Promise.all(
    names.map(async (name) => {
      const { state, run } = classifyFileName(name);
      if (state === 'not-ours' || state === 'deleting') return;
      const cached = known(name);
      if (cached) {
        out.push(cached);
        return;
      }
      try {
        const st = await lstat(join(dir, name), { bigint: true });
        out.push({
          name,
          state,
          run,
          type: typeOf(st),
          ino: st.ino.toString(),
          size: Number(st.size),
          mtimeMs: Number(st.mtimeMs),
        });
      } catch (err) {
        if (errnoCode(err) !== 'ENOENT') throw err;
        vanished += 1;
      }
    }),
  );
  return { files: out, vanished };
}
