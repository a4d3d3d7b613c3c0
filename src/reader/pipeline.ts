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
  return async function deliver(batch, after) {
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
  };
}
