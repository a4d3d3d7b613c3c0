import { createLogger, type Logger, type LogLevel } from './logger.ts';
import { createMetrics, type Metrics } from './metrics.ts';

export { InvalidCode, createMetrics, type Metrics } from './metrics.ts';
export {
  createLogger,
  defaultLogFormat,
  setLogFormat,
  LOG_FORMATS,
  LOG_LEVELS,
  type LogDestination,
  type LogFormat,
  type Logger,
  type LogLevel,
} from './logger.ts';

/** The logger and the metrics, handed to every component so each event both logs and counts. */
export interface Telemetry {
  readonly log: Logger;
  readonly metrics: Metrics;
}

/**
 * Creates a logger + metrics pair.
 *
 * @example
 * ```ts
 * const t = createTelemetry({ level: 'silent' });
 * ```
 */
export function createTelemetry(opts: { level?: LogLevel; defaults?: boolean } = {}): Telemetry {
  return { log: createLogger({ level: opts.level }), metrics: createMetrics(opts) };
}
