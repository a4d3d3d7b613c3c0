import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger };

/** Log levels accepted by `--log-level`. */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Formats of the operational log (`--log-format`): pino JSON lines, or one line for a person. */
export const LOG_FORMATS = ['json', 'text'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/**
 * The format used when none is given: text when stderr is a terminal (a person is reading),
 * JSON otherwise (a pod's log, a pipe, a file: a collector is reading).
 *
 * @example
 * ```ts
 * defaultLogFormat(process.stderr.isTTY === true); // 'text' in a terminal
 * ```
 */
export function defaultLogFormat(stderrIsTTY: boolean): LogFormat {
  return stderrIsTTY ? 'text' : 'json';
}

/** Where loggers without an explicit destination write; set once by the CLI. */
let stderrDestination: (() => DestinationStream) | undefined;

/**
 * Chooses the format of every logger created afterwards without a `destination`. The text
 * formatter is imported only here, when asked for: a sidecar logging JSON never loads it.
 *
 * @example
 * ```ts
 * await setLogFormat(opts.logFormat ?? defaultLogFormat(process.stderr.isTTY === true));
 * ```
 */
export async function setLogFormat(format: LogFormat): Promise<void> {
  if (format === 'json') {
    stderrDestination = undefined;
    return;
  }
  const { textDestination } = await import('./text-format.ts');
  // Colour only for a terminal: forced text into a pipe or file stays plain.
  const colors = process.stderr.isTTY === true && !process.env.NO_COLOR;
  stderrDestination = () => textDestination(process.stderr, { colors });
}

/**
 * The operational logger: pino JSON lines on stderr (stdout belongs to the records), or the
 * text lines chosen by {@link setLogFormat}. ERROR means data was lost or an operator must act.
 *
 * @example
 * ```ts
 * const log = createLogger({ level: 'info' });
 * log.warn({ file, line }, 'invalid line');
 * ```
 */
export function createLogger(
  opts: { level?: LogLevel; destination?: DestinationStream } = {},
): Logger {
  const destination =
    opts.destination ?? stderrDestination?.() ?? pino.destination({ dest: 2, sync: true });
  return pino(
    {
      level: opts.level ?? 'info',
      base: { name: 'gk-export' },
      formatters: { level: (label) => ({ level: label }) },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}
