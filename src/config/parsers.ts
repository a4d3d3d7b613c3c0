import { resolve } from 'node:path';
import { GkExportError } from '../errors.ts';

/**
 * A pure parser of one setting's text: returns the value, or throws ERR_INVALID_SETTING whose
 * message says what is allowed (not which setting, nor the value: the caller — commander, or
 * a config file loader — names those, see {@link parseSetting}).
 */
export type Parser<T> = (text: string) => T;

/**
 * The error a parser throws: `reason` says what is allowed.
 *
 * @example
 * ```ts
 * throw invalidSetting('use a whole number from 0 to 5');
 * ```
 */
export function invalidSetting(reason: string): GkExportError<'ERR_INVALID_SETTING'> {
  return new GkExportError('ERR_INVALID_SETTING', reason);
}

/**
 * Parses `text` as the setting `name` (a flag, a variable, a key path such as `sinks[1].url`):
 * the parser's error becomes one line naming the setting, the value and what is allowed.
 *
 * @example
 * ```ts
 * parseSetting('maxAuditResults', '9', integer(0, 5));
 * // throws ERR_INVALID_SETTING: maxAuditResults "9" is not allowed: use a whole number from 0 to 5
 * ```
 */
export function parseSetting<T>(name: string, text: string, parse: Parser<T>): T {
  try {
    return parse(text);
  } catch (err) {
    if (!(err instanceof GkExportError) || err.code !== 'ERR_INVALID_SETTING') throw err;
    throw new GkExportError(
      'ERR_INVALID_SETTING',
      `${name} ${JSON.stringify(text)} is not allowed: ${err.message}`,
      { cause: err },
    );
  }
}

/**
 * A whole number from `min` to `max` (no `max`: any size); `hint` explains a special value.
 *
 * @example
 * ```ts
 * integer(0, 5)('3');                      // 3
 * integer(0, undefined, '0 = unlimited');  // "use a whole number 0 or more (0 = unlimited)" on error
 * ```
 */
export function integer(min: number, max?: number, hint?: string): Parser<number> {
  const range = max === undefined ? `${min} or more` : `from ${min} to ${max}`;
  const reason = `use a whole number ${range}${hint ? ` (${hint})` : ''}`;
  return (text) => {
    const s = text.trim();
    const n = Number(s);
    if (!/^\d+$/.test(s) || !Number.isSafeInteger(n) || n < min || (max !== undefined && n > max)) {
      throw invalidSetting(reason);
    }
    return n;
  };
}

/**
 * One of `allowed`, exactly (case matters).
 *
 * @example
 * ```ts
 * oneOf(['raw', 'gatekeeper-log'] as const)('raw'); // 'raw'
 * ```
 */
export function oneOf<T extends string>(allowed: readonly T[]): Parser<T> {
  return (text) => {
    if (!(allowed as readonly string[]).includes(text)) {
      throw invalidSetting(`allowed: ${allowed.join(', ')}`);
    }
    return text as T;
  };
}

/**
 * A comma-separated list, each item trimmed and parsed by `item`; empty items are dropped.
 * `nonEmpty` refuses a list with no item at all.
 *
 * @example
 * ```ts
 * list(oneOf(['stdout', 'webhook'] as const))('stdout, webhook'); // ['stdout', 'webhook']
 * ```
 */
export function list<T>(item: Parser<T>, opts: { nonEmpty?: boolean } = {}): Parser<T[]> {
  return (text) => {
    const items = text
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s.length > 0)
      .map(item);
    if (opts.nonEmpty && items.length === 0) {
      throw invalidSetting('give one or more values, separated by commas');
    }
    return items;
  };
}

/** The words a boolean setting accepts (any case); anything else is refused. */
export const BOOL_WORDS = { true: ['true', '1', 'yes'], false: ['false', '0', 'no'] } as const;

/**
 * A boolean, strictly: `true`/`false`/`1`/`0`/`yes`/`no` in any case; anything else (an empty
 * value too) is refused, so no word is silently read as true.
 *
 * @example
 * ```ts
 * parseBoolean('FALSE'); // false
 * parseBoolean('on');    // throws ERR_INVALID_SETTING: allowed: true, false, 1, 0, yes, no (any case)
 * ```
 */
export function parseBoolean(text: string): boolean {
  const s = text.trim().toLowerCase();
  if ((BOOL_WORDS.true as readonly string[]).includes(s)) return true;
  if ((BOOL_WORDS.false as readonly string[]).includes(s)) return false;
  throw invalidSetting('allowed: true, false, 1, 0, yes, no (any case)');
}

/**
 * A file or directory path, made absolute (against the working directory).
 *
 * @example
 * ```ts
 * parsePath('topics'); // '/current/dir/topics'
 * ```
 */
export function parsePath(text: string): string {
  if (text.trim() === '') throw invalidSetting('give a file or directory path');
  return resolve(text);
}

/**
 * A `NAME=VALUE` pair (e.g. a request header); the name is trimmed, the value kept as is.
 *
 * @example
 * ```ts
 * parseKeyValue('X-Team=platform'); // ['X-Team', 'platform']
 * ```
 */
export function parseKeyValue(text: string): [string, string] {
  const eq = text.indexOf('=');
  if (eq <= 0) throw invalidSetting('use NAME=VALUE');
  return [text.slice(0, eq).trim(), text.slice(eq + 1)];
}
