import { writeSync } from 'node:fs';

/** Log levels accepted by `--log-level`. */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Formats of the operational log (`--log-format`): JSON lines, or one line for a person. */
export const LOG_FORMATS = ['json', 'text'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** Where a logger's lines go: each call gets one whole JSON line, newline included. */
export interface LogDestination {
  write(line: string): unknown;
}

/** One level's method: fields first (optional), then the message. */
export interface LogFn {
  (fields: object | null | undefined, msg?: string): void;
  (msg: string): void;
}

/**
 * The operational logger: `trace` … `fatal`, and `child(bindings)` for a logger whose lines
 * all carry `bindings`. Its JSON lines are pino's (level label, ISO time, `name`, bindings,
 * fields, `msg`), so collectors and tests that read them are unchanged.
 */
export interface Logger {
  readonly level: LogLevel;
  readonly trace: LogFn;
  readonly debug: LogFn;
  readonly info: LogFn;
  readonly warn: LogFn;
  readonly error: LogFn;
  readonly fatal: LogFn;
  isLevelEnabled(level: LogLevel): boolean;
  child(bindings: Record<string, unknown>): Logger;
}

const LEVEL_VALUES: Record<LogLevel, number> = {
  trace: 10,
  debug: 20,
  info: 30,
  warn: 40,
  error: 50,
  fatal: 60,
  silent: Infinity,
};

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
let stderrDestination: (() => LogDestination) | undefined;

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
 * Writes to fd 2 synchronously, so that a line logged just before the process exits (a FATAL,
 * a shutdown) is never lost in a buffer. A non-blocking pipe that is full is waited for.
 */
const stderrFd: LogDestination = {
  write(line: string) {
    let buf = Buffer.from(line);
    while (buf.length > 0) {
      try {
        buf = buf.subarray(writeSync(2, buf));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') return;
        // The pipe is full (its reader is slow): wait a little without spinning.
        Atomics.wait(pause, 0, 0, 10);
      }
    }
  },
};
const pause = new Int32Array(new SharedArrayBuffer(4));

/** Whether `v` is an Error, or looks like one (pino serializes both alike). */
const isErrorLike = (v: unknown): v is Error =>
  typeof v === 'object' && v !== null && typeof (v as { message?: unknown }).message === 'string';

/**
 * An Error as pino's standard serializer writes it: `type`, `message` and `stack` (each with its
 * causes), then its own enumerable fields (a `code`, …).
 */
function serializeError(err: Error, seen = new Set<unknown>()): Record<string, unknown> {
  seen.add(err);
  const out: Record<string, unknown> = {
    type: typeof err.constructor === 'function' ? err.constructor.name : err.name,
  };
  let message = err.message;
  let stack = err.stack ?? '';
  for (let c: unknown = err.cause, depth = 0; isErrorLike(c) && depth < 8; c = c.cause) {
    message += `: ${c.message}`;
    stack += `\ncaused by: ${c.stack ?? ''}`;
    depth += 1;
  }
  out.message = message;
  out.stack = stack;
  if (Array.isArray((err as { errors?: unknown }).errors)) {
    out.aggregateErrors = (err as AggregateError).errors.map((e: unknown) =>
      isErrorLike(e) ? serializeError(e, seen) : e,
    );
  }
  for (const key in err) {
    if (key in out || key === 'cause') continue;
    const v = (err as unknown as Record<string, unknown>)[key];
    out[key] = isErrorLike(v) && !seen.has(v) ? serializeError(v, seen) : v;
  }
  return out;
}

/** A value as JSON; an object that refers to itself is written with `"[Circular]"` there. */
function json(v: unknown): string | undefined {
  try {
    return JSON.stringify(v);
  } catch {
    const seen = new WeakSet<object>();
    return JSON.stringify(v, (_k, x: unknown) => {
      if (typeof x === 'bigint') return x.toString();
      if (typeof x !== 'object' || x === null) return x;
      if (seen.has(x)) return '[Circular]';
      seen.add(x);
      return x;
    });
  }
}

/** `,"key":value` for each field that has a value, in the object's own order. */
function fieldsJson(fields: object): string {
  let s = '';
  for (const key in fields) {
    if (!Object.prototype.hasOwnProperty.call(fields, key)) continue;
    let v = (fields as Record<string, unknown>)[key];
    if (v === undefined || typeof v === 'function') continue;
    if (v instanceof Error || (key === 'err' && isErrorLike(v))) v = serializeError(v as Error);
    const value = json(v);
    if (value !== undefined) s += `,${JSON.stringify(key)}:${value}`;
  }
  return s;
}

function makeLogger(level: LogLevel, bindings: string, out: LogDestination): Logger {
  const threshold = LEVEL_VALUES[level];
  const method = (label: Exclude<LogLevel, 'silent'>): LogFn => {
    if (LEVEL_VALUES[label] < threshold) return () => undefined;
    const head = `{"level":"${label}","time":"`;
    return (first: object | string | null | undefined, second?: string) => {
      let fields: object | undefined;
      let msg: string | undefined;
      if (typeof first === 'string') {
        msg = first;
      } else if (first instanceof Error) {
        // pino's shape: an Error alone is the `err` field, its message the message.
        fields = { err: first };
        msg = second ?? first.message;
      } else {
        fields = first ?? undefined;
        msg = second;
        const err = (fields as { err?: unknown; msg?: unknown } | undefined)?.err;
        if (
          msg === undefined &&
          isErrorLike(err) &&
          (fields as { msg?: unknown }).msg === undefined
        )
          msg = err.message;
      }
      let line = `${head}${new Date().toISOString()}"${bindings}`;
      if (fields) line += fieldsJson(fields);
      if (msg !== undefined) line += `,"msg":${JSON.stringify(String(msg))}`;
      out.write(`${line}}\n`);
    };
  };
  return {
    level,
    trace: method('trace'),
    debug: method('debug'),
    info: method('info'),
    warn: method('warn'),
    error: method('error'),
    fatal: method('fatal'),
    isLevelEnabled: (l) => LEVEL_VALUES[l] >= threshold && threshold !== Infinity,
    child: (more) => makeLogger(level, bindings + fieldsJson(more), out),
  };
}

/**
 * The operational logger: JSON lines on stderr (stdout belongs to the records), written
 * synchronously, or the text lines chosen by {@link setLogFormat}. ERROR means data was lost or
 * an operator must act. Built in rather than pino: the same lines, without pino's ~30 modules
 * (and its worker-thread transport) resident in every sidecar.
 *
 * @example
 * ```ts
 * const log = createLogger({ level: 'info' });
 * log.warn({ file, line }, 'invalid line');
 * log.child({ sink: 'webhook' }).error({ err }, 'request failed');
 * ```
 */
export function createLogger(
  opts: { level?: LogLevel; destination?: LogDestination } = {},
): Logger {
  const out = opts.destination ?? stderrDestination?.() ?? stderrFd;
  return makeLogger(opts.level ?? 'info', ',"name":"gk-export"', out);
}
