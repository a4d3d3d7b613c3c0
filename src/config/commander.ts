import { InvalidArgumentError, Option } from 'commander';
import { isGkExportError } from '../errors.ts';
import { list, parseBoolean, type Parser } from './parsers.ts';

// The commander adapter of the pure parsers: a parser's ERR_INVALID_SETTING becomes commander's
// InvalidArgumentError, which commander prints as one line naming the flag (or variable) and
// the value, and the CLI turns into exit code 2.

/**
 * Turns a pure parser into a commander option parser.
 *
 * @example
 * ```ts
 * new Option('--timeout <duration>').argParser(optionParser(parseDuration));
 * ```
 */
export function optionParser<T>(parse: Parser<T>): (v: string) => T {
  return (v) => {
    try {
      return parse(v);
    } catch (err) {
      if (isGkExportError(err, 'ERR_INVALID_SETTING')) throw new InvalidArgumentError(err.message);
      throw err;
    }
  };
}

/**
 * A boolean option value: {@link parseBoolean} as commander's parser, and a bare flag's preset
 * (`true`) passed through.
 *
 * @example
 * ```ts
 * parseBool('FALSE'); // false
 * parseBool('on');    // throws commander's InvalidArgumentError: allowed: true, false, 1, 0, yes, no
 * ```
 */
export function parseBool(v: string | boolean): boolean {
  return typeof v === 'boolean' ? v : optionParser(parseBoolean)(v);
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

/**
 * An option with a value: its variable, its pure parser and its default (from the defaults
 * table), shown in help as `show` gives it (e.g. `formatDuration`).
 *
 * @example
 * ```ts
 * setting('--poll-interval <duration>', 'rescan period', {
 *   env: 'GK_EXPORT_POLL_INTERVAL',
 *   parse: parseDuration,
 *   default: DEFAULTS.reader.pollIntervalMs,
 *   show: formatDuration,
 * });
 * ```
 */
export function setting<T>(
  flags: string,
  description: string,
  spec: { env?: string; parse?: Parser<T>; default?: T; show?: string | ((v: T) => string) },
): Option {
  const o = new Option(flags, description);
  if (spec.env !== undefined) o.env(spec.env);
  if (spec.parse) o.argParser(optionParser(spec.parse));
  if (spec.default !== undefined) {
    const shown = typeof spec.show === 'function' ? spec.show(spec.default) : spec.show;
    o.default(spec.default, shown);
  }
  return o;
}

/**
 * A repeatable option: each use (and each comma-separated item of one use, or of the
 * variable) is parsed by `item` and appended; `unique` drops repeats, `nonEmpty` refuses an
 * empty value.
 *
 * @example
 * ```ts
 * listSetting('--sink <sink>', 'where records go', { env: 'GK_EXPORT_SINK', item: oneOf(SINKS), unique: true });
 * ```
 */
export function listSetting<T>(
  flags: string,
  description: string,
  spec: { env?: string; item: Parser<T>; unique?: boolean; nonEmpty?: boolean },
): Option {
  const parse = optionParser(list(spec.item, { nonEmpty: spec.nonEmpty }));
  const o = new Option(flags, description).argParser((v: string, prev: T[] | undefined) => {
    const all = [...(prev ?? []), ...parse(v)];
    return spec.unique ? [...new Set(all)] : all;
  });
  if (spec.env !== undefined) o.env(spec.env);
  return o;
}
