import { invalidSetting } from './parsers.ts';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * Parses a duration such as `500ms`, `5s`, `10m`, `1h` or `1m30s` into milliseconds
 * (a bare number is milliseconds). Throws ERR_INVALID_SETTING otherwise.
 *
 * @example
 * ```ts
 * parseDuration('10m'); // 600000
 * ```
 */
export function parseDuration(text: string): number {
  const s = text.trim();
  let total = 0;
  let matched = '';
  if (/^\d+$/.test(s)) return Number(s);
  for (const m of s.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) {
    total += Number(m[1]) * UNIT_MS[m[2]!]!;
    matched += m[0];
  }
  if (matched.length === 0 || matched !== s || !Number.isFinite(total)) {
    throw invalidSetting('use a number with a unit ms, s, m or h (e.g. 500ms, 10s, 10m, 1m30s)');
  }
  return Math.round(total);
}

/**
 * Milliseconds as help shows them: the largest unit that divides them exactly.
 *
 * @example
 * ```ts
 * formatDuration(600_000); // '10m'
 * formatDuration(1500);    // '1500ms'
 * ```
 */
export function formatDuration(ms: number): string {
  for (const [unit, size] of [
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ] as const) {
    if (ms > 0 && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}
