import { constants } from 'node:fs';
import { chmod, mkdir, open, type FileHandle } from 'node:fs/promises';
import { lockExclusive, unlock } from '../protocol/flock.ts';

/**
 * An append-only file of whole JSON lines, held under LOCK_EX: the part the audit run and the
 * admission segment share. Lines are buffered and written in one `write(2)` per flush, and a
 * flush only ever writes complete lines, so a crash leaves nothing but whole lines on disk.
 */
export interface LineFile {
  readonly path: string;
  /** Lines and bytes appended so far (buffered included). */
  readonly lines: number;
  readonly bytes: number;
  append(line: string): Promise<void>;
  flush(): Promise<void>;
  /** Flushes, fsyncs, unlocks and closes. */
  seal(): Promise<void>;
  /** Unlocks and closes without flushing. */
  drop(): Promise<void>;
}

/**
 * Creates the channel directory (0770, chmod'ed so the umask cannot narrow it), opens `path`
 * (`O_CREAT|O_WRONLY|O_APPEND`, 0666) and takes LOCK_EX, retrying with backoff.
 *
 * @example
 * ```ts
 * const f = await openLineFile(dir, join(dir, 'run.txt'), { lockTimeoutMs: 30_000, flushBytes: 65536 });
 * await f.append('{"id":"x"}'); await f.seal();
 * ```
 */
export async function openLineFile(
  dir: string,
  path: string,
  opts: { lockTimeoutMs: number; flushBytes: number },
): Promise<LineFile> {
  await mkdir(dir, { recursive: true, mode: 0o770 });
  await chmod(dir, 0o770);
  const fh: FileHandle = await open(
    path,
    constants.O_CREAT | constants.O_WRONLY | constants.O_APPEND,
    0o666,
  );
  try {
    await lockExclusive(fh.fd, { maxWaitMs: opts.lockTimeoutMs });
  } catch (err) {
    await fh.close();
    throw err;
  }
  let parts: string[] = [];
  let buffered = 0;
  let lines = 0;
  let bytes = 0;
  let closed = false;
  // Writes are serialised: callers may append without awaiting each other.
  let chain: Promise<void> = Promise.resolve();

  async function writeOut(): Promise<void> {
    if (parts.length === 0) return;
    const data = Buffer.from(parts.join(''));
    parts = [];
    buffered = 0;
    let off = 0;
    while (off < data.length) {
      const { bytesWritten } = await fh.write(data, off, data.length - off);
      off += bytesWritten;
    }
  }

  function enqueue(step: () => Promise<void>): Promise<void> {
    chain = chain.then(step);
    return chain;
  }

  return {
    path,
    get lines() {
      return lines;
    },
    get bytes() {
      return bytes;
    },
    append(line: string) {
      const text = line + '\n';
      parts.push(text);
      lines += 1;
      const n = Buffer.byteLength(text);
      buffered += n;
      bytes += n;
      return buffered >= opts.flushBytes ? enqueue(writeOut) : chain;
    },
    flush() {
      return enqueue(writeOut);
    },
    seal() {
      return enqueue(async () => {
        if (closed) return;
        await writeOut();
        await fh.sync();
        closed = true;
        unlock(fh.fd);
        await fh.close();
      });
    },
    drop() {
      return enqueue(async () => {
        if (closed) return;
        closed = true;
        parts = [];
        unlock(fh.fd);
        await fh.close();
      });
    },
  };
}
