import type { ExportMsg } from '../protocol/record.ts';

/** Where a delivery came from. */
export type SourceKind = 'audit' | 'admission' | 'apiserver-audit';

/**
 * One record on its way to the sinks. Markers (`audit is started` / `audit is completed`)
 * travel through the pipeline too, so sinks can frame runs; each sink decides whether to emit
 * them.
 */
export interface Delivery {
  /** Stable idempotency key: `<channel>/<run>/<line>`; identical across restarts. */
  readonly key: string;
  readonly source: SourceKind;
  readonly channel: string;
  readonly run: string;
  /** 1-based line number within the run file. */
  readonly line: number;
  /** The line to emit, without its newline: the original bytes unless a redaction re-encoded it. */
  readonly raw: string;
  /** The same line as UTF-8 bytes, when the source has them (saves re-encoding). */
  readonly bytes?: Buffer;
  /**
   * Where `bytes` lie in a buffer that the lines of one read share (`buf[at, at + byteLength)`),
   * when the source has that: a sink can then copy a run of adjacent lines at once.
   */
  readonly buf?: Buffer;
  readonly at?: number;
  readonly byteLength?: number;
  /** The record (sources may parse it lazily, on first access). */
  readonly msg: ExportMsg;
  /** Set on the run's start/completion marker lines. */
  readonly marker?: 'started' | 'completed';
}

/** What the caller of `write` knows about what comes next. */
export interface WriteHint {
  /**
   * More batches follow at once: a batching sink may hold this batch's tail (for at most its
   * flush interval) to fill a request with the next one. Without it the sink sends now.
   */
  readonly more?: boolean;
}

/**
 * A destination. `write` resolves once every record of the batch is delivered (the ack);
 * until then the reader does not read further than `window` batches ahead (backpressure by
 * awaiting). Writes start in call order, and a sink never resolves before delivery and
 * retries internally; it rejects only when it has given up on the batch for good.
 *
 * @example
 * ```ts
 * const sink: Sink = { name: 'null', async write() {}, async close() {} };
 * ```
 */
export interface Sink {
  readonly name: string;
  write(batch: readonly Delivery[], hint?: WriteHint): Promise<void>;
  /**
   * How many batches may be written before the first is acknowledged (default 1). A sink
   * that sends several requests at once asks for more so that it is never starved.
   */
  readonly window?: number;
  /**
   * The batch this sink sends as one unit (a webhook request): the disk source of its lane
   * reads batches of at most this many records and bytes instead of the reader's
   * `--batch-max-*`, so that a batch of a completed run is exactly one request.
   */
  readonly batch?: { readonly maxRecords: number; readonly maxBytes: number };
  /** Sends whatever a `more` hint left held, now (the caller is about to wait). */
  flush?(): void;
  /**
   * Ends retries at shutdown: a write still retrying rejects (ERR_SINK_INTERRUPTED) instead of
   * holding the reader's stop for as long as a receiver is down. Nothing is acknowledged by it.
   */
  interrupt?(): void;
  /**
   * Rejects every write not yet acknowledged, at once, and every later one (the shutdown grace
   * period passed): the records are not acknowledged, so they are delivered after a restart.
   */
  giveUp?(): void;
  /** Flushes and releases everything; idempotent. */
  close(): Promise<void>;
}

/** The idempotency key of a line. */
export function deliveryKey(channel: string, run: string, line: number): string {
  return `${channel}/${run}/${line}`;
}
