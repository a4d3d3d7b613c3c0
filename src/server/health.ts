import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { Metrics } from '../telemetry/index.ts';

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
 * older than `stuckAfterMs`, the process is wedged (a liveness probe then restarts it).
 *
 * @example
 * ```ts
 * const live = livenessCheck(); live.alive(); live.stop();
 * ```
 */
export function livenessCheck(stuckAfterMs = 10_000) {
  let last = Date.now();
  const timer = setInterval(() => (last = Date.now()), 1000);
  timer.unref();
  const delay = monitorEventLoopDelay({ resolution: 20 });
  delay.enable();
  return {
    alive: () => Date.now() - last < stuckAfterMs,
    /** 99th percentile event-loop delay in ms, for the health body. */
    p99DelayMs: () => delay.percentile(99) / 1e6,
    stop: () => {
      clearInterval(timer);
      delay.disable();
    },
  };
}
