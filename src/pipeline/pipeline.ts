import type { DeadLetter } from '../dead-letter.ts';
import type { Delivery, Sink, WriteHint } from '../sinks/sink.ts';
import { InvalidCode, type Telemetry } from '../telemetry/index.ts';
import type { CheckpointStore } from './checkpoint.ts';
import { idleReclaimer } from './idle-reclaim.ts';
import { reportInvalid } from './invalid.ts';
import type { Deliver } from './source.ts';

/**
 * The filter stage: returns the records to send. A record it cannot transform is handed to
 * `reject` (when given) instead of failing the batch.
 */
export type FilterStage = (
  batch: readonly Delivery[],
  reject?: (d: Delivery, err: unknown) => void,
) => Delivery[];

/**
 * The one-way path every batch takes: filter → sink (resolved = ack) → checkpoint set, and
 * written by group commit. Returns the `Deliver` function sources call.
 *
 * Up to `sink.window` batches (default 1) are in the sink at once, across all sources and
 * channels; writes start in call order and checkpoints are applied strictly in call order,
 * each only after its own batch and every earlier one are acknowledged. The file is written
 * at most every `CHECKPOINT_INTERVAL_MS` (a batch's call resolves once its checkpoint is
 * applied, before that write) and at once for the end of a run (whose call resolves once it
 * is written: retention may delete the file next). A failure, of a sink or of a checkpoint
 * write, is sticky: no later checkpoint is applied. So a crash repeats at most the batches
 * in flight and what was acknowledged within the last interval.
 *
 * A record the filter cannot transform (a redaction that cannot re-encode it) is that record's
 * failure: it goes to the dead letter (`deadLetter`) and the rest of the batch goes on. While
 * the dead letter cannot be written, writes wait (retrying) until `signal` aborts.
 *
 * @example
 * ```ts
 * const deliver = createPipeline({ sink, store, filter: (b) => b, telemetry });
 * await deliver(batch, entry);
 * ```
 */
export function createPipeline(opts: {
  sink: Sink;
  store: CheckpointStore;
  filter: FilterStage;
  telemetry: Telemetry;
  deadLetter?: DeadLetter;
  signal?: AbortSignal;
}): Deliver {
  const { sink, store, filter } = opts;
  const { metrics } = opts.telemetry;
  const window = Math.max(1, sink.window ?? 1);
  let inFlight = 0;
  const waiting: (() => void)[] = [];
  /** Serializes admissions, so that writes start in call order. */
  let admitted: Promise<void> = Promise.resolve();
  /** The last checkpoint application; rejected for good after a failure. */
  let acked: Promise<void> = Promise.resolve();
  /** The checkpoint write being watched (`flushSoon` shares one until it runs). */
  let watched: Promise<boolean> | undefined;
  /** A checkpoint write that failed: no later checkpoint is applied. */
  let failed: { err: unknown } | undefined;
  const reclaim = idleReclaimer();

  const room = async (): Promise<void> => {
    if (inFlight < window) return;
    // The oldest batch may be a tail the sink is holding for more: it will get no more.
    sink.flush?.();
    await new Promise<void>((resolve) => waiting.push(resolve));
  };

  const deliver = (batch: readonly Delivery[], after: Parameters<Deliver>[1], hint?: WriteHint) => {
    reclaim.busy();
    // Admission (in call order, once there is room) ends when the write has started.
    const begun = admitted.then(room).then(async () => {
      inFlight += 1;
      const rejected: [Delivery, unknown][] = [];
      const kept = filter(batch, opts.deadLetter && ((d, err) => rejected.push([d, err])));
      // Set aside before the batch is written, so that its ack implies theirs.
      for (const [d, err] of rejected) await setAside(d, err);
      if (kept.length === 0) return { written: Promise.resolve() };
      const stop = metrics.batchDeliverySeconds.startTimer({ sink: sink.name });
      // Each sink counts what it delivered (gk_export_records_delivered_total{sink}).
      const written = sink.write(kept, hint).then(() => {
        stop();
      });
      // Handled here at once (it may settle before its turn), awaited in order below.
      written.catch(() => undefined);
      return { written };
    });
    admitted = begun.then(
      () => undefined,
      () => undefined,
    );
    const done = begun.then((b) => b.written);
    const turn = acked.then(() => done).then(() => checkpoint(after));
    void Promise.allSettled([done, turn]).then(() => {
      inFlight -= 1;
      if (inFlight === 0) reclaim.idle();
      waiting.shift()?.();
    });
    acked = turn;
    return turn;
  };
  return Object.assign(deliver, { window });

  async function setAside(d: Delivery, err: unknown): Promise<void> {
    let bytes: Buffer;
    try {
      bytes = d.bytes ?? Buffer.from(d.raw);
    } catch {
      bytes = Buffer.alloc(0);
    }
    await reportInvalid(
      { telemetry: opts.telemetry, deadLetter: opts.deadLetter! },
      {
        file: `${d.channel}/${d.run}`,
        line: d.line,
        code: InvalidCode.TransformFailed,
        reason: `transform failed: ${(err as Error).message}`,
        bytes,
        stage: 'transform',
      },
      { signal: opts.signal ?? new AbortController().signal },
    );
  }

  async function checkpoint(after: Parameters<Deliver>[1]): Promise<void> {
    if (failed) throw failed.err;
    store.set(after);
    // A run's end is written at once; other batches share a write within the interval.
    const written = after.done ? store.flush() : store.flushSoon();
    if (written !== watched) {
      // Counted once per write, however many batches it covers.
      watched = written;
      written.then(
        (wrote) => {
          if (wrote) metrics.checkpointWrites.inc();
        },
        (err: unknown) => {
          metrics.checkpointFailures.inc();
          if (failed) return;
          failed = { err };
          opts.telemetry.log.error(
            { err: (err as Error).message },
            'checkpoint write failed: no later batch is acknowledged',
          );
        },
      );
    }
    if (after.done) await written;
  }
}
