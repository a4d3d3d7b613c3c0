import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { chmod, lstat, mkdir, open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { fsyncDir } from '../durable-fs.ts';
import { errnoCode, GkExportError, type AdmissionSegmentErrorCode } from '../errors.ts';
import { tryLock, unlock } from '../protocol/flock.ts';
import { admissionSegmentStem } from '../protocol/names.ts';

/** One `admission-<ts>-<hex>.open` being written, under our LOCK_EX. */
export interface AdmissionSegment {
  readonly path: string;
  readonly openedAt: number;
  /** Bytes and records written so far. */
  bytes: number;
  records: number;
  /** Appends whole lines with one write(2); on a short write the file is cut back. */
  append(data: Buffer, records: number): Promise<void>;
  sync(): Promise<void>;
  /**
   * fsync, unlock, close, rename `.open` → `.log`, chmod 0660. Returns the `.log` path, or
   * undefined when the file was removed meanwhile (with its directory).
   */
  complete(): Promise<string | undefined>;
  /** Unlock, close and remove the file (an empty segment). */
  discard(): Promise<void>;
  /** Unlock and close, leaving the file for recovery. */
  abandon(): Promise<void>;
  /** True when the file was unlinked under us (its directory deleted, say). */
  unlinked(): Promise<boolean>;
}

// Wall-clock nanoseconds: Date.now() has milliseconds only; the monotonic clock supplies the
// rest and is re-anchored whenever the wall clock moves away from it by over a millisecond.
let anchor: bigint | undefined;
function epochNs(): bigint {
  const wall = BigInt(Date.now()) * 1_000_000n;
  const mono = process.hrtime.bigint();
  const drift = anchor === undefined ? 0n : anchor + mono - wall;
  if (anchor === undefined || drift > 1_000_000n || drift < -1_000_000n) anchor = wall - mono;
  return anchor + mono;
}

/**
 * The name (stem) of a new segment: now, as Gatekeeper formats it, and 8 random bytes.
 *
 * @example
 * ```ts
 * newAdmissionStem(); // 'admission-20260801T100000.123456789Z-0f1e2d3c4b5a6978'
 * ```
 */
export function newAdmissionStem(): string {
  return admissionSegmentStem(epochNs(), randomBytes(8).toString('hex'));
}

/**
 * Makes the channel directory as Gatekeeper does: created 0770, refused when it is a
 * symlink or not a directory, chmod'ed 0770 so the umask cannot narrow it.
 */
export async function ensureChannelDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o770 });
  const st = await lstat(dir);
  if (st.isSymbolicLink() || !st.isDirectory()) {
    throw new GkExportError<AdmissionSegmentErrorCode>(
      'ERR_ADMISSION_DIR',
      `admission channel path ${dir} is ${st.isSymbolicLink() ? 'a symlink' : 'not a directory'}: it must be a real directory`,
    );
  }
  await chmod(dir, 0o770);
}

const OPEN_FLAGS =
  constants.O_CREAT |
  constants.O_EXCL |
  constants.O_WRONLY |
  constants.O_APPEND |
  constants.O_NOFOLLOW;

/**
 * Creates a new segment: `O_CREAT|O_EXCL|O_WRONLY|O_APPEND|O_NOFOLLOW`, mode 0660, under a
 * random name (up to 8 tries), then takes LOCK_EX without blocking — a fresh file nobody
 * else can hold, so a refusal means something is wrong and the file is removed again.
 *
 * @example
 * ```ts
 * const seg = await openAdmissionSegment('/tmp/violations/topics/audit-channel');
 * await seg.append(Buffer.from(line + '\n'), 1); await seg.complete();
 * ```
 */
export async function openAdmissionSegment(dir: string): Promise<AdmissionSegment> {
  await ensureChannelDir(dir);
  let fh: FileHandle | undefined;
  let path = '';
  for (let i = 0; i < 8 && !fh; i++) {
    path = join(dir, `${newAdmissionStem()}.open`);
    try {
      fh = await open(path, OPEN_FLAGS, 0o660);
    } catch (err) {
      if (errnoCode(err) !== 'EEXIST') throw err;
    }
  }
  if (!fh) {
    throw new GkExportError<AdmissionSegmentErrorCode>(
      'ERR_ADMISSION_SEGMENT',
      `could not create a unique admission segment in ${dir} after 8 tries`,
    );
  }
  const file = fh;
  if (!tryLock(file.fd, 'ex')) {
    await file.close();
    await unlink(path).catch(() => undefined);
    throw new GkExportError<AdmissionSegmentErrorCode>(
      'ERR_ADMISSION_SEGMENT',
      `another process holds a lock on the new admission segment ${path}`,
    );
  }
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    unlock(file.fd);
    await file.close();
  };

  const seg: AdmissionSegment = {
    path,
    openedAt: Date.now(),
    bytes: 0,
    records: 0,
    async append(data, records) {
      let off = 0;
      try {
        while (off < data.length) {
          const { bytesWritten } = await file.write(data, off, data.length - off);
          if (bytesWritten === 0) throw new Error('short write');
          off += bytesWritten;
        }
      } catch (err) {
        // Back to the last whole line, as Gatekeeper's rollback does; if that fails too the
        // caller completes this segment through recovery, which keeps whole lines only.
        await file.truncate(seg.bytes);
        await file.sync();
        throw err;
      }
      seg.bytes += data.length;
      seg.records += records;
    },
    sync: () => file.sync(),
    async complete() {
      await file.sync();
      await close();
      const done = path.replace(/\.open$/, '.log');
      try {
        await rename(path, done);
      } catch (err) {
        // The channel directory was removed under us (its Connection was deleted or moved):
        // what was in it is gone with it, as Gatekeeper's own files are.
        if (errnoCode(err) === 'ENOENT') return undefined;
        throw err;
      }
      await chmod(done, 0o660);
      await fsyncDir(dir);
      return done;
    },
    async discard() {
      await close();
      await unlink(path).catch((err: unknown) => {
        if (errnoCode(err) !== 'ENOENT') throw err;
      });
    },
    abandon: close,
    async unlinked() {
      return (await file.stat()).nlink === 0;
    },
  };
  return seg;
}
