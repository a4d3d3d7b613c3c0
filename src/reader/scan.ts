import { isUtf8 } from 'node:buffer';
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
 * A printable form of a file name that is not valid UTF-8: ASCII as is, other bytes as
 * `\xNN`, so a log line shows which name it means.
 */
export function escapeName(raw: Buffer): string {
  let out = '';
  for (const b of raw) {
    out += b >= 0x20 && b < 0x7f && b !== 0x5c ? String.fromCharCode(b) : `\\x${b.toString(16)}`;
  }
  return out;
}

/**
 * Reads a directory's names as bytes: names that are valid UTF-8 as strings, the others
 * (which no contract name can be, and which no string path can reach) apart, escaped.
 */
async function readNames(dir: string): Promise<{ names: string[]; notUtf8: Buffer[] }> {
  const raw = await readdir(dir, { encoding: 'buffer' });
  const names: string[] = [];
  const notUtf8: Buffer[] = [];
  for (const b of raw) {
    if (isUtf8(b)) names.push(b.toString('utf8'));
    else notUtf8.push(b);
  }
  return { names, notUtf8 };
}

/** One entry of the export root. */
export interface RootEntry {
  readonly name: string;
  /** A channel is a `directory`; a `symlink` is reported and never followed. */
  readonly type: 'directory' | 'symlink';
}

/** One look at the export root. */
export interface RootListing {
  readonly entries: RootEntry[];
  /** Directory names that are not valid UTF-8 (escaped): no channel can be read by them. */
  readonly notUtf8: string[];
}

/**
 * Lists the export root: directories and symlinks with a valid channel name (a symlink is
 * listed so that it can be reported; it is never followed), and names that are not UTF-8.
 * Missing root → empty listing; other errors (EACCES, EMFILE …) are thrown.
 *
 * @example
 * ```ts
 * const { entries } = await readRoot('/tmp/violations/topics'); // [{ name: 'audit-channel', type: 'directory' }]
 * ```
 */
export async function readRoot(root: string): Promise<RootListing> {
  let dirents;
  try {
    // Buffer names: a name that is not UTF-8 must not be turned into another (lossy) name.
    dirents = await readdir(root, { withFileTypes: true, encoding: 'buffer' });
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'ENOENT' || code === 'ENOTDIR') return { entries: [], notUtf8: [] };
    throw err;
  }
  const entries: RootEntry[] = [];
  const notUtf8: string[] = [];
  for (const d of dirents) {
    const type = d.isDirectory() ? 'directory' : d.isSymbolicLink() ? 'symlink' : undefined;
    if (!type) continue;
    const raw = d.name as unknown as Buffer;
    if (!isUtf8(raw)) {
      if (type === 'directory') notUtf8.push(escapeName(raw));
      continue;
    }
    const name = raw.toString('utf8');
    if (invalidNameReason(name) === undefined) entries.push({ name, type });
  }
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { entries, notUtf8 };
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
  const { entries } = await readRoot(root);
  return entries.filter((e) => e.type === 'directory').map((e) => e.name);
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
  /** Names that are not valid UTF-8 (escaped) but end like a run or segment file. */
  readonly notUtf8: string[];
}

/**
 * Reads a channel directory: every entry whose name is part of the contract, with lstat
 * data. Entries that vanish between readdir and lstat are skipped and counted. A name that
 * is not valid UTF-8 cannot be part of the contract: it is listed apart (when it ends like a
 * run file) and never touched. Missing dir → undefined.
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
  let listing;
  try {
    listing = await readNames(dir);
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw err;
  }
  const notUtf8 = listing.notUtf8
    .filter((raw) => {
      // One byte, one character: the extension decides, whatever the bad bytes are.
      const state = classifyFileName(raw.toString('latin1')).state;
      return state !== 'not-ours' && state !== 'deleting';
    })
    .map(escapeName);
  const out: ScannedFile[] = [];
  let vanished = 0;
  await Promise.all(
    listing.names.map(async (name) => {
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
  return { files: out, vanished, notUtf8 };
}
