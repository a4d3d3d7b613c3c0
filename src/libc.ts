import koffi from 'koffi';

// Linux glibc first, then musl (Alpine) names.
const LIBC_NAMES = ['libc.so.6', 'libc.musl-x86_64.so.1', 'libc.musl-aarch64.so.1', 'libc.so'];

let libc: ReturnType<typeof koffi.load> | undefined;
/** Why no libc could be loaded (set once it was tried and failed). */
let loadError: string | undefined;

/**
 * A function of the C library by its C prototype, e.g. `'int flock(int fd, int operation)'`:
 * `{ fn }`, or `{ error }` saying why not (no libc could be loaded, or it has no such function,
 * as musl has no `malloc_trim`). The library is loaded once.
 *
 * @example
 * ```ts
 * const f = libcFunction<(fd: number, op: number) => number>('int flock(int fd, int operation)');
 * if ('fn' in f) f.fn(fd, 2);
 * ```
 */
export function libcFunction<F>(prototype: string): { fn: F } | { error: string } {
  if (!libc && loadError === undefined) {
    const reasons: string[] = [];
    for (const name of LIBC_NAMES) {
      try {
        libc = koffi.load(name);
        break;
      } catch (err) {
        reasons.push(`${name}: ${(err as Error).message}`);
      }
    }
    if (!libc) loadError = `libc could not be loaded (${reasons.join('; ')})`;
  }
  if (!libc) return { error: loadError! };
  try {
    return { fn: libc.func(prototype) as F };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

/** The `errno` of the last C call on this thread. */
export const libcErrno = (): number => koffi.errno();
