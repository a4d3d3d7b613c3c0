import type { CheckpointEntry } from '../pipeline/checkpoint.ts';
import type { Deliver } from '../pipeline/source.ts';
import type { Delivery } from '../sinks/sink.ts';

/** How a batch is sent: what the sender waits for before it reads on. */
export interface SendOptions {
  /**
   * The run is done after this batch: wait until it and every earlier batch are acknowledged
   * (and checkpointed), so the run can be closed and counted delivered.
   */
  readonly endsRun?: boolean;
  /**
   * Keep one batch more than the window unacknowledged: the caller reads and checks the next
   * batch while the sink and the checkpoint work on the earlier ones.
   */
  readonly readAhead?: boolean;
  /**
   * Called once the batch is acknowledged (not when it fails): what it held for its lines (the
   * read buffers they lie in) can be let go.
   */
  readonly onAcked?: () => void;
}

/** One channel's batches handed to the pipeline and not yet acknowledged, oldest first. */
export interface BatchWindow {
  /** Hands a batch to the pipeline; resolves once the window has room for the next one. */
  send(batch: readonly Delivery[], after: CheckpointEntry, opts?: SendOptions): Promise<void>;
  /** Waits until every batch sent is acknowledged. */
  settle(): Promise<void>;
}

/**
 * An error from the pipeline (sink or checkpoint), as opposed to reading a file.
 *
 * @example
 * ```ts
 * if (err instanceof PipelineFailure) stop(err.cause); // not a read error: stop
 * ```
 */
export class PipelineFailure extends Error {
  constructor(cause: unknown) {
    super('delivery failed', { cause });
  }
}

/**
 * A channel's window of batches in flight: at most `deliver.window` of them unacknowledged,
 * plus one waiting for its turn with `readAhead`. (The pipeline starts writing a batch only
 * once the window has room, so no more batches are in flight either way.) Acks come in order:
 * a batch's checkpoint is saved only after every earlier batch's. A failed batch rejects the
 * wait with a {@link PipelineFailure}, and `onFailure` hears of it at once, even while the
 * channel idles with batches in flight.
 *
 * @example
 * ```ts
 * const window = createBatchWindow(deliver, (err) => stop(err));
 * await window.send(batch, runEntry(r, reader.position(), false), { readAhead: true });
 * await window.send([], runEntry(r, reader.position(), true), { endsRun: true });
 * ```
 */
export function createBatchWindow(
  deliver: Deliver,
  onFailure: (err: unknown) => void,
): BatchWindow {
  const size = Math.max(1, deliver.window ?? 1);
  const pending: Promise<void>[] = [];

  async function oldest(): Promise<void> {
    try {
      await pending.shift();
    } catch (err) {
      // Every later batch fails too (the pipeline's failures are sticky).
      pending.length = 0;
      throw new PipelineFailure(err);
    }
  }

  async function settle(): Promise<void> {
    while (pending.length > 0) await oldest();
  }

  return {
    async send(batch, after, opts = {}) {
      // A request never spans two batches of a completed run (`readAhead`): after a restart its
      // batches are read again from the same checkpoints, so a request sent again holds the
      // same records and carries the same Idempotency-Key. A followed run's appends are combined.
      const more = !opts.endsRun && !opts.readAhead && pending.length + 1 < size;
      const p = deliver(batch, after, { more });
      p.catch(onFailure);
      if (opts.onAcked) p.then(opts.onAcked, () => undefined);
      pending.push(p);
      if (opts.endsRun) await settle();
      else while (pending.length >= size + (opts.readAhead ? 1 : 0)) await oldest();
    },
    settle,
  };
}
