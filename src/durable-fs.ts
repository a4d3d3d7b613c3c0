import { closeSync, fsyncSync, openSync } from 'node:fs';
import { open } from 'node:fs/promises';

/**
 * fsync a directory so that a rename, create or unlink in it survives a crash.
 *
 * @example
 * ```ts
 * await rename(tmp, real);
 * await fsyncDir(dirname(real));
 * ```
 */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * `fsyncDir` without the thread pool: for a caller that writes a small file synchronously.
 *
 * @example
 * ```ts
 * renameSync(tmp, real);
 * fsyncDirSync(dirname(real));
 * ```
 */
export function fsyncDirSync(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
