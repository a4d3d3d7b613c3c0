import type { LogDestination } from './logger.ts';

const LEVEL_NAMES: Record<number, string> = {
  10: 'trace',
  20: 'debug',
  30: 'info',
  40: 'warn',
  50: 'error',
  60: 'fatal',
};

// SGR colour codes: ERROR and FATAL stand out, as they mean data loss or an operator's turn.
const LEVEL_COLORS: Record<string, string> = {
  trace: '90',
  debug: '36',
  info: '32',
  warn: '33',
  error: '31',
  fatal: '1;35',
};

/** Fields every record has and the line shows in its own place (or not at all). */
const OWN_PLACE = new Set(['level', 'time', 'msg', 'name', 'pid', 'hostname']);

function paint(colors: boolean, code: string, s: string): string {
  return colors ? `\x1b[${code}m${s}\x1b[0m` : s;
}

function valueText(v: unknown): string {
  if (typeof v === 'string') {
    // Bare when JSON would add nothing but the quotes (no escapes) and nothing splits it.
    const quoted = JSON.stringify(v);
    return v !== '' && quoted.length === v.length + 2 && !/[\s=]/.test(v) ? v : quoted;
  }
  if (typeof v === 'object' && v !== null && 'message' in v && 'type' in v) {
    // A serialized Error (pino's shape): its message is the part a person acts on.
    return JSON.stringify(String((v as { message: unknown }).message));
  }
  return JSON.stringify(v) ?? String(v);
}

/**
 * One log record as one line for a person: time, level, message, then `key=value` for every
 * other field (strings bare when they need no quotes, anything else as JSON).
 *
 * @example
 * ```ts
 * formatLogRecord({ level: 'info', time: '2026-01-01T10:00:00.000Z', msg: 'reader started', root: '/data' }, false);
 * // '10:00:00.000Z INFO  reader started root=/data'
 * ```
 */
export function formatLogRecord(rec: Record<string, unknown>, colors: boolean): string {
  const level =
    typeof rec.level === 'number' ? (LEVEL_NAMES[rec.level] ?? 'info') : String(rec.level);
  const time = typeof rec.time === 'string' ? rec.time.slice(rec.time.indexOf('T') + 1) : '';
  let line = `${paint(colors, '2', time)} ${paint(colors, LEVEL_COLORS[level] ?? '0', level.toUpperCase().padEnd(5))}`;
  if (rec.msg !== undefined) {
    // Escaped only when it must be (a control character): one record stays one line.
    const msg = String(rec.msg);
    const quoted = JSON.stringify(msg);
    line += ` ${quoted.length === msg.length + 2 ? msg : quoted.slice(1, -1)}`;
  }
  for (const [k, v] of Object.entries(rec)) {
    if (OWN_PLACE.has(k) || v === undefined) continue;
    line += ` ${paint(colors, '2', `${k}=`)}${valueText(v)}`;
  }
  return line;
}

/**
 * A log destination that turns each JSON line into {@link formatLogRecord}'s line on `out`.
 * A line that is not JSON is passed through as it is.
 *
 * @example
 * ```ts
 * const log = createLogger({ destination: textDestination(process.stderr, { colors: true }) });
 * ```
 */
export function textDestination(
  out: { write(s: string): unknown },
  opts: { colors: boolean },
): LogDestination {
  return {
    write(json: string) {
      let rec: unknown;
      try {
        rec = JSON.parse(json);
      } catch {
        out.write(json);
        return;
      }
      out.write(formatLogRecord(rec as Record<string, unknown>, opts.colors) + '\n');
    },
  };
}
