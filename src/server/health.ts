import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import type { Metrics } from '../telemetry/index.ts';
import { monotonicMs } from '../telemetry/clock.ts';

/** The answer of a readiness check. */
export interface Readiness {
  readonly ready: boolean;
  readonly reasons: string[];
}

/**
 * Readiness of the reader: the root is readable (or not there yet, which is normal before
 * the first audit) and the reader can list it, the state dir writable, no sink stopped on a
 * permanent error, and no record held up because the dead-letter file cannot be written.
 *
 * @example
 * ```ts
 * const check = readinessCheck({ root, stateDir, metrics });
 * await check(); // { ready: true, reasons: [] }
 * ```
 */
export function readinessCheck(opts: { root: string; stateDir: string; metrics: Metrics }) {
  return async (): Promise<Readiness> => {
    const reasons: string[] = [];
    // The reader's own listing counts (EMFILE, or a root that access() would pass as root).
    const unlisted = (await opts.metrics.rootUnreadable.get()).values.some((v) => v.value > 0);
    try {
      await access(opts.root, constants.R_OK | constants.X_OK);
      if (unlisted) reasons.push(`root ${opts.root} cannot be listed`);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || unlisted)
        reasons.push(`root ${opts.root} is not readable`);
    }
    try {
      await access(opts.stateDir, constants.W_OK);
    } catch {
      reasons.push(`state dir ${opts.stateDir} is not writable`);
    }
    const failing = (await opts.metrics.sinkPermanentFailure.get()).values.filter(
      (v) => v.value > 0,
    );
    for (const f of failing)
      reasons.push(`sink ${String(f.labels.sink)} stopped on a permanent error`);
    const blocked = (await opts.metrics.deadLetterBlocked.get()).values[0]?.value ?? 0;
    if (blocked > 0) {
      reasons.push(
        `dead-letter file cannot be written: ${blocked} record(s) wait to be set aside, delivery stops there`,
      );
    }
    return { ready: reasons.length === 0, reasons };
  };
}

/**
 * Liveness: the event loop is not stuck. A timer ticks every second; if its last tick is
 * older than `stuckAfterMs`, the process is wedged (a liveness probe then restarts it). How
 * late each tick fired is the event loop's delay: `p99DelayMs` is the 99th percentile of the
 * last five minutes' ticks. (Not `perf_hooks.monitorEventLoopDelay`: its timer woke the idle
 * reader 50 times a second, and `perf_hooks` took 0.2 MiB more of every reader serving metrics.)
 * The clock is monotonic: a step of the wall clock is neither a stuck loop nor a delay.
 *
 * @example
 * ```ts
 * const live = livenessCheck(); live.alive(); live.p99DelayMs(); live.stop();
 * ```
 */
export function livenessCheck(stuckAfterMs = 10_000, now: () => number = monotonicMs) {
  let last = now();
  const late = new Float64Array(DELAY_SAMPLES);
  let ticks = 0;
  const timer = setInterval(() => {
    const t = now();
    late[ticks++ % DELAY_SAMPLES] = Math.max(0, t - last - TICK_MS);
    last = t;
  }, TICK_MS);
  timer.unref();
  return {
    alive: () => now() - last < stuckAfterMs,
    /** 99th percentile of how late the last five minutes' ticks fired, in ms (0 before any). */
    p99DelayMs: (): number => {
      const sorted = late.slice(0, Math.min(ticks, DELAY_SAMPLES)).sort();
      return sorted.length === 0 ? 0 : sorted[Math.floor(0.99 * (sorted.length - 1))]!;
    },
    stop: () => clearInterval(timer),
  };
}

const TICK_MS = 1000;
/** Five minutes of ticks. */
const DELAY_SAMPLES = 300;
