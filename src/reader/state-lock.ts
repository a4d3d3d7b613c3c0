import { constants } from 'node:fs';
import { mkdir, open, unlink, writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { GkExportError, errnoCode, type StateLockErrorCode } from '../errors.ts';
import { tryLock, unlock } from '../protocol/flock.ts';

/** The lock file in the state dir; it holds the pid of the reader that has the lock. */
export const STATE_LOCK_FILE = 'reader.lock';

/** A held state-dir lock. */
export interface StateLock {
  /** Releases the lock; idempotent. */
  release(): Promise<void>;
}

/**
 * Makes this reader the only one on `dir`: takes an exclusive BSD `flock` on
 * `<dir>/reader.lock` without waiting (two readers on one state dir would both deliver
 * everything), writes its pid there, and checks that the dir is writable (a reader that cannot
 * save its checkpoint would deliver its first batch again at every restart). Throws
 * `ERR_STATE_LOCKED` naming the holder's pid, or `ERR_STATE_DIR_NOT_WRITABLE`. The lock goes
 * with the process, so a killed reader never leaves it held.
 *
 * @example
 * ```ts
 * const lock = await lockStateDir('/tmp/violations/.gk-export-state');
 * try { … } finally { await lock.release(); }
 * ```
 */
export async function lockStateDir(dir: string): Promise<StateLock> {
  let fh: FileHandle;
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    fh = await open(
      join(dir, STATE_LOCK_FILE),
      constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW,
      0o600,
    );
  } catch (err) {
    throw notWritable(dir, err);
  }
  if (!tryLock(fh.fd, 'ex')) {
    const pid = (await fh.readFile('utf8').catch(() => '')).trim();
    await fh.close();
    throw new GkExportError<StateLockErrorCode>(
      'ERR_STATE_LOCKED',
      `another reader holds ${dir} (pid ${/^\d+$/.test(pid) ? pid : 'unknown'}): one state dir serves one reader; give each reader its own --state-dir`,
    );
  }
  try {
    await fh.truncate(0);
    await fh.write(`${process.pid}\n`, 0);
    // The checkpoint is a temp file renamed into place: the dir itself must take new files.
    const probe = join(dir, `.write-probe-${process.pid}`);
    await writeFile(probe, '');
    await unlink(probe);
  } catch (err) {
    unlock(fh.fd);
    await fh.close();
    throw notWritable(dir, err);
  }
  let released: Promise<void> | undefined;
  return {
    release() {
      released ??= (async () => {
        // No stale pid for whoever takes the lock next (it may be another program).
        await fh.truncate(0).catch(() => undefined);
        unlock(fh.fd);
        await fh.close();
      })();
      return released;
    },
  };
}

function notWritable(dir: string, err: unknown): GkExportError<StateLockErrorCode> {
  return new GkExportError<StateLockErrorCode>(
    'ERR_STATE_DIR_NOT_WRITABLE',
    `state dir ${dir} is not writable (${errnoCode(err) ?? (err as Error).message}): the reader could not save its checkpoint; make it writable or choose another --state-dir`,
    { cause: err },
  );
}
