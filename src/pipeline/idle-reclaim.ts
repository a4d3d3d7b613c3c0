import { libcFunction } from '../libc.ts';
import { monotonicMs } from '../telemetry/clock.ts';

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
      activity.lastBusyAt = monotonicMs();
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

/** When a batch was last delivered (any pipeline of the process), and the RSS after the last reclaim. */
const activity = { lastBusyAt: -Infinity, rssAfterReclaim: undefined as number | undefined };

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
 * page of the young generation that this touches stays resident: 1.8 MiB more within a minute,
 * 3.3 MiB when probed and scraped, until the next delivery's reclaim. So every
 * `GROWTH_CHECK_MS` with no delivery in between, an RSS `GROWTH_BYTES` above the last reclaim's
 * (or the first check's) asks for one more: about 10 ms of CPU, every 10–15 s while probed.
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
    now?: () => number;
    reclaim?: () => Promise<void>;
    every?: number;
    growth?: number;
  } = {},
) {
  const rss = opts.rss ?? (() => process.memoryUsage.rss());
  const now = opts.now ?? monotonicMs;
  const gc = (globalThis as { gc?: GcFunction }).gc;
  const reclaimNow = opts.reclaim ?? (() => reclaim(trimCHeap, gc));
  const every = opts.every ?? GROWTH_CHECK_MS;
  const growth = opts.growth ?? GROWTH_BYTES;
  let running = false;
  const check = async (): Promise<boolean> => {
    if (running || now() - activity.lastBusyAt < every) return false;
    const mark = (activity.rssAfterReclaim ??= rss());
    if (rss() - mark < growth) return false;
    running = true;
    try {
      await reclaimNow();
      activity.rssAfterReclaim = rss();
    } finally {
      running = false;
    }
    return true;
  };
  const timer = setInterval(() => void check(), every);
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
  activity.lastBusyAt = -Infinity;
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
