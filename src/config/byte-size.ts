import { invalidSetting } from './parsers.ts';

const UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1000,
  kb: 1000,
  kib: 1024,
  m: 1000 ** 2,
  mb: 1000 ** 2,
  mib: 1024 ** 2,
  g: 1000 ** 3,
  gb: 1000 ** 3,
  gib: 1024 ** 3,
};

/**
 * Parses a byte size: a positive number with an optional unit (`B`, `KB`/`KiB`, `MB`/`MiB`,
 * `GB`/`GiB`, case-insensitive), rounded to whole bytes. Throws ERR_INVALID_SETTING otherwise.
 *
 * @example
 * ```ts
 * parseByteSize('2MiB'); // 2097152
 * parseByteSize('500');  // 500
 * ```
 */
export function parseByteSize(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  const unit = m ? UNITS[m[2]!.toLowerCase()] : undefined;
  const value = m && unit !== undefined ? Math.round(Number(m[1]) * unit) : NaN;
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw invalidSetting(
      'use a positive number with an optional unit B, KB, KiB, MB, MiB, GB or GiB (e.g. 2MiB)',
    );
  }
  return value;
}

/**
 * A byte count as help shows it: the largest binary unit that divides it exactly.
 *
 * @example
 * ```ts
 * formatByteSize(2 * 1024 * 1024); // '2MiB'
 * formatByteSize(1500);            // '1500B'
 * ```
 */
export function formatByteSize(bytes: number): string {
  for (const [unit, size] of [
    ['GiB', 1024 ** 3],
    ['MiB', 1024 ** 2],
    ['KiB', 1024],
  ] as const) {
    if (bytes > 0 && bytes % size === 0) return `${bytes / size}${unit}`;
  }
  return `${bytes}B`;
}
