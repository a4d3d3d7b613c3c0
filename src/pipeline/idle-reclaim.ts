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
  const global = (globalThis as { gc?: GcFunction }).gc;
  let delivered = false;
  let timer: NodeJS.Timeout | undefined;
  return {
    busy(): void {
      delivered = true;
      clearTimeout(timer);
      timer = undefined;
    },
    idle(): void {
      if (!delivered) return;
      clearTimeout(timer);
      timer = setTimeout(() => {
        delivered = false;
        // 'last-resort' is V8's GC under memory pressure: full GCs until nothing more is
        // freed, then the young generation is shrunk to its minimum (a 'regular' one keeps it).
        const gc = global ?? exposedGc();
        void Promise.resolve(gc({ type: 'major', execution: 'async', flavor: 'last-resort' }))
          .catch(() => undefined)
          .then(() => void trim());
      }, RECLAIM_AFTER_MS);
      timer.unref();
    },
  };
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
