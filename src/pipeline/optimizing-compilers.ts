/**
 * V8's optimizing compilers (Maglev, TurboFan) off until there is bulk to read.
 *
 * Their code is part of the `node` binary, and once a compiler has run, its pages stay resident
 * for the life of the process: about 6 MiB in every idle reader, while a run of a few hundred
 * violations gains nothing measurable from optimized code. So `gk-export` starts lean
 * (interpreter and baseline code only, each line checked in TypeScript), and turns the
 * compilers on, for good, at the first sign of bulk:
 * - a backlog of `BULK_BYTES` to read, known before its first batch (a large run, or many runs
 *   waiting in a channel, each counted `RUN_BYTES` more for what it costs beyond its lines);
 * - `BULK_BYTES` read within `BULK_WINDOW_MS` (a run growing fast);
 * - a process kept busy by its reading: half its time on a CPU over `BUSY_SAMPLE_MS` (what
 *   else is bulk; a CPU limit can keep the share lower, hence the two rules before).
 * The WebAssembly line check is used only then (compiling it is part of that cost). A reader
 * of small runs idles at ~54 MiB instead of ~61 (`npm run bench -- backlog`, part 3).
 *
 * V8 reads these two flags each time it considers tiering a function up, so changing them at
 * run time takes effect at once (`v8.setFlagsFromString`; the process also sets `--expose-gc`
 * that way, see idle-reclaim.ts). A library user's process is never made lean: only the CLI
 * calls `startLean()`.
 */

/** A backlog this large, or this much read within `BULK_WINDOW_MS`, is bulk. */
export const BULK_BYTES = 2 << 20;
export const BULK_WINDOW_MS = 10_000;
/**
 * What a waiting run counts in a backlog beyond its bytes: opening, checkpointing and deleting
 * it cost about what checking 64 KiB of lines does.
 */
export const RUN_BYTES = 64 << 10;
/** Busy: over at least this long, between reads, … */
export const BUSY_SAMPLE_MS = 500;
/** … the process spent at least this share of the time on a CPU. */
export const BUSY_SHARE = 0.5;

/** Why the compilers went on. */
export type BulkCause =
  | { readonly reason: 'backlog'; readonly bytes: number }
  | { readonly reason: 'read'; readonly bytes: number }
  | { readonly reason: 'busy'; readonly cpuShare: number };

export interface OptimizingCompilers {
  /** Turns the optimizing compilers off until bulk input (the CLI, at start; once). */
  startLean(): void;
  /** Whether optimized code is on: always, unless `startLean()` was called and no bulk came. */
  optimizing(): boolean;
  /**
   * `bytes` are known to be waiting to be read (a run's size past its checkpoint, and
   * `RUN_BYTES` for each run that waits). A no-op once optimizing: check that first when
   * `bytes` costs something to count.
   */
  noteBacklog(bytes: number): void;
  /** `bytes` were just read. */
  noteRead(bytes: number): void;
  /** `listener` is told once, when the compilers go on, and why. */
  onOptimizing(listener: (cause: BulkCause) => void): void;
}

/**
 * An `OptimizingCompilers` switch over `setFlags` (V8's), `now` (wall milliseconds) and
 * `cpuMs` (the process's CPU milliseconds so far). The process has one, `optimizingCompilers`;
 * tests build their own.
 *
 * @example
 * ```ts
 * const c = createOptimizingCompilers({ setFlags: (f) => flags.push(f) });
 * c.startLean(); // flags: --no-maglev, --no-turbofan
 * c.noteBacklog(64 << 20); // flags: --maglev, --turbofan; c.optimizing() === true
 * ```
 */
export function createOptimizingCompilers(
  opts: { setFlags?: (flag: string) => void; now?: () => number; cpuMs?: () => number } = {},
): OptimizingCompilers {
  const setFlags =
    opts.setFlags ?? ((flag) => process.getBuiltinModule('node:v8').setFlagsFromString(flag));
  const now = opts.now ?? Date.now;
  const cpuMs =
    opts.cpuMs ??
    (() => {
      const u = process.cpuUsage();
      return (u.user + u.system) / 1000;
    });
  let started = false;
  let lean = false;
  /**
   * The start of the busy sample, wall and CPU milliseconds: at the first read (start-up's own
   * CPU time, however long it takes on a loaded machine, is not reading).
   */
  let sampledAt: number | undefined;
  let sampledCpu = 0;
  /** Bytes read in the current window, and when it began. */
  let windowStart = 0;
  let windowBytes = 0;
  const listeners: ((cause: BulkCause) => void)[] = [];

  const turnOn = (cause: BulkCause) => {
    lean = false;
    setFlags('--maglev');
    setFlags('--turbofan');
    for (const listener of listeners.splice(0)) listener(cause);
  };

  return {
    startLean() {
      if (started) return;
      started = true;
      lean = true;
      setFlags('--no-maglev');
      setFlags('--no-turbofan');
    },
    optimizing: () => !lean,
    noteBacklog(bytes) {
      if (lean && bytes >= BULK_BYTES) turnOn({ reason: 'backlog', bytes });
    },
    noteRead(bytes) {
      if (!lean) return;
      const t = now();
      if (t - windowStart > BULK_WINDOW_MS) {
        windowStart = t;
        windowBytes = 0;
      }
      windowBytes += bytes;
      if (windowBytes >= BULK_BYTES) {
        turnOn({ reason: 'read', bytes: windowBytes });
        return;
      }
      if (sampledAt === undefined) {
        sampledAt = t;
        sampledCpu = cpuMs();
        return;
      }
      const wall = t - sampledAt;
      if (wall < BUSY_SAMPLE_MS) return;
      const cpu = cpuMs();
      const share = (cpu - sampledCpu) / wall;
      sampledAt = t;
      sampledCpu = cpu;
      // (A sample much longer than asked for spans quiet time between reads: not judged.)
      if (wall <= 2 * BUSY_SAMPLE_MS && share >= BUSY_SHARE) {
        turnOn({ reason: 'busy', cpuShare: Math.round(share * 100) / 100 });
      }
    },
    onOptimizing(listener) {
      if (lean) listeners.push(listener);
    },
  };
}

/** The process's switch. */
export const optimizingCompilers = createOptimizingCompilers();
