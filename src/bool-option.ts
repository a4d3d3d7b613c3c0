import { InvalidArgumentError, Option } from 'commander';

/** The words a boolean setting accepts (any case); anything else is refused. */
export const BOOL_WORDS = { true: ['true', '1', 'yes'], false: ['false', '0', 'no'] } as const;

/**
 * Parses a boolean setting strictly: `true`/`false`/`1`/`0`/`yes`/`no`, any case. Anything
 * else (an empty value included) throws commander's InvalidArgumentError, which commander
 * turns into one line naming the flag or environment variable, and the CLI into exit code 2.
 *
 * @example
 * ```ts
 * parseBool('FALSE'); // false
 * parseBool('on');    // throws: allowed: true, false, 1, 0, yes, no
 * ```
 */
export function parseBool(v: string | boolean): boolean {
  // A bare flag passes its preset (true) through the parser.
  if (typeof v === 'boolean') return v;
  const s = v.trim().toLowerCase();
  if ((BOOL_WORDS.true as readonly string[]).includes(s)) return true;
  if ((BOOL_WORDS.false as readonly string[]).includes(s)) return false;
  throw new InvalidArgumentError('allowed: true, false, 1, 0, yes, no (any case)');
}

/**
 * A boolean flag: `--flag` alone means true, `--flag=<bool>` and the environment variable
 * (when given) go through {@link parseBool}. Commander's own bare switches are not used for
 * settings: set from the environment they are true for any value, `false` included.
 *
 * @example
 * ```ts
 * command.addOption(boolOption('--poll', 'poll the volume', { env: 'GK_EXPORT_POLL', default: false }));
 * ```
 */
export function boolOption(
  flag: string,
  description: string,
  opts: { env?: string; default?: boolean } = {},
): Option {
  const o = new Option(`${flag} [bool]`, description).preset(true).argParser(parseBool);
  if (opts.env !== undefined) o.env(opts.env);
  if (opts.default !== undefined) o.default(opts.default);
  return o;
}
