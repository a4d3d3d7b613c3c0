import { isUtf8 } from 'node:buffer';
import { AUDIT_COMPLETED, AUDIT_STARTED } from '../protocol/names.ts';
import { validateExportMsg } from '../protocol/validate.ts';
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
 * Decodes one export line into a Delivery, or says why it is bad. Every line is checked:
 * length, NUL bytes, UTF-8, JSON, object-ness and each known field's type.
 *
 * @example
 * ```ts
 * const r = decodeLine({ source: 'audit', channel: 'c', run: 'r' }, rawLine);
 * if ('code' in r) report(r); else batch.push(r);
 * ```
 */
export function decodeLine(origin: LineOrigin, line: RawLine): Delivery | DecodeFailure {
  if (line.tooLong) {
    return {
      code: InvalidCode.LineTooLong,
      reason: `line of ${line.end - line.start} bytes is over the limit (--max-record-bytes)`,
    };
  }
  if (line.truncated) {
    return { code: InvalidCode.TruncatedLine, reason: 'file ends without a newline after this line' };
  }
  const bytes = line.bytes;
  if (bytes.indexOf(0) >= 0) return { code: InvalidCode.NulByte, reason: 'line contains a NUL byte' };
  if (!isUtf8(bytes)) return { code: InvalidCode.InvalidUtf8, reason: 'line is not valid UTF-8' };
  const text = bytes.toString('utf8');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { code: InvalidCode.InvalidJson, reason: `not JSON: ${(err as Error).message}` };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    const got = value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;
    return { code: InvalidCode.NotAnObject, reason: `JSON ${got}, expected an object` };
  }
  const result = validateExportMsg(value);
  if (!result.ok) {
    const what = result.errors
      .map((e) => `${e.field}: expected ${e.expected}, got ${e.got}`)
      .join('; ');
    return { code: InvalidCode.WrongFieldType, reason: what };
  }
  const msg = result.msg;
  const marker =
    msg.eventType === undefined && msg.message === AUDIT_STARTED
      ? 'started'
      : msg.eventType === undefined && msg.message === AUDIT_COMPLETED
        ? 'completed'
        : undefined;
  const delivery: Delivery = {
    key: deliveryKey(origin.channel, origin.run, line.number),
    source: origin.source,
    channel: origin.channel,
    run: origin.run,
    line: line.number,
    raw: text,
    msg,
  };
  return marker ? { ...delivery, marker } : delivery;
}
