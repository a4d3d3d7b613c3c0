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
