import { lstat, readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { errnoCode } from '../errors.ts';
import { classifyFileName, FileState } from '../protocol/names.ts';

/**
 * Gatekeeper's retention for one channel: completed audit `.log` files (never admission
 * segments, never open runs) sorted by mtime, ties by path, oldest removed until at most
 * `keep` remain. Returns the names removed.
 *
 * @example
 * ```ts
 * await pruneCompletedRuns('/tmp/violations/topics/audit-channel', 3);
 * ```
 */
export async function pruneCompletedRuns(dir: string, keep: number): Promise<string[]> {
  const runs: { name: string; mtimeMs: number }[] = [];
  for (const name of await readdir(dir)) {
    if (classifyFileName(name).state !== FileState.AuditComplete) continue;
    try {
      const st = await lstat(join(dir, name));
      if (st.isFile()) runs.push({ name, mtimeMs: st.mtimeMs });
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw err;
    }
  }
  runs.sort((a, b) => a.mtimeMs - b.mtimeMs || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const removed: string[] = [];
  for (const r of runs.slice(0, Math.max(0, runs.length - keep))) {
    try {
      await unlink(join(dir, r.name));
      removed.push(r.name);
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw err;
    }
  }
  return removed;
}
