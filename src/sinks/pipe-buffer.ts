import { libcFunction } from '../libc.ts';

const F_SETPIPE_SZ = 1031;
const F_GETPIPE_SZ = 1032;

/** The pipe buffer the reader asks for on its stdout (Linux's unprivileged maximum). */
export const STDOUT_PIPE_BYTES = 1024 * 1024;

type Fcntl = (fd: number, cmd: number, ...args: unknown[]) => number;

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
  const f = libcFunction<Fcntl>('int fcntl(int fd, int cmd, ...)');
  if (!('fn' in f)) return undefined;
  const fn = f.fn;
  const size = fn(fd, F_GETPIPE_SZ);
  if (size < 0) return undefined;
  if (size >= bytes) return size;
  const set = fn(fd, F_SETPIPE_SZ, 'int', bytes);
  return set < 0 ? size : set;
}
