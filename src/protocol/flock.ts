import { GkExportError, type FlockErrorCode } from '../errors.ts';
import { libcErrno, libcFunction } from '../libc.ts';

const LOCK_SH = 1;
const LOCK_EX = 2;
const LOCK_NB = 4;
const LOCK_UN = 8;
const EINTR = 4;
const EWOULDBLOCK = 11;

type FlockFn = (fd: number, op: number) => number;
let flockFn: FlockFn | undefined;

function load(): FlockFn {
  if (flockFn) return flockFn;
  const f = libcFunction<FlockFn>('int flock(int fd, int operation)');
  if ('fn' in f) return (flockFn = f.fn);
  // Never run unlocked: a writer and a reader that disagree on locks corrupt the contract.
  throw new GkExportError<FlockErrorCode>(
    'ERR_FLOCK_UNAVAILABLE',
    `flock(2) is unavailable: ${f.error}; gk-export needs Linux with glibc or musl`,
  );
}

function call(fd: number, op: number): boolean {
  const fn = load();
  for (;;) {
    if (fn(fd, op) === 0) return true;
    const errno = libcErrno();
    if (errno === EINTR) continue;
    if (errno === EWOULDBLOCK && op & LOCK_NB) return false;
    throw new GkExportError<FlockErrorCode>(
      'ERR_FLOCK_FAILED',
      `flock(fd ${fd}, ${op}) failed with errno ${errno}`,
    );
  }
}

/**
 * Tries to take a BSD `flock(2)` lock without blocking. Returns false when another open file
 * description holds a conflicting lock. (BSD locks, not fcntl/OFD locks: on Linux those do
 * not see each other, and Gatekeeper's Go driver uses flock.)
 *
 * @example
 * ```ts
 * if (tryLock(fh.fd, 'ex')) { … unlock(fh.fd); }
 * ```
 */
export function tryLock(fd: number, mode: 'sh' | 'ex'): boolean {
  return call(fd, (mode === 'ex' ? LOCK_EX : LOCK_SH) | LOCK_NB);
}

/**
 * Releases this file description's flock lock.
 *
 * @example
 * ```ts
 * unlock(fh.fd);
 * ```
 */
export function unlock(fd: number): void {
  call(fd, LOCK_UN);
}

/**
 * Takes LOCK_EX, retrying with exponential backoff (never blocking the event loop) until
 * `maxWaitMs` passes, then throws ERR_LOCK_HELD.
 *
 * @example
 * ```ts
 * await lockExclusive(fh.fd, { maxWaitMs: 5000 });
 * ```
 */
export async function lockExclusive(
  fd: number,
  opts: { maxWaitMs?: number; signal?: AbortSignal } = {},
): Promise<void> {
  const deadline = Date.now() + (opts.maxWaitMs ?? 30_000);
  let delay = 5;
  while (!tryLock(fd, 'ex')) {
    opts.signal?.throwIfAborted();
    if (Date.now() + delay > deadline) {
      throw new GkExportError<FlockErrorCode>(
        'ERR_LOCK_HELD',
        `another process holds a lock on fd ${fd}; gave up after ${opts.maxWaitMs ?? 30_000} ms`,
      );
    }
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 500);
  }
}

/** Loads libc now, so a missing flock fails at start rather than at the first run. */
export function assertFlockAvailable(): void {
  load();
}
