import { constants } from 'node:fs';
import { open, readdir, rename, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { errnoCode } from '../errors.ts';
import { tryLock, unlock } from '../protocol/flock.ts';
import { ADMISSION_PREFIX } from '../protocol/names.ts';

/** Offset of the last `\n` before `size`, or -1. Reads backwards in 4 KiB steps. */
async function lastNewline(fh: FileHandle, size: number): Promise<number> {
  const buf = Buffer.alloc(4096);
  for (let end = size; end > 0;) {
    const start = Math.max(0, end - buf.length);
    const { bytesRead } = await fh.read(buf, 0, end - start, start);
    const i = buf.subarray(0, bytesRead).lastIndexOf(0x0a);
    if (i >= 0) return start + i;
    end = start;
  }
  return -1;
}

/**
 * Recovers the `.open` segment of a crashed writer as Gatekeeper does: when no process holds
 * a lock on it, it is cut to `maxBytes`, then back to its last whole line, fsynced and
 * renamed `<stem>.recovered.log`; one without a whole line is removed. A locked one belongs
 * to a live writer and is left alone (returns 'busy').
 *
 * @example
 * ```ts
 * await recoverOpenSegment(join(dir, 'admission-20260801T100000.123456789Z-0123456789abcdef.open'), 1 << 20);
 * ```
 */
export async function recoverOpenSegment(
  path: string,
  maxBytes: number,
): Promise<'recovered' | 'removed' | 'busy' | 'gone'> {
  let fh: FileHandle;
  try {
    fh = await open(path, constants.O_RDWR | constants.O_NOFOLLOW);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return 'gone';
    throw err;
  }
  let locked = false;
  try {
    if (!tryLock(fh.fd, 'ex')) return 'busy';
    locked = true;
    let limit = (await fh.stat()).size;
    if (limit > maxBytes) {
      limit = maxBytes;
      await fh.truncate(limit);
    }
    const nl = await lastNewline(fh, limit);
    if (nl < 0) {
      await unlink(path);
      return 'removed';
    }
    if (nl + 1 < limit) await fh.truncate(nl + 1);
    await fh.sync();
    unlock(fh.fd);
    locked = false;
    await rename(path, path.replace(/\.open$/, '.recovered.log'));
    return 'recovered';
  } finally {
    if (locked) unlock(fh.fd);
    await fh.close();
  }
}

/**
 * Repairs what crashed writers left in a channel: `admission-*` names containing `.deleting`
 * are removed (a deletion that did not finish) and unlocked `.open` segments recovered.
 * Returns whether any admission file remains, so a caller knows whether to look again.
 *
 * @example
 * ```ts
 * await recoverChannel('/tmp/violations/topics/audit-channel', 1 << 20);
 * ```
 */
export async function recoverChannel(dir: string, maxBytes: number): Promise<boolean> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return false;
    throw err;
  }
  let remaining = false;
  for (const e of entries) {
    if (e.isDirectory() || !e.name.startsWith(ADMISSION_PREFIX)) continue;
    const path = join(dir, e.name);
    if (e.name.includes('.deleting')) {
      await unlink(path).catch((err: unknown) => {
        if (errnoCode(err) !== 'ENOENT') throw err;
      });
      continue;
    }
    remaining = true;
    if (e.name.endsWith('.open')) await recoverOpenSegment(path, maxBytes);
  }
  return remaining;
}
