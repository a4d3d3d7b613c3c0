import { constants, existsSync } from 'node:fs';
import { lstat, open } from 'node:fs/promises';
import { errnoCode } from '../errors.ts';

/** Which directory a channel is: device and inode of a real directory. */
export interface DirIdentity {
  readonly dev: bigint;
  readonly ino: bigint;
}

/** Why a channel directory could not be entered. */
export type ChannelDirProblem = 'missing' | 'symlink' | 'not-a-directory' | 'replaced';

/** The outcome of {@link inChannelDir}. */
export type InChannelDir<T> =
  | { readonly ok: true; readonly value: T; readonly id: DirIdentity }
  | { readonly ok: false; readonly problem: ChannelDirProblem };

// Where the kernel names an open descriptor by path (Linux), every operation goes through the
// descriptor of the directory that was checked: a channel swapped for a symlink between the
// check and the operation cannot redirect it. Elsewhere the path is used right after the check.
const FD_DIR = existsSync('/proc/self/fd') ? '/proc/self/fd' : undefined;

function sameDir(a: DirIdentity, b: DirIdentity): boolean {
  return a.dev === b.dev && a.ino === b.ino;
}

/**
 * Runs `fn` inside the channel directory `dir` (a direct child of the export root), never
 * through a symlink: the directory is opened with `O_DIRECTORY | O_NOFOLLOW`, and `fn` gets a
 * path (`/proc/self/fd/N` on Linux) that resolves to exactly that open directory, so names
 * joined to it cannot escape the root even if the channel is replaced meanwhile. With
 * `expected`, the directory must still be that one (device + inode), else nothing runs.
 * Missing, symlinked, not-a-directory and replaced channels are results; other errors
 * (EACCES, EMFILE …) are thrown.
 *
 * @example
 * ```ts
 * const res = await inChannelDir(join(root, 'audit-channel'), ch.id, (base) => readdir(base));
 * if (!res.ok) console.log(res.problem); // 'symlink'
 * ```
 */
export async function inChannelDir<T>(
  dir: string,
  expected: DirIdentity | undefined,
  fn: (base: string, id: DirIdentity) => Promise<T>,
): Promise<InChannelDir<T>> {
  let fh;
  try {
    fh = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'ENOENT') return { ok: false, problem: 'missing' };
    if (code === 'ELOOP') return { ok: false, problem: 'symlink' };
    if (code === 'ENOTDIR') {
      // Linux says ENOTDIR for a symlink opened with O_DIRECTORY | O_NOFOLLOW, too.
      const st = await lstat(dir).catch(() => undefined);
      return { ok: false, problem: st?.isSymbolicLink() ? 'symlink' : 'not-a-directory' };
    }
    throw err;
  }
  try {
    const st = await fh.stat({ bigint: true });
    const id = { dev: st.dev, ino: st.ino };
    if (expected && !sameDir(id, expected)) return { ok: false, problem: 'replaced' };
    const base = FD_DIR ? `${FD_DIR}/${fh.fd}` : dir;
    return { ok: true, value: await fn(base, id), id };
  } finally {
    await fh.close();
  }
}
