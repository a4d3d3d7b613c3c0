import koffi from 'koffi';

const F_SETPIPE_SZ = 1031;
const F_GETPIPE_SZ = 1032;
// Linux glibc first, then musl (Alpine) names (as src/protocol/flock.ts).
const LIBC_NAMES = ['libc.so.6', 'libc.musl-x86_64.so.1', 'libc.musl-aarch64.so.1', 'libc.so'];

/** The pipe buffer the reader asks for on its stdout (Linux's unprivileged maximum). */
export const STDOUT_PIPE_BYTES = 1024 * 1024;

type Fcntl = (fd: number, cmd: number, ...args: unknown[]) => number;

function fcntl(): Fcntl | undefined {
  for (const name of LIBC_NAMES) {
    try {
      return koffi.load(name).func('int fcntl(int fd, int cmd, ...)') as Fcntl;
    } catch {
      // try the next name
    }
  }
  return undefined;
}

/**
 * Asks the kernel for a larger buffer on `fd` when it is a pipe or FIFO (a container's stdout
 * is one, read by the runtime): 64 KiB by default. The event loop writes to a pipe only between
 * two tasks, so while a batch is checked the pipe drains and then waits; a buffer that holds a
 * batch or more keeps the reader of the pipe busy meanwhile. Best effort: anything else (a
 * file, a socket, a terminal, a limit) leaves it as it is. Returns the buffer size, or
 * undefined when `fd` is not a pipe.
 *
 * @example
 * ```ts
 * enlargePipeBuffer(1, STDOUT_PIPE_BYTES); // 1048576 when stdout is a pipe
 * ```
 */
export function enlargePipeBuffer(fd: number, bytes: number): number | undefined {
  const fn = fcntl();
  if (!fn) return undefined;
  const size = fn(fd, F_GETPIPE_SZ);
  if (size < 0) return undefined;
  if (size >= bytes) return size;
  const set = fn(fd, F_SETPIPE_SZ, 'int', bytes);
  return set < 0 ? size : set;
}
