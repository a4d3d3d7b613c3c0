import { execFile } from 'node:child_process';
import { open, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { lockExclusive, tryLock, unlock } from '../../src/protocol/flock.ts';
import { makeTmpDir } from '../helpers/tmp.ts';

const run = promisify(execFile);

/** util-linux flock(1) as an independent second process: does `flock -n -s` get the lock? */
async function otherProcessCanLockShared(path: string): Promise<boolean> {
  try {
    await run('flock', ['-n', '-s', path, 'true']);
    return true;
  } catch {
    return false;
  }
}

describe('flock(2) through koffi', () => {
  let tmp: Awaited<ReturnType<typeof makeTmpDir>>;
  let path: string;
  beforeEach(async () => {
    tmp = await makeTmpDir();
    path = join(tmp.dir, 'f.txt');
    await writeFile(path, '');
  });
  afterEach(() => tmp.cleanup());

  it('holds a real BSD lock that util-linux flock(1) sees, until unlocked', async () => {
    const fh = await open(path, 'a');
    expect(tryLock(fh.fd, 'ex')).toBe(true);
    expect(await otherProcessCanLockShared(path)).toBe(false);
    unlock(fh.fd);
    expect(await otherProcessCanLockShared(path)).toBe(true);
    await fh.close();
  });

  it('reports a lock held by another process instead of blocking', async () => {
    const holder = execFile('flock', ['-x', path, 'sleep', '30']);
    const fh = await open(path, 'r');
    try {
      // Wait until the other process has it.
      for (let i = 0; i < 200 && tryLock(fh.fd, 'sh'); i++) {
        unlock(fh.fd);
        await new Promise((r) => setTimeout(r, 10));
      }
      expect(tryLock(fh.fd, 'sh')).toBe(false);
      await expect(lockExclusive(fh.fd, { maxWaitMs: 100 })).rejects.toMatchObject({
        code: 'ERR_LOCK_HELD',
      });
    } finally {
      holder.kill();
      await fh.close();
    }
  });
});
