import type { DeadLetter, SetAsideOptions } from '../dead-letter.ts';
import type { InvalidCode, Telemetry } from '../telemetry/index.ts';

/** A bad line or file, as the reader reports it. */
export interface InvalidInput {
  /** Path relative to the root (or the audit log path). */
  readonly file: string;
  /** 1-based line number; 0 for a whole file. */
  readonly line: number;
  readonly code: InvalidCode;
  readonly reason: string;
  /** The raw bytes (or an excerpt); omitted for a whole file. */
  readonly bytes?: Buffer;
  /** Where it was found (the `stage` label of the dead-letter counter); default `read`. */
  readonly stage?: string;
}

/**
 * Reports bad input the one way the reader does it: for a line, an entry in the dead-letter
 * file first; then a WARN line naming file and line and a counter by error code. A line that
 * cannot be set aside is not reported as set aside: with `setAside.signal` the call waits
 * (retrying) until it is, otherwise it throws `ERR_DEAD_LETTER_WRITE`; either way the caller
 * must not acknowledge anything past it.
 *
 * @example
 * ```ts
 * await reportInvalid(ctx, { file: 'c/r.log', line: 7, code: 'invalid_json', reason: 'Unexpected token', bytes }, { signal });
 * ```
 */
export async function reportInvalid(
  ctx: { telemetry: Telemetry; deadLetter: DeadLetter },
  bad: InvalidInput,
  setAside?: SetAsideOptions,
): Promise<void> {
  const { log, metrics } = ctx.telemetry;
  if (bad.bytes) {
    await ctx.deadLetter.line(
      {
        file: bad.file,
        line: bad.line,
        code: bad.code,
        reason: bad.reason,
        bytes: bad.bytes,
      },
      setAside,
    );
    metrics.deadLettered.inc({ stage: bad.stage ?? 'read' });
  }
  metrics.invalid.inc({ error_code: bad.code });
  log.warn(
    { file: bad.file, line: bad.line, error_code: bad.code, reason: bad.reason },
    bad.bytes ? 'invalid line set aside in the dead-letter file' : 'invalid file ignored',
  );
}
