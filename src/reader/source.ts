import type { Delivery } from '../sinks/sink.ts';
import type { CheckpointEntry } from './checkpoint.ts';

/**
 * Hands a batch to the pipeline: filters → sinks → (ack) → the checkpoint is set to `after`
 * and flushed. Resolves only once all of that is done, so a source that awaits it never
 * reads further than the sinks can take (backpressure) and never advances past an
 * unacknowledged line. An empty batch still moves the checkpoint (e.g. past bad lines).
 */
export type Deliver = (batch: readonly Delivery[], after: CheckpointEntry) => Promise<void>;

/**
 * A producer of deliveries: the disk-export volume, or the API server's audit log.
 *
 * @example
 * ```ts
 * const source: Source = { name: 'x', async run(deliver, signal) { … } };
 * ```
 */
export interface Source {
  readonly name: string;
  /** Runs until `signal` aborts, then returns once its last `deliver` call has settled. */
  run(deliver: Deliver, signal: AbortSignal): Promise<void>;
}
