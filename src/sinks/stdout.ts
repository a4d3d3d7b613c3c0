import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { GkExportError, type StdoutErrorCode } from '../errors.ts';
import type { Metrics } from '../telemetry/index.ts';
import { ndjsonParts } from './line-bytes.ts';
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
  /** The sink's name in metrics (default `stdout`). */
  readonly name?: string;
}

/**
 * `raw` format: each violation's original line, byte for byte; run markers only when asked.
 *
 * @example
 * ```ts
 * createStdoutSink({ format: rawFormat({ includeMarkers: false }) });
 * ```
 */
export function rawFormat(opts: { includeMarkers: boolean }): StdoutFormatter {
  // Byte-for-byte: the original bytes, no string round trip; lines that lie one after the
  // other in a read buffer go out as one slice of it, written as they are (no copy).
  return (batch) => ndjsonParts(opts.includeMarkers ? batch : batch.filter((d) => !d.marker));
}

/**
 * The stdout sink: writes each batch as the formatter gives it and acknowledges once the
 * stream has handed every byte to the fd (its write callback), so a slow `kubectl logs`
 * consumer pauses the reader instead of growing memory, and a crash cannot lose what was
 * acknowledged. A stdout closed by its reader (EPIPE) or failing otherwise rejects every
 * unacknowledged write with `ERR_STDOUT_CLOSED` / `ERR_STDOUT_WRITE` (no crash, no stack
 * trace); `giveUp()` (the shutdown grace period passed while nobody read stdout) rejects them
 * with `ERR_SINK_INTERRUPTED`. Either way nothing unwritten is acknowledged.
 *
 * @example
 * ```ts
 * const sink = createStdoutSink({ format: rawFormat({ includeMarkers: false }) });
 * await sink.write(batch);
 * ```
 */
export function createStdoutSink(opts: StdoutSinkOptions): Sink & { giveUp(): void } {
  // A batch can wait in the pipe while the next one is checked (see pipe-buffer.ts).
  if (!opts.stream) enlargePipeBuffer(1, STDOUT_PIPE_BYTES);
  const stream = opts.stream ?? process.stdout;
  let closed: Promise<void> | undefined;
  const name = opts.name ?? 'stdout';
  opts.metrics?.sinkUp.set({ sink: name }, 1);
  /** Why writes fail from now on (the stream broke, or the sink gave up). */
  let failure: GkExportError<StdoutErrorCode> | undefined;
  /** Rejecters of the writes whose bytes the fd has not taken yet. */
  const waiting = new Set<(err: Error) => void>();
  let gaveUp: () => void = () => undefined;
  const givenUp = new Promise<void>((resolve) => (gaveUp = resolve));

  const failAll = (err: GkExportError<StdoutErrorCode>) => {
    failure ??= err;
    for (const reject of waiting) reject(failure);
    waiting.clear();
    gaveUp();
  };
  const broken = (err: NodeJS.ErrnoException) =>
    err.code === 'EPIPE'
      ? new GkExportError<StdoutErrorCode>(
          'ERR_STDOUT_CLOSED',
          'stdout was closed by the process reading it (EPIPE)',
          { cause: err },
        )
      : new GkExportError<StdoutErrorCode>(
          'ERR_STDOUT_WRITE',
          `cannot write to stdout: ${err.message}`,
          {
            cause: err,
          },
        );
  // Without a listener an EPIPE is an uncaught exception with a stack trace.
  stream.on('error', (err: NodeJS.ErrnoException) => failAll(broken(err)));

  return {
    name,
    async write(batch) {
      if (failure) throw failure;
      const out = opts.format(batch);
      const parts = (Array.isArray(out) ? out : [out]).filter((p) => p.length > 0);
      // The ack waits for the last part's write callback: the bytes are then with the kernel.
      // (`write()` returning true only says the stream's buffer has room: a pipe that is full
      // keeps them in this process, and a crash after the checkpoint would lose them.)
      // Corked: the batch's slices leave in one writev(2), not one write per slice.
      if (parts.length > 0) {
        await new Promise<void>((resolve, reject) => {
          waiting.add(reject);
          stream.cork();
          for (let i = 0; i < parts.length - 1; i++) stream.write(parts[i]!);
          stream.write(parts[parts.length - 1]!, (err) => {
            waiting.delete(reject);
            // (The callback hears of a failure before the stream's 'error' event.)
            if (err) failAll(broken(err));
            if (failure) reject(failure);
            else resolve();
          });
          stream.uncork();
        });
      }
      let records = 0;
      for (const d of batch) if (!d.marker) records += 1;
      opts.metrics?.delivered.inc({ sink: name }, records);
    },
    giveUp() {
      failAll(
        new GkExportError<StdoutErrorCode>(
          'ERR_SINK_INTERRUPTED',
          'gave up writing to stdout: nothing read it within the shutdown grace period',
        ),
      );
    },
    close() {
      // A stdout nobody reads never drains: a sink that gave up does not wait for it.
      closed ??= Promise.race([
        stream.writableNeedDrain
          ? once(stream, 'drain').then(
              () => undefined,
              () => undefined,
            )
          : undefined,
        givenUp,
      ]);
      return closed;
    },
  };
}
