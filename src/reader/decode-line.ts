import { isUtf8 } from 'node:buffer';
import { AUDIT_COMPLETED, AUDIT_STARTED } from '../protocol/names.ts';
import { checkExportLine } from '../protocol/line-check.ts';
import type { ExportMsg } from '../protocol/record.ts';
import { deliveryKey, type Delivery, type SourceKind } from '../sinks/sink.ts';
import { InvalidCode } from '../telemetry/index.ts';
import type { RawLine } from './line-reader.ts';

/** Which file a line came from. */
export interface LineOrigin {
  readonly source: SourceKind;
  readonly channel: string;
  readonly run: string;
}

/** A line that could not be decoded: why, with a bounded code. */
export interface DecodeFailure {
  readonly code: InvalidCode;
  readonly reason: string;
}

/**
 * A checked export line. The record object is only built (JSON.parse) when a consumer reads
 * `msg`, and the text only when it reads `raw`: the stdout sink needs neither.
 */
class ExportLine implements Delivery {
  readonly key: string;
  readonly source: SourceKind;
  readonly channel: string;
  readonly run: string;
  readonly line: number;
  readonly bytes: Buffer;
  readonly marker?: 'started' | 'completed';
  /** Top-level fields known from the check, without parsing. */
  readonly eventType: string | undefined;
  readonly name: string | undefined;
  #raw: string | undefined;
  #msg: ExportMsg | undefined;

  constructor(
    origin: LineOrigin,
    number: number,
    bytes: Buffer,
    check: { eventType: string | undefined; name: string | undefined; message: string | undefined },
  ) {
    this.key = deliveryKey(origin.channel, origin.run, number);
    this.source = origin.source;
    this.channel = origin.channel;
    this.run = origin.run;
    this.line = number;
    this.bytes = bytes;
    this.eventType = check.eventType;
    this.name = check.name;
    if (check.eventType === undefined) {
      if (check.message === AUDIT_STARTED) this.marker = 'started';
      else if (check.message === AUDIT_COMPLETED) this.marker = 'completed';
    }
  }

  get raw(): string {
    return (this.#raw ??= this.bytes.toString('utf8'));
  }

  get msg(): ExportMsg {
    return (this.#msg ??= JSON.parse(this.raw) as ExportMsg);
  }
}

/**
 * Decodes one export line into a Delivery, or says why it is bad. Every line is checked:
 * length, NUL bytes, UTF-8, JSON syntax, object-ness and each known field's type.
 *
 * @example
 * ```ts
 * const r = decodeLine({ source: 'audit', channel: 'c', run: 'r' }, rawLine);
 * if ('code' in r) report(r); else batch.push(r);
 * ```
 */
export function decodeLine(
  origin: LineOrigin,
  line: RawLine,
): (Delivery & { readonly name: string | undefined }) | DecodeFailure {
  if (line.tooLong) {
    return {
      code: InvalidCode.LineTooLong,
      reason: `line of ${line.end - line.start} bytes is over the limit (--max-record-bytes)`,
    };
  }
  if (line.truncated) {
    return {
      code: InvalidCode.TruncatedLine,
      reason: 'file ends without a newline after this line',
    };
  }
  const bytes = line.bytes;
  if (bytes.indexOf(0) >= 0)
    return { code: InvalidCode.NulByte, reason: 'line contains a NUL byte' };
  if (!isUtf8(bytes)) return { code: InvalidCode.InvalidUtf8, reason: 'line is not valid UTF-8' };
  const check = checkExportLine(bytes);
  if (!check.ok) return { code: check.code, reason: check.reason };
  return new ExportLine(origin, line.number, bytes, check);
}
