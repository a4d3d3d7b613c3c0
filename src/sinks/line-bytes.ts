import type { Delivery } from './sink.ts';

const NL = 0x0a;
const NEWLINE = Buffer.from('\n');

/**
 * A record's line as UTF-8 bytes: the bytes read from the file when the source has them (no
 * decode to a string and encode back), else its `raw` text (a redacted or re-encoded record).
 *
 * @example
 * ```ts
 * const body = lineBytes(records[0]!); // the original line, without its newline
 * ```
 */
export function lineBytes(d: Delivery): Buffer {
  const { buf, at, byteLength } = d;
  if (buf !== undefined && at !== undefined && byteLength !== undefined) {
    return buf.subarray(at, at + byteLength);
  }
  return d.bytes ?? Buffer.from(d.raw);
}

/** A record's line length in bytes, without building anything (the request's size budget). */
export function lineByteLength(d: Delivery): number {
  return d.byteLength ?? d.bytes?.length ?? Buffer.byteLength(d.raw);
}

/**
 * The records' lines, each followed by `\n`, as parts to send one after the other: lines that
 * lie one after the other in a read buffer (with their `\n` between them) are one slice of it,
 * so a webhook request or a stdout batch is a slice or two of the buffers it was read into,
 * neither decoded nor copied. A line without such bytes (a redacted record) is its `raw`.
 *
 * @example
 * ```ts
 * const parts = ndjsonParts(records); // Buffer.concat(parts) = each line + '\n'
 * ```
 */
export function ndjsonParts(records: readonly Delivery[]): Buffer[] {
  const parts: Buffer[] = [];
  let run: Buffer | undefined;
  let runStart = 0;
  let runEnd = 0; // just past the last line of the run (where its `\n` is)
  const endRun = () => {
    if (!run) return;
    if (run[runEnd] === NL) parts.push(run.subarray(runStart, runEnd + 1));
    else parts.push(run.subarray(runStart, runEnd), NEWLINE);
    run = undefined;
  };
  // (Indexed: this runs once per request, too seldom to be optimized, where `for…of` allocates.)
  for (let i = 0; i < records.length; i++) {
    const d = records[i]!;
    const { buf, at, byteLength } = d;
    if (buf === undefined || at === undefined || byteLength === undefined) {
      endRun();
      parts.push(d.bytes ?? Buffer.from(d.raw), NEWLINE);
    } else if (buf === run && at === runEnd + 1 && buf[runEnd] === NL) {
      runEnd = at + byteLength;
    } else {
      endRun();
      run = buf;
      runStart = at;
      runEnd = at + byteLength;
    }
  }
  endRun();
  return parts;
}

const OPEN = Buffer.from('[');
const COMMA = Buffer.from(',');
const CLOSE = Buffer.from(']');

/**
 * The records' lines as one JSON array (`[line,line,…]`), from their bytes.
 *
 * @example
 * ```ts
 * JSON.parse(jsonArrayBytes(records).toString()).length === records.length;
 * ```
 */
export function jsonArrayBytes(records: readonly Delivery[]): Buffer {
  const parts: Buffer[] = [OPEN];
  for (let i = 0; i < records.length; i++) {
    if (i > 0) parts.push(COMMA);
    parts.push(lineBytes(records[i]!));
  }
  parts.push(CLOSE);
  return Buffer.concat(parts);
}
