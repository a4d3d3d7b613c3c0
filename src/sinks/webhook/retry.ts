/**
 * Exponential backoff with full jitter: a random delay in [0, min(cap, base·2^attempt)].
 *
 * @example
 * ```ts
 * backoffMs(3, 30_000); // somewhere in 0..800
 * ```
 */
export function backoffMs(
  attempt: number,
  capMs: number,
  random: () => number = Math.random,
  baseMs = 100,
): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * ceiling);
}

/**
 * A `Retry-After` header in ms (delta-seconds or an HTTP-date), capped; undefined when
 * absent or unreadable.
 *
 * @example
 * ```ts
 * retryAfterMs('2', 30_000); // 2000
 * ```
 */
export function retryAfterMs(
  header: string | string[] | undefined,
  capMs: number,
  now = Date.now(),
): number | undefined {
  const v = Array.isArray(header) ? header[0] : header;
  if (v === undefined || v.trim() === '') return undefined;
  if (/^\d+$/.test(v.trim())) return Math.min(capMs, Number(v.trim()) * 1000);
  const at = Date.parse(v);
  if (Number.isNaN(at)) return undefined;
  return Math.min(capMs, Math.max(0, at - now));
}

/** The retry counter's `status_class` label. */
export function statusClass(status: number | 'timeout' | 'network'): string {
  if (typeof status !== 'number') return status;
  return `${Math.floor(status / 100)}xx`;
}
