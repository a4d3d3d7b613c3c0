import { lstat, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { fsyncDir } from '../durable-fs.ts';
import { errnoCode } from '../errors.ts';
import type { RunState } from './run-state.ts';

/**
 * The delivered audit runs of a channel (completed, or abandoned by a crashed writer) that
 * exceed `keep`, oldest completion first (ties by name). Open, undelivered and admission files
 * are never chosen.
 *
 * @example
 * ```ts
 * for (const r of runsBeyondRetention(runs, 3)) await deleteIfSame(dir, r);
 * ```
 */
export function runsBeyondRetention(runs: Iterable<RunState>, keep: number): RunState[] {
  const delivered = [...runs]
    .filter((r) => r.kind === 'audit' && r.phase !== 'open' && r.delivered && !r.gone)
    .sort((a, b) => a.mtimeMs - b.mtimeMs || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return delivered.slice(0, Math.max(0, delivered.length - keep));
}

/**
 * Deletes `dir/name` only if it is still the same inode, so a file that replaced it is never
 * removed. Returns false when the file was already gone or replaced.
 */
export async function unlinkIfSame(dir: string, name: string, ino: string): Promise<boolean> {
  const path = join(dir, name);
  try {
    const st = await lstat(path, { bigint: true });
    if (st.ino.toString() !== ino) return false;
    await unlink(path);
    return true;
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return false;
    throw err;
  }
}

/**
 * Deletes a consumed admission segment the way the contract says: rename to `.deleting`
 * (so no other reader picks it up), then unlink, then fsync the directory. The caller holds
 * LOCK_EX on it.
 */
export async function deleteSegment(dir: string, name: string, ino: string): Promise<boolean> {
  const path = join(dir, name);
  const deleting = join(dir, name.replace(/\.log$/, '.deleting'));
  try {
    const st = await lstat(path, { bigint: true });
    if (st.ino.toString() !== ino) return false;
    await rename(path, deleting);
    await unlink(deleting);
    await fsyncDir(dir);
    return true;
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return false;
    throw err;
  }
}
