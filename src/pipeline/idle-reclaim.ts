import { libcFunction } from '../libc.ts';

/** Nothing in flight for this long after a delivery: the reader is idle, its garbage is collected. */
const RECLAIM_AFTER_MS = 2000;

/**
 * Returns the memory of what was delivered once the reader goes idle (`busy()` at each batch,
 * `idle()` when nothing is in flight; `trim` runs after the GC). The read buffers of
 * batches that lived long enough to be promoted are freed only by a full GC, which V8 does not
 * run in a process that stops allocating: after a backlog the reader kept its peak RSS while
 * idle; and the young generation keeps the size its last burst grew it to (several MiB, even
 * after one small run). So one GC of everything it can free, which also shrinks the young
 * generation, is asked for once per idle period after any delivery (a pause of a few ms on a
 * heap this size, while nothing is in flight). Then the C heap's free memory goes back to the
 * kernel (`malloc_trim`): the read buffers live there, and glibc keeps what is freed below its
 * top for reuse: 2–3 MiB after a run of 10,000 lines (`npm run bench -- backlog`, part 3).
 */
export function idleReclaimer(trim: () => void = trimCHeap) {
  // A process run with --expose-gc has its own; else V8's is exposed when first needed.
  const gc = (globalThis as { gc?: GcFunction }).gc;
  let delivered = false;
  let timer: NodeJS.Timeout | undefined;
  return {
    busy(): void {
      delivered = true;
      activity.batches += 1;
      clearTimeout(timer);
      timer = undefined;
    },
    idle(): void {
      if (!delivered) return;
      clearTimeout(timer);
      timer = setTimeout(() => {
        delivered = false;
        void reclaim(trim, gc);
      }, RECLAIM_AFTER_MS);
      timer.unref();
    },
  };
}

/** Batches delivered so far (by every pipeline of the process), and the RSS the last reclaim left. */
const activity = { batches: 0, rssAfterReclaim: undefined as number | undefined };

/**
 * One GC of everything V8 can free, which also shrinks the young generation, then `trim`;
 * notes the RSS it leaves for `watchIdleGrowth`.
 */
async function reclaim(trim: () => void, gc: GcFunction | undefined): Promise<void> {
  // 'last-resort' is V8's GC under memory pressure: full GCs until nothing more is freed, then
  // the young generation is shrunk to its minimum (a 'regular' one keeps it).
  await Promise.resolve()
    .then(() => (gc ?? exposedGc())({ type: 'major', execution: 'async', flavor: 'last-resort' }))
    .catch(() => undefined);
  trim();
  activity.rssAfterReclaim = process.memoryUsage.rss();
}

/** How often an idle process's RSS is looked at, and by how much it may grow before a reclaim. */
export const GROWTH_CHECK_MS = 5000;
export const GROWTH_BYTES = 512 * 1024;

/**
 * Keeps an idle process near the size its last reclaim left. An idle reader still allocates (its
 * polls of the volume, and the probes and scrapes it answers: tens of KiB a second), and each
 * page of the young generation that this touches stays resident: 1.7 MiB more within a minute,
 * 2.1 MiB when probed and scraped, until the next delivery's reclaim. So a check every
 * `GROWTH_CHECK_MS` that follows one with no delivery in between, and finds the RSS
 * `GROWTH_BYTES` above the last reclaim's (or the first check's), asks for one more: 10–16 ms of
 * CPU, every 10–20 s.
 * Memory the process really keeps raises the mark instead of repeating the reclaim. For the
 * CLI's reader only: a library's host process manages its own heap.
 *
 * @example
 * ```ts
 * const watch = watchIdleGrowth();
 * watch.stop();
 * ```
 */
export function watchIdleGrowth(
  opts: {
    rss?: () => number;
    reclaim?: () => Promise<void>;
    every?: number;
    growth?: number;
  } = {},
) {
  const rss = opts.rss ?? (() => process.memoryUsage.rss());
  const gc = (globalThis as { gc?: GcFunction }).gc;
  const reclaimNow = opts.reclaim ?? (() => reclaim(trimCHeap, gc));
  const growth = opts.growth ?? GROWTH_BYTES;
  /** The batch count at the last check: a check that sees it unchanged follows an idle interval. */
  let batchesSeen = activity.batches;
  let running = false;
  const check = async (): Promise<boolean> => {
    const delivered = activity.batches !== batchesSeen;
    batchesSeen = activity.batches;
    if (running || delivered) return false;
    const size = rss();
    const mark = (activity.rssAfterReclaim ??= size);
    if (size - mark < growth) return false;
    running = true;
    try {
      await reclaimNow();
      activity.rssAfterReclaim = rss();
    } finally {
      running = false;
    }
    return true;
  };
  const timer = setInterval(() => void check(), opts.every ?? GROWTH_CHECK_MS);
  timer.unref();
  return {
    /** One check now (what the timer does): whether it reclaimed. */
    check,
    stop: () => clearInterval(timer),
  };
}

/**
 * Forgets the deliveries and reclaims seen so far (for tests).
 *
 * @example
 * ```ts
 * resetIdleActivity();
 * ```
 */
export function resetIdleActivity(rssAfterReclaim?: number): void {
  activity.batches = 0;
  activity.rssAfterReclaim = rssAfterReclaim;
}

type GcFunction = (opts: object) => Promise<void> | void;

let exposed: GcFunction | undefined;

/**
 * V8's `gc()`, exposed at the first call. Not by `--expose-gc` on the command line: that flag
 * changes V8's flag hash, so the code cache built into `node` for its own modules no longer
 * matches, and each one loaded after Node's start-up snapshot was compiled from source (about
 * 9 ms of the reader's 100-ms start-up). Set now, the flag gives a new context its `gc`.
 *
 * @example
 * ```ts
 * await exposedGc()({ type: 'major', execution: 'async' });
 * ```
 */
export function exposedGc(): GcFunction {
  if (!exposed) {
    process.getBuiltinModule('node:v8').setFlagsFromString('--expose-gc');
    exposed = process.getBuiltinModule('node:vm').runInNewContext('gc') as GcFunction;
  }
  return exposed;
}

/** glibc's `malloc_trim(0)`, loaded at its first use (undefined: not yet; null: none, as on musl). */
let mallocTrim: ((pad: number) => number) | null | undefined;

/**
 * Gives the free memory of the C heap back to the kernel (glibc's `malloc_trim(0)`; a no-op
 * where there is none, as on musl). Returns whether any was given back.
 *
 * @example
 * ```ts
 * trimCHeap(); // after a full GC freed the read buffers
 * ```
 */
export function trimCHeap(): boolean {
  if (mallocTrim === undefined) {
    const f = libcFunction<(pad: number) => number>('int malloc_trim(size_t pad)');
    mallocTrim = 'fn' in f ? f.fn : null;
  }
  return mallocTrim ? mallocTrim(0) === 1 : false;
}
