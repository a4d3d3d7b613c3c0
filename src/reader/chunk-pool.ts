/**
 * Read buffers that go back into use once nothing points into them any more.
 *
 * The line readers read a file in chunks of about 512 KiB; the lines they hand out are views of
 * a chunk, kept by the batch until the sink has acknowledged it. Left to the garbage
 * collector, a chunk is freed only when a collection finds it dead, and a chunk whose batch
 * lived through a young-generation collection waits for a full one: through a backlog, tens
 * of MiB of spent chunks piled up. Here a chunk counts its holders (the reader that reads into
 * it, and each batch with lines in it) and returns to a small free list when the last one lets
 * go, so a backlog streams through a few chunks, reused while their pages are still mapped.
 * A holder that never lets go (a batch whose delivery failed) only means its chunk is left to
 * the garbage collector, as before: nothing is reused while it may still be read.
 */

interface Chunk {
  /** The chunk itself (as taken), what goes back on the free list. */
  readonly buf: Buffer;
  holds: number;
}

/** Chunks' holder counts, by their memory (a chunk nobody releases is simply collected). */
const chunks = new WeakMap<ArrayBufferLike, Chunk>();
/** Free chunks by size, most recently freed last. */
const free = new Map<number, Buffer[]>();
/** At most this many free chunks of one size are kept. */
const MAX_FREE = 4;
/** Free chunks unused for this long are left to the garbage collector (an idle reader). */
const KEEP_FREE_MS = 1000;
let sweep: NodeJS.Timeout | undefined;

/**
 * A chunk of `size` bytes, held once by the caller: a free one, or a new one.
 *
 * @example
 * ```ts
 * const buf = takeChunk(1 << 20); // … read into it, hand out views …
 * dropChunk(buf);
 * ```
 */
export function takeChunk(size: number): Buffer {
  const buf = free.get(size)?.pop() ?? Buffer.allocUnsafeSlow(size);
  chunks.set(buf.buffer, { buf, holds: 1 });
  return buf;
}

/** Lets go of one hold on the chunk that `view` lies in (a no-op for any other buffer). */
export function dropChunk(view: Buffer): void {
  const c = chunks.get(view.buffer);
  if (!c || c.holds <= 0) return;
  c.holds -= 1;
  if (c.holds > 0) return;
  chunks.delete(view.buffer);
  const list = free.get(c.buf.length) ?? [];
  if (list.length >= MAX_FREE) return;
  list.push(c.buf);
  free.set(c.buf.length, list);
  sweep ??= setTimeout(() => {
    sweep = undefined;
    free.clear();
  }, KEEP_FREE_MS).unref();
  sweep.refresh();
}

/**
 * Holds the chunk that `view` lies in once more; returns false for a buffer that is not a held
 * chunk (nothing to hold).
 */
export function holdChunk(view: Buffer): boolean {
  const c = chunks.get(view.buffer);
  if (!c || c.holds <= 0) return false;
  c.holds += 1;
  return true;
}

/** How many chunks of `size` bytes wait on the free list (for tests). */
export function freeChunks(size: number): number {
  return free.get(size)?.length ?? 0;
}
