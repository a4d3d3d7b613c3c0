import { once } from 'node:events';
import type { Writable } from 'node:stream';
import type { Metrics } from '../telemetry/index.ts';
import { enlargePipeBuffer, STDOUT_PIPE_BYTES } from './pipe-buffer.ts';
import type { Delivery, Sink } from './sink.ts';

/** Turns a batch into the bytes to print (each record ending in `\n`), whole or in parts. */
export type StdoutFormatter = (batch: readonly Delivery[]) => string | Buffer | Buffer[];

export interface StdoutSinkOptions {
  /** Default: process.stdout. */
  readonly stream?: Writable;
  readonly format: StdoutFormatter;
  /** Counts delivered records (markers excluded). */
  readonly metrics?: Metrics;
}

const NL = 0x0a;
const NEWLINE = Buffer.from('\n');

/**
 * `raw` format: each violation's original line, byte for byte; run markers only when asked.
 *
 * @example
 * ```ts
 * createStdoutSink({ format: rawFormat({ includeMarkers: false }) });
 * ```
 */
export function rawFormat(opts: { includeMarkers: boolean }): StdoutFormatter {
  return (batch) => {
    // Byte-for-byte: the original bytes, no string round trip. Lines that lie one after the
    // other in a read buffer (with their `\n` between them) go out as one slice of it, and the
    // slices are written as they are (not concatenated: no copy of the batch).
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
    for (const d of batch) {
      if (!opts.includeMarkers && d.marker) continue;
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
  };
}

/**
 * The stdout sink: writes each batch as the formatter gives it and acknowledges once the
 * stream has handed every byte to the fd (its write callback), so a slow `kubectl logs`
 * consumer pauses the reader instead of growing memory, and a crash cannot lose what was
 * acknowledged.
 *
 * @example
 * ```ts
 * const sink = createStdoutSink({ format: rawFormat({ includeMarkers: false }) });
 * await sink.write(batch);
 * ```
 */
export function createStdoutSink(opts: StdoutSinkOptions): Sink {
  // A batch can wait in the pipe while the next one is checked (see pipe-buffer.ts).
  if (!opts.stream) enlargePipeBuffer(1, STDOUT_PIPE_BYTES);
  const stream = opts.stream ?? process.stdout;
  let closed: Promise<void> | undefined;
  return {
    name: 'stdout',
    async write(batch) {
      const out = opts.format(batch);
      const parts = (Array.isArray(out) ? out : [out]).filter((p) => p.length > 0);
      // The ack waits for the last part's write callback: the bytes are then with the kernel.
      // (`write()` returning true only says the stream's buffer has room: a pipe that is full
      // keeps them in this process, and a crash after the checkpoint would lose them.)
      // Corked: the batch's slices leave in one writev(2), not one write per slice.
      if (parts.length > 0) {
        await new Promise<void>((resolve, reject) => {
          stream.cork();
          for (let i = 0; i < parts.length - 1; i++) stream.write(parts[i]!);
          stream.write(parts[parts.length - 1]!, (err) => (err ? reject(err) : resolve()));
          stream.uncork();
        });
      }
      let records = 0;
      for (const d of batch) if (!d.marker) records += 1;
      opts.metrics?.delivered.inc({ sink: 'stdout' }, records);
    },
    close() {
      closed ??= stream.writableNeedDrain
        ? once(stream, 'drain').then(() => undefined)
        : Promise.resolve();
      return closed;
    },
  };
}
