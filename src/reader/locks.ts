import { tryLock, unlock } from '../protocol/flock.ts';

/**
 * True when a writer holds LOCK_EX on the file: our non-blocking shared lock is refused.
 * A lock we get is released at once, so a writer that starts now only retries briefly.
 *
 * @example
 * ```ts
 * if (!isHeldByWriter(fh.fd)) markAbandoned();
 * ```
 */
export function isHeldByWriter(fd: number): boolean {
  if (!tryLock(fd, 'sh')) return true;
  unlock(fd);
  return false;
}

/**
 * Runs `fn` while holding LOCK_EX on `fd` (taken without blocking). Returns false without
 * running it when another process holds a lock.
 *
 * @example
 * ```ts
 * await withExclusiveLock(fh.fd, () => deleteSegment(dir, name, ino));
 * ```
 */
export async function withExclusiveLock(fd: number, fn: () => Promise<boolean>): Promise<boolean> {
  if (!tryLock(fd, 'ex')) return false;
  try {
    return await fn();
  } finally {
    unlock(fd);
  }
}
