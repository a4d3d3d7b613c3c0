import type { Sink } from '../sinks/sink.ts';
import type { Telemetry } from '../telemetry/index.ts';
import type { CheckpointStore } from './checkpoint.ts';
import type { Deliver } from './source.ts';
import type { Delivery } from '../sinks/sink.ts';

/**
 * The one-way path every batch takes: filter → sink (await = ack) → checkpoint set and
 * flushed. Returns the `Deliver` function sources call. Nothing is acknowledged before the
 * sink resolves, so a crash repeats at most the batch in flight.
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
  filter: (batch: readonly Delivery[]) => Delivery[];
  telemetry: Telemetry;
}): Deliver {
  const { sink, store, filter } = opts;
  const { metrics } = opts.telemetry;
  // One batch in flight across all sources and channels: a crash repeats at most that one.
  let queue: Promise<unknown> = Promise.resolve();
  return function deliver(batch, after) {
    const turn = queue.then(() => deliverNow(batch, after));
    queue = turn.catch(() => undefined);
    return turn;
  };

  async function deliverNow(
    batch: readonly Delivery[],
    after: Parameters<Deliver>[1],
  ): Promise<void> {
    const kept = filter(batch);
    if (kept.length > 0) {
      const stop = metrics.sinkRequestSeconds.startTimer({ sink: sink.name });
      // Each sink counts what it delivered (gk_export_records_delivered_total{sink}).
      await sink.write(kept);
      stop();
    }
    store.set(after);
    try {
      await store.flush();
      metrics.checkpointWrites.inc();
    } catch (err) {
      metrics.checkpointFailures.inc();
      throw err;
    }
  }
}
