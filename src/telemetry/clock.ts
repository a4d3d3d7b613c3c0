/**
 * Milliseconds on the monotonic clock, for durations and intervals. `performance.now()` would
 * do the same, but the first use of the `performance` global loads `perf_hooks` and its
 * observers into every reader (resident memory for a clock).
 *
 * @example
 * ```ts
 * const t0 = monotonicMs();
 * await work();
 * const tookMs = monotonicMs() - t0;
 * ```
 */
export function monotonicMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}
