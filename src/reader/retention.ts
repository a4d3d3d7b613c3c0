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

/**
 * Delivered files whose delete failed (a read-only volume, a channel directory without write
 * permission), each tried again with backoff: doubling from `baseMs` up to `maxMs`. The caller
 * keeps such a file's delivered state meanwhile, so it is never delivered again.
 *
 * @example
 * ```ts
 * const retries = createDeleteRetries(1000, 60_000);
 * if (retries.due(key, Date.now())) try { await unlink(path); retries.succeeded(key); }
 * catch { if (retries.failed(key, Date.now())) log.error('cannot delete'); }
 * ```
 */
export function createDeleteRetries(baseMs: number, maxMs: number) {
  const failing = new Map<string, { attempts: number; nextAtMs: number }>();
  return {
    /** A delete of `key` failed and waits for its next attempt. */
    has: (key: string): boolean => failing.has(key),
    /** `key` may be tried now (never failed, or its backoff has passed). */
    due(key: string, nowMs: number): boolean {
      const f = failing.get(key);
      return f === undefined || f.nextAtMs <= nowMs;
    },
    /** Notes a failed attempt. True for the first one of a streak: log that one. */
    failed(key: string, nowMs: number): boolean {
      const f = failing.get(key) ?? { attempts: 0, nextAtMs: 0 };
      f.attempts += 1;
      f.nextAtMs = nowMs + Math.min(maxMs, baseMs * 2 ** Math.min(f.attempts - 1, 20));
      failing.set(key, f);
      return f.attempts === 1;
    },
    /** Notes that the file is deleted (or gone); returns how many attempts had failed before. */
    succeeded(key: string): number {
      const n = failing.get(key)?.attempts ?? 0;
      failing.delete(key);
      return n;
    },
  };
}

/** Delivered files whose delete failed, tried again with backoff. */
export type DeleteRetries = ReturnType<typeof createDeleteRetries>;
