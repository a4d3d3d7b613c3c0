import { setMaxListeners } from 'node:events';
import type { DeadLetter } from '../../dead-letter.ts';
import type { Telemetry } from '../../telemetry/index.ts';
import type { Delivery } from '../sink.ts';
import { deadLetterRequest, type DeadLetterRequestDeps } from './dead-letter-request.ts';
import type { FormatSpec } from './formats.ts';
import { createHttpClient, type HttpOutcome } from './http-client.ts';
import { interruptedError } from './interrupted.ts';
import { redactUrl, type WebhookConfig } from './options.ts';
import { notePartialSuccess } from './partial-success.ts';
import { createRequestBuilder, type WebhookRequest } from './request-builder.ts';
import { backoffMs, retryAfterMs, statusClass } from './retry.ts';

export interface WebhookServiceDeps {
  readonly telemetry: Telemetry;
  readonly deadLetter: DeadLetter;
  /** The sink's name in metrics, logs and dead letters (default `webhook`). */
  readonly name?: string;
  /** For tests of the backoff arithmetic. */
  readonly random?: () => number;
}

/** Delivers one request's records; see `createWebhookService`. */
export interface WebhookService {
  /**
   * Builds the request that carries `records` (body, headers, the authorization read now), so
   * that it can be built ahead of its turn.
   */
  build(records: readonly Delivery[]): WebhookRequest;
  /**
   * Resolves once the records are delivered (a 2xx) or set aside in the dead letter; rejects
   * with ERR_SINK_PERMANENT (`--on-permanent-error stop`) or ERR_SINK_INTERRUPTED. `request`
   * is `build(records)`, built now when not given.
   */
  send(records: readonly Delivery[], request?: WebhookRequest): Promise<void>;
  /** Ends retries and the wait for the dead letter: the sends under way reject. */
  interrupt(): void;
  /** Releases the connections. */
  close(): void;
}

/**
 * Sends the records of one request to the receiver until they are delivered or refused for
 * good. Connection errors, timeouts and the format's retryable statuses are retried (forever
 * by default, `--webhook-max-retries` else) with exponential backoff and full jitter, a
 * `Retry-After` honoured; 413 halves the request; a final refusal sets the records aside
 * (`deadLetterRequest`); a 2xx that reports a partial success is noted (`notePartialSuccess`).
 *
 * @example
 * ```ts
 * const service = createWebhookService(config, formatSpec(config.format, ctx), deps);
 * await service.send(records); // delivered or set aside
 * ```
 */
export function createWebhookService(
  config: WebhookConfig,
  spec: FormatSpec,
  deps: WebhookServiceDeps,
): WebhookService {
  const { log, metrics } = deps.telemetry;
  const name = deps.name ?? 'webhook';
  metrics.sinkUp.set({ sink: name }, 1);
  const client = createHttpClient(config);
  const build = createRequestBuilder(config, spec);
  const target = redactUrl(config.url);
  let interrupted = false;
  const halt = new AbortController();
  // Each request in flight waits on it at most once (its retry, or the dead letter).
  setMaxListeners(Math.max(10, config.concurrency), halt.signal);
  const refused: DeadLetterRequestDeps = {
    telemetry: deps.telemetry,
    deadLetter: deps.deadLetter,
    signal: halt.signal,
    target,
    name,
    onPermanentError: config.onPermanentError,
  };
  // Every send waiting for its retry wakes at `interrupt()` (several wait at once with
  // --webhook-concurrency), then gives up.
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      if (halt.signal.aborted) return resolve();
      const done = () => {
        clearTimeout(t);
        halt.signal.removeEventListener('abort', done);
        resolve();
      };
      const t = setTimeout(done, ms);
      halt.signal.addEventListener('abort', done, { once: true });
    });

  async function send(
    records: readonly Delivery[],
    req: WebhookRequest = build(records),
  ): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      if (interrupted && attempt > 0) throw interruptedError('stopped while retrying a request');
      const stop = metrics.sinkRequestSeconds.startTimer({ sink: name });
      const outcome: HttpOutcome = await client.post(req.url, req.headers, req.body);
      stop();
      if (outcome.kind === 'response' && outcome.status >= 200 && outcome.status < 300) {
        notePartialSuccess(deps.telemetry, config.format, outcome.body, records.length, name);
        let delivered = 0;
        for (let i = 0; i < records.length; i++) if (!records[i]!.marker) delivered += 1;
        metrics.delivered.inc({ sink: name }, delivered);
        metrics.sinkUp.set({ sink: name }, 1);
        return;
      }
      if (outcome.kind === 'response' && outcome.status === 413) {
        if (records.length > 1) {
          const half = Math.ceil(records.length / 2);
          log.warn(
            { sink: name, records: records.length },
            'receiver answered 413: halving the request',
          );
          await send(records.slice(0, half));
          await send(records.slice(half));
          return;
        }
        const reason = 'a single record is too large for the receiver';
        await deadLetterRequest(records, { status: 413, reason, body: outcome.body }, refused);
        return;
      }
      const retryable = outcome.kind === 'error' || spec.retryable(outcome.status);
      if (!retryable || (config.maxRetries > 0 && attempt >= config.maxRetries)) {
        const reason = outcome.kind === 'error' ? outcome.error : `HTTP ${outcome.status}`;
        const refusal = {
          status: outcome.kind === 'response' ? outcome.status : undefined,
          reason: retryable ? `${reason} after ${attempt + 1} attempts` : reason,
          body: outcome.kind === 'response' ? outcome.body : '',
        };
        await deadLetterRequest(records, refusal, refused);
        return;
      }
      await sleep(retryDelay(outcome, attempt));
    }
  }

  /** Counts a retry, logs the first and every tenth, and says how long to wait before it. */
  function retryDelay(outcome: HttpOutcome, attempt: number): number {
    const cls =
      outcome.kind === 'error' ? (outcome.timeout ? 'timeout' : 'network') : outcome.status;
    metrics.retries.inc({ sink: name, status_class: statusClass(cls) });
    metrics.sinkUp.set({ sink: name }, 0);
    const delay =
      (outcome.kind === 'response'
        ? retryAfterMs(outcome.headers['retry-after'], config.maxBackoffMs)
        : undefined) ?? backoffMs(attempt, config.maxBackoffMs, deps.random);
    if (attempt === 0 || attempt % 10 === 0) {
      log.warn(
        {
          sink: name,
          url: target,
          attempt: attempt + 1,
          status: outcome.kind === 'response' ? outcome.status : outcome.error,
          retryInMs: delay,
        },
        'webhook delivery failed; retrying (the reader waits)',
      );
    }
    return delay;
  }

  return {
    build,
    send,
    interrupt() {
      interrupted = true;
      halt.abort();
    },
    close() {
      client.close();
    },
  };
}
