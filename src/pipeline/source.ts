import type { Delivery, WriteHint } from '../sinks/sink.ts';
import type { CheckpointEntry } from './checkpoint.ts';

/**
 * Hands a batch to the pipeline: filters → sinks → (ack) → the checkpoint is set to `after`
 * and flushed. Resolves only once all of that is done for this batch and every earlier one.
 * A source awaits each call (backpressure), or keeps up to `window` calls outstanding, passing
 * `{ more: true }` while it has the next batch at hand; it never advances past an
 * unacknowledged line either way. An empty batch still moves the checkpoint (e.g. past bad
 * lines).
 */
export interface Deliver {
  (batch: readonly Delivery[], after: CheckpointEntry, hint?: WriteHint): Promise<void>;
  /** How many calls may be outstanding at once (default 1). */
  readonly window?: number;
}

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
