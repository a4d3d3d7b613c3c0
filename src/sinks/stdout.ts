import { once } from 'node:events';
import type { Writable } from 'node:stream';
import type { Metrics } from '../telemetry/index.ts';
import type { Delivery, Sink } from './sink.ts';

/** Turns a batch into the bytes to print (each record ending in `\n`). */
export type StdoutFormatter = (batch: readonly Delivery[]) => string | Buffer;

export interface StdoutSinkOptions {
  /** Default: process.stdout. */
  readonly stream?: Writable;
  readonly format: StdoutFormatter;
  /** Counts delivered records (markers excluded). */
  readonly metrics?: Metrics;
}

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
    // Byte-for-byte: copy each line's original bytes, no string round trip.
    const parts: Buffer[] = [];
    for (const d of batch) {
      if (!opts.includeMarkers && d.marker) continue;
      parts.push(d.bytes ?? Buffer.from(d.raw), NEWLINE);
    }
    return Buffer.concat(parts);
  };
}

/**
 * The stdout sink: one write per batch; acknowledges once the bytes are handed to the fd and
 * no drain is pending (a slow `kubectl logs` consumer pauses the reader instead of growing
 * memory).
 *
 * @example
 * ```ts
 * const sink = createStdoutSink({ format: rawFormat({ includeMarkers: false }) });
 * await sink.write(batch);
 * ```
 */
export function createStdoutSink(opts: StdoutSinkOptions): Sink {
  const stream = opts.stream ?? process.stdout;
  let closed: Promise<void> | undefined;
  return {
    name: 'stdout',
    async write(batch) {
      const text = opts.format(batch);
      if (text.length > 0 && !stream.write(text)) await once(stream, 'drain');
      opts.metrics?.delivered.inc({ sink: 'stdout' }, batch.filter((d) => !d.marker).length);
    },
    close() {
      closed ??= stream.writableNeedDrain
        ? once(stream, 'drain').then(() => undefined)
        : Promise.resolve();
      return closed;
    },
  };
}
