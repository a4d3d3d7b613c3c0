import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger };

/** Log levels accepted by `--log-level`. */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * The operational logger: pino JSON lines on stderr (stdout belongs to the records).
 * ERROR means data was lost or an operator must act.
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
  const destination = opts.destination ?? pino.destination({ dest: 2, sync: true });
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
