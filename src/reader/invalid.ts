import type { DeadLetter } from '../dead-letter.ts';
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
}

/**
 * Reports bad input the one way the reader does it: a WARN line naming file and line, a
 * counter by error code, and (for lines) an entry in the dead-letter file. Nothing else stops.
 *
 * @example
 * ```ts
 * await reportInvalid(ctx, { file: 'c/r.log', line: 7, code: 'invalid_json', reason: 'Unexpected token', bytes });
 * ```
 */
export async function reportInvalid(
  ctx: { telemetry: Telemetry; deadLetter: DeadLetter },
  bad: InvalidInput,
): Promise<void> {
  const { log, metrics } = ctx.telemetry;
  metrics.invalid.inc({ error_code: bad.code });
  log.warn(
    { file: bad.file, line: bad.line, error_code: bad.code, reason: bad.reason },
    bad.bytes ? 'invalid line set aside in the dead-letter file' : 'invalid file ignored',
  );
  if (bad.bytes) {
    metrics.deadLettered.inc({ stage: 'read' });
    await ctx.deadLetter.line({
      file: bad.file,
      line: bad.line,
      code: bad.code,
      reason: bad.reason,
      bytes: bad.bytes,
    });
  }
}
