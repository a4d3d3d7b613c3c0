import type { Delivery, Sink } from '../sink.ts';
import { formatSpec } from './formats.ts';
import { interruptedError } from './interrupted.ts';
import { lineByteLength } from '../line-bytes.ts';
import { redactUrl, type WebhookConfig } from './options.ts';
import { createRequestQueue } from './request-queue.ts';
import { createWebhookService, type WebhookServiceDeps } from './service.ts';

/** What the sink needs besides its configuration: telemetry and the dead letter. */
export type WebhookDeps = WebhookServiceDeps;

/**
 * The webhook sink: batches records into requests in the configured format and sends them
 * in order, `--webhook-concurrency` at a time (default one). A request that is not full
 * leaves when the reader has nothing more at hand, or after `--webhook-flush-interval` at
 * the latest. A batch is acknowledged only after a 2xx of every request holding its records.
 * Connection errors, timeouts and retryable statuses are retried forever by default
 * (exponential backoff with full jitter, `Retry-After` honoured), so the reader pauses while
 * the receiver is down and memory stays bounded. 413 halves the request; other permanent
 * errors put the request in the dead letter (or stop the reader with `--on-permanent-error
 * stop`). No secret is logged.
 *
 * The parts, each testable alone: `formats.ts` (the encoder), `request-builder.ts` (body,
 * headers, gzip), `service.ts` (send, retry, 413, dead letter, partial success) and
 * `request-queue.ts` (batching, flush interval, concurrency, in-order acks); this file wires
 * them into a `Sink`.
 *
 * @example
 * ```ts
 * const sink = createWebhookSink(resolveWebhookConfig(opts), { telemetry, deadLetter });
 * ```
 */
export function createWebhookSink(
  config: WebhookConfig,
  deps: WebhookDeps,
): Sink & { interrupt(): void; giveUp(): void } {
  const spec = formatSpec(config.format, { clusterName: config.clusterName, host: config.host });
  const service = createWebhookService(config, spec, deps);
  if (config.insecureSkipVerify) {
    deps.telemetry.log.warn(
      { url: redactUrl(config.url) },
      'TLS verification of the webhook receiver is OFF (--webhook-insecure-skip-verify)',
    );
  }
  const queue = createRequestQueue({
    maxItems: spec.perRequest ?? config.batchMaxRecords,
    maxBytes: config.batchMaxBytes,
    size: (d: Delivery) => lineByteLength(d) + 1,
    flushIntervalMs: config.flushIntervalMs,
    concurrency: config.concurrency,
    // Each request is built as soon as it is complete: while the one before it is in flight.
    prepare: (records) => service.build(records),
    send: (records, request) => service.send(records, request),
  });
  let closed: Promise<void> | undefined;

  function interrupt(): void {
    service.interrupt();
    queue.stop();
  }

  return {
    name: deps.name ?? 'webhook',
    // The requests in flight, and two more built to go: a receiver that is slow to answer one
    // request (a pause of its own) does not leave the reader idle at once.
    window: config.concurrency + 2,
    // A request of a completed run is one batch: read batches of a request's size.
    batch:
      spec.perRequest === undefined
        ? { maxRecords: config.batchMaxRecords, maxBytes: config.batchMaxBytes }
        : undefined,
    write(batch, hint) {
      return queue.add(spec.markers ? batch : withoutMarkers(batch), hint?.more);
    },
    flush: () => queue.flush(),
    interrupt,
    giveUp() {
      service.interrupt();
      // A request still waiting for its answer is not acknowledged (its answer may come).
      queue.abandon(
        interruptedError('gave up a request in flight: the shutdown grace period passed'),
      );
    },
    close() {
      queue.close();
      closed ??= Promise.resolve().then(() => service.close());
      return closed;
    },
  };
}

/** The batch without its run markers; the batch itself when it has none (no copy). */
function withoutMarkers(batch: readonly Delivery[]): readonly Delivery[] {
  // (Indexed: this runs once per batch, too seldom to be optimized, where `for…of` allocates.)
  for (let i = 0; i < batch.length; i++)
    if (batch[i]!.marker) return batch.filter((r) => !r.marker);
  return batch;
}
