import { isUtf8 } from 'node:buffer';
import { AUDIT_COMPLETED, AUDIT_STARTED } from '../protocol/names.ts';
import { parseJsonKeepingNumbers } from '../protocol/json-numbers.ts';
import { checkExportLine } from '../protocol/line-check.ts';
import { checkExportLines, type LineCheckOk } from '../protocol/line-check-batch.ts';
import type { ExportMsg } from '../protocol/record.ts';
import { deliveryKey, type Delivery, type SourceKind } from '../sinks/sink.ts';
import { InvalidCode } from '../telemetry/index.ts';
import { optimizingCompilers } from '../pipeline/optimizing-compilers.ts';
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

/** A decoded export line, or why it is bad. */
export type Decoded = ExportLine | DecodeFailure;

/**
 * A checked export line. Only what the check found is kept: the bytes are cut out of the read
 * buffer, the key built, the text decoded and the record parsed (JSON.parse) when a consumer
 * asks. The stdout sink asks for none of them.
 */
export class ExportLine implements Delivery {
  readonly origin: LineOrigin;
  readonly line: number;
  readonly buf: Buffer;
  readonly at: number;
  readonly byteLength: number;
  readonly marker?: 'started' | 'completed';
  /** Top-level fields known from the check, without parsing. */
  readonly eventType: string | undefined;
  readonly name: string | undefined;
  #raw: string | undefined;
  #msg: ExportMsg | undefined;

  constructor(origin: LineOrigin, line: RawLine, check: LineCheckOk) {
    this.origin = origin;
    this.line = line.number;
    this.buf = line.buf;
    this.at = line.at;
    this.byteLength = line.length;
    this.eventType = check.eventType;
    this.name = check.name;
    if (check.eventType === undefined) {
      if (check.message === AUDIT_STARTED) this.marker = 'started';
      else if (check.message === AUDIT_COMPLETED) this.marker = 'completed';
    }
  }

  get source(): SourceKind {
    return this.origin.source;
  }

  get channel(): string {
    return this.origin.channel;
  }

  get run(): string {
    return this.origin.run;
  }

  get key(): string {
    return deliveryKey(this.origin.channel, this.origin.run, this.line);
  }

  get bytes(): Buffer {
    return this.buf.subarray(this.at, this.at + this.byteLength);
  }

  get raw(): string {
    return (this.#raw ??= this.buf.toString('utf8', this.at, this.at + this.byteLength));
  }

  get msg(): ExportMsg {
    // Numbers a float64 cannot hold keep their text, so no output turns 1e999 into null.
    return (this.#msg ??= parseJsonKeepingNumbers(this.raw) as ExportMsg);
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
export function decodeLine(origin: LineOrigin, line: RawLine): Decoded {
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
  return new ExportLine(origin, line, check);
}

/**
 * `decodeLine` for many lines, with the same results. While the optimizing compilers are off
 * (a lean CLI that has met no bulk input, see optimizing-compilers.ts) that is `decodeLine` for
 * each; else `decodeLinesBatched`.
 *
 * @example
 * ```ts
 * for (const r of decodeLines(origin, await reader.read(4096))) …
 * ```
 */
export function decodeLines(origin: LineOrigin, lines: readonly RawLine[]): Decoded[] {
  if (optimizingCompilers.optimizing()) return decodeLinesBatched(origin, lines);
  const out: Decoded[] = new Array(lines.length);
  for (let i = 0; i < lines.length; i++) out[i] = decodeLine(origin, lines[i]!);
  return out;
}

/**
 * `decodeLine` for many lines, with the same results: lines that share a read buffer are
 * checked together (the WebAssembly line check, which checks their UTF-8 too), and only a line
 * that fails goes through `decodeLine` to learn why.
 *
 * @example
 * ```ts
 * for (const r of decodeLinesBatched(origin, await reader.read(4096))) …
 * ```
 */
export function decodeLinesBatched(origin: LineOrigin, lines: readonly RawLine[]): Decoded[] {
  const out: Decoded[] = new Array(lines.length);
  let i = 0;
  while (i < lines.length) {
    const first = lines[i]!;
    if (first.tooLong || first.truncated) {
      out[i] = decodeLine(origin, first);
      i += 1;
      continue;
    }
    // The run of ordinary lines in the same buffer.
    let j = i + 1;
    while (j < lines.length && lines[j]!.buf === first.buf && !lines[j]!.tooLong) j += 1;
    // (UTF-8 and NUL bytes need no pass of their own: the line check takes only valid UTF-8
    // and rejects every control character, and decodeLine then names what is wrong.)
    checkExportLines(first.buf, lines, i, j, (k, check) => {
      out[k] = check ? new ExportLine(origin, lines[k]!, check) : decodeLine(origin, lines[k]!);
    });
    i = j;
  }
  return out;
}
