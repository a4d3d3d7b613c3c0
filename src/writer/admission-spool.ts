import { constants } from 'node:fs';
import { lstat, open, readdir, rename, statfs, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { errnoCode, GkExportError, type AdmissionSpoolErrorCode } from '../errors.ts';
import { tryLock, unlock } from '../protocol/flock.ts';
import { ADMISSION_PREFIX } from '../protocol/names.ts';
import type { AdmissionLimits } from './admission-limits.ts';

/** A completed segment as retention sees it. */
interface ReadySegment {
  readonly name: string;
  readonly size: number;
  readonly mtimeMs: number;
}

/** What the completed segments of a channel add up to. */
export interface SpoolUsage {
  count: number;
  bytes: number;
  /** mtime of the oldest completed segment, or undefined when there is none. */
  oldestMs: number | undefined;
}

// Bounds the file system work of one pass, as Gatekeeper does.
const MAX_REMOVALS_PER_PASS = 256;

const oldestFirst = (a: ReadySegment, b: ReadySegment) =>
  a.mtimeMs - b.mtimeMs || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/** Completed admission segments (`admission-*.log`, recovered ones included), oldest first. */
async function scanReady(dir: string): Promise<ReadySegment[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return [];
    throw err;
  }
  const ready: ReadySegment[] = [];
  for (const name of names) {
    if (!name.startsWith(ADMISSION_PREFIX) || !name.endsWith('.log')) continue;
    try {
      const st = await lstat(join(dir, name));
      if (st.isFile()) ready.push({ name, size: st.size, mtimeMs: st.mtimeMs });
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw err;
    }
  }
  return ready.sort(oldestFirst);
}

/**
 * Deletes a completed segment the way Gatekeeper does: open it (`O_NOFOLLOW`), take
 * LOCK_EX|LOCK_NB — refused while a reader holds any lock on it —, rename it to
 * `<name>.deleting` so no scanner picks it again, unlock, close, unlink.
 * Returns false when a reader holds a lock; true when it is gone.
 *
 * @example
 * ```ts
 * await removeReadySegment(dir, 'admission-20260801T100000.123456789Z-0123456789abcdef.log');
 * ```
 */
export async function removeReadySegment(dir: string, name: string): Promise<boolean> {
  const path = join(dir, name);
  let fh;
  try {
    fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return true;
    throw err;
  }
  try {
    if (!tryLock(fh.fd, 'ex')) return false;
    try {
      await rename(path, `${path}.deleting`);
    } finally {
      unlock(fh.fd);
    }
  } finally {
    await fh.close();
  }
  await unlink(`${path}.deleting`).catch((err: unknown) => {
    if (errnoCode(err) !== 'ENOENT') throw err;
  });
  return true;
}

/**
 * Retention of one channel's admission spool, run before each write with the bytes about to
 * be written reserved: completed segments are removed oldest first (mtime, then name) until
 * at most `maxSegments` remain, none is older than `retainMs`, and they fit in
 * `maxTotalBytes` beside the open segment and the reservation. `cached` skips the directory
 * scan while the last known usage is within bounds (only this writer adds segments, so it is
 * an upper bound). A segment a reader holds locked stops the pass with
 * ERR_ADMISSION_SPOOL_BUSY: the write is refused rather than the reader's file deleted.
 * Returns the usage after the pass.
 */
export async function enforceRetention(
  dir: string,
  limits: AdmissionLimits,
  openBytes: number,
  reservedBytes: number,
  cached: SpoolUsage | undefined,
  now = Date.now(),
): Promise<SpoolUsage> {
  if (openBytes + reservedBytes > limits.maxTotalBytes) {
    throw new GkExportError<AdmissionSpoolErrorCode>(
      'ERR_ADMISSION_SPOOL_FULL',
      `the open admission segment and the new records (${openBytes + reservedBytes} bytes) exceed the spool limit of ${limits.maxTotalBytes} bytes`,
    );
  }
  const maxReadyBytes = limits.maxTotalBytes - openBytes - reservedBytes;
  const within = (u: SpoolUsage) =>
    u.count <= limits.maxSegments &&
    u.bytes <= maxReadyBytes &&
    (u.oldestMs === undefined || now - u.oldestMs <= limits.retainMs);
  if (cached && within(cached)) return cached;

  const ready = await scanReady(dir);
  const usage = (): SpoolUsage => ({
    count: ready.length,
    bytes: ready.reduce((a, s) => a + s.size, 0),
    oldestMs: ready[0]?.mtimeMs,
  });
  for (let removed = 0; !within(usage()); removed++) {
    const oldest = ready[0];
    if (!oldest || removed === MAX_REMOVALS_PER_PASS) {
      throw new GkExportError<AdmissionSpoolErrorCode>(
        'ERR_ADMISSION_SPOOL_FULL',
        `admission spool ${dir} is still above its limits after removing ${removed} segments`,
      );
    }
    if (!(await removeReadySegment(dir, oldest.name))) {
      throw new GkExportError<AdmissionSpoolErrorCode>(
        'ERR_ADMISSION_SPOOL_BUSY',
        `admission spool ${dir} is over its limits and its oldest segment ${oldest.name} is locked by a reader: the records are not written`,
      );
    }
    ready.shift();
  }
  return usage();
}

/**
 * Refuses a write that would leave less than `reserveBytes` free on the file system
 * (blocks available to this user, as Gatekeeper counts them).
 */
export async function ensureFreeSpace(
  dir: string,
  reserveBytes: number,
  recordBytes: number,
): Promise<void> {
  const st = await statfs(dir, { bigint: true });
  const available = st.bavail * st.bsize;
  const required = BigInt(reserveBytes) + BigInt(recordBytes);
  if (available < required) {
    throw new GkExportError<AdmissionSpoolErrorCode>(
      'ERR_ADMISSION_DISK_FULL',
      `not enough free disk for admission records in ${dir}: ${available} bytes available, ${required} required (${reserveBytes} kept free)`,
    );
  }
}
