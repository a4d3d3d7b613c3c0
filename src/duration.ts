import { GkExportError } from './errors.ts';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * Parses a duration such as `500ms`, `5s`, `10m`, `1h` or `1m30s` into milliseconds
 * (a bare number is milliseconds). Throws ERR_INVALID_DURATION otherwise.
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
    throw new GkExportError(
      'ERR_INVALID_DURATION',
      `invalid duration ${JSON.stringify(text)}: use a number with a unit ms, s, m or h (e.g. 500ms, 10s, 10m, 1m30s)`,
    );
  }
  return Math.round(total);
}
