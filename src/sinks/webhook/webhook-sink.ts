import { gzipSync } from 'node:zlib';
import type { DeadLetter } from '../../dead-letter.ts';
import { GkExportError, isGkExportError, type WebhookErrorCode } from '../../errors.ts';
import type { Telemetry } from '../../telemetry/index.ts';
import type { Delivery, Sink } from '../sink.ts';
import { authHeaders } from './auth.ts';
import { formatSpec, idempotencyKey, type FormatSpec } from './formats.ts';
import { createHttpClient, type HttpOutcome } from './http-client.ts';
import { redactUrl, type WebhookConfig } from './options.ts';
import { backoffMs, retryAfterMs, statusClass } from './retry.ts';

export interface WebhookDeps {
  readonly telemetry: Telemetry;
  readonly deadLetter: DeadLetter;
  /** The sink's name in metrics, logs and dead letters (default `webhook`). */
  readonly name?: string;
  /** For tests of the backoff arithmetic. */
  readonly random?: () => number;
}

/**
 * The webhook sink: batches records into requests in the configured format and sends them
 * in order, `--webhook-concurrency` at a time (default one). A request that is not full
 * leaves when the reader has nothing more at hand, or after `--webhook-flush-interval` at
 * the latest. A batch is acknowledged only after a 2xx of every request holding its records. Connection errors,
 * timeouts and retryable statuses are retried forever by default (exponential backoff with
 * full jitter, `Retry-After` honoured), so the reader pauses while the receiver is down and
 * memory stays bounded. 413 halves the request; other permanent errors put the request in
 * the dead letter (or stop the reader with `--on-permanent-error stop`). No secret is logged.
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
  const { log, metrics } = deps.telemetry;
  const name = deps.name ?? 'webhook';
  metrics.sinkUp.set({ sink: name }, 1);
  const spec: FormatSpec = formatSpec(config.format, {
    clusterName: config.clusterName,
    host: config.host,
  });
  const client = createHttpClient(config);
  const headers = authHeaders(config);
  const target = redactUrl(config.url);
  const url = (suffix?: string) => {
    if (!suffix) return config.url;
    const u = new URL(config.url);
    u.pathname = u.pathname.replace(/\/+$/, '') + suffix;
    return u;
  };
  let interrupted = false;
  /** Aborted by `interrupt()`: ends the wait for a dead-letter file that cannot be written. */
  const halt = new AbortController();
  let wake: (() => void) | undefined;
  let closed: Promise<void> | undefined;

  if (config.insecureSkipVerify) {
    log.warn(
      { url: target },
      'TLS verification of the webhook receiver is OFF (--webhook-insecure-skip-verify)',
    );
  }

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms);
      wake = () => (clearTimeout(t), resolve());
    });

  async function deadLetterRequest(
    records: readonly Delivery[],
    status: number | undefined,
    reason: string,
    body = '',
  ) {
    log.error(
      {
        sink: name,
        url: target,
        status,
        records: records.length,
        first: records[0]?.key,
        reason,
      },
      'receiver refused the request for good: records set aside in the dead-letter file',
    );
    // Acknowledged only once set aside: while the dead-letter file cannot be written, the
    // sink waits here (retrying) and nothing after these records is acknowledged either.
    try {
      await deps.deadLetter.batch(
        {
          sink: name,
          code: status ? `http_${status}` : 'permanent',
          reason,
          status,
          responseExcerpt: body,
          keys: records.map((d) => d.key),
          lines: records.map((d) => d.raw),
        },
        { signal: halt.signal },
      );
    } catch (err) {
      if (isGkExportError(err, 'ERR_DEAD_LETTER_INTERRUPTED')) {
        throw interruptedError('stopped while the dead-letter file could not be written');
      }
      throw err;
    }
    metrics.deadLettered.inc({ stage: 'sink', sink: name }, records.length);
    if (config.onPermanentError === 'stop') {
      metrics.sinkPermanentFailure.set({ sink: name }, 1);
      metrics.sinkUp.set({ sink: name }, 0);
      throw new GkExportError<WebhookErrorCode>(
        'ERR_SINK_PERMANENT',
        `webhook receiver answered ${status ?? reason}; stopping (--on-permanent-error stop)`,
      );
    }
  }

  async function send(records: readonly Delivery[]): Promise<void> {
    const encoded = spec.encode(records);
    let body = Buffer.from(encoded.body);
    const h: Record<string, string> = {
      'content-type': encoded.contentType,
      'idempotency-key': idempotencyKey(records),
      'user-agent': 'gk-export',
      ...headers(),
      ...encoded.extraHeaders,
    };
    if (config.gzip) {
      body = gzipSync(body);
      h['content-encoding'] = 'gzip';
    }
    for (let attempt = 0; ; attempt++) {
      if (interrupted && attempt > 0) throw interruptedError('stopped while retrying a request');
      const stop = metrics.sinkRequestSeconds.startTimer({ sink: name });
      const outcome: HttpOutcome = await client.post(url(encoded.pathSuffix), h, body);
      stop();
      if (outcome.kind === 'response' && outcome.status >= 200 && outcome.status < 300) {
        if (config.format === 'otlp') notePartialSuccess(outcome.body, records.length);
        metrics.delivered.inc({ sink: name }, records.filter((d) => !d.marker).length);
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
        await deadLetterRequest(
          records,
          413,
          'a single record is too large for the receiver',
          outcome.body,
        );
        return;
      }
      const retryable = outcome.kind === 'error' || spec.retryable(outcome.status);
      if (!retryable || (config.maxRetries > 0 && attempt >= config.maxRetries)) {
        const status = outcome.kind === 'response' ? outcome.status : undefined;
        const reason = outcome.kind === 'error' ? outcome.error : `HTTP ${outcome.status}`;
        await deadLetterRequest(
          records,
          status,
          retryable ? `${reason} after ${attempt + 1} attempts` : reason,
          outcome.kind === 'response' ? outcome.body : '',
        );
        return;
      }
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
      await sleep(delay);
    }
  }

  function notePartialSuccess(body: string, sent: number): void {
    try {
      const rejected = Number(
        (JSON.parse(body) as { partialSuccess?: { rejectedLogRecords?: unknown } }).partialSuccess
          ?.rejectedLogRecords ?? 0,
      );
      if (rejected > 0) {
        metrics.deadLettered.inc({ stage: 'otlp_partial', sink: name }, rejected);
        log.warn(
          { sink: name, rejected, sent },
          'OTLP receiver rejected some log records (partial success; not retried)',
        );
      }
    } catch {
      /* an empty or non-JSON 2xx body is a full success */
    }
  }

  // Requests are filled in order, leave in order and at most `concurrency` are in flight;
  // each write resolves once every request holding one of its records is acknowledged.
  const perRequest = spec.perRequest ?? config.batchMaxRecords;
  let tail: Request | undefined;
  let tailTimer: NodeJS.Timeout | undefined;
  const queue: Request[] = [];
  /** Requests being sent (for `giveUp`). */
  const sending = new Set<Request>();
  let active = 0;
  let failure: unknown;

  function leave(): void {
    clearTimeout(tailTimer);
    tailTimer = undefined;
    if (!tail) return;
    queue.push(tail);
    tail = undefined;
    dispatch();
  }

  function dispatch(): void {
    while (active < config.concurrency && queue.length > 0) {
      const req = queue.shift()!;
      if (failure !== undefined || interrupted) {
        req.reject(failure ?? interruptedError('stopped before the request was sent'));
        continue;
      }
      active += 1;
      sending.add(req);
      send(req.records)
        .then(req.resolve, (err: unknown) => {
          // Nothing after a request given up on is sent (the reader stops or restarts there).
          failure ??= err;
          req.reject(err);
        })
        .finally(() => {
          sending.delete(req);
          active -= 1;
          dispatch();
        });
    }
  }

  function interrupt(): void {
    interrupted = true;
    halt.abort();
    wake?.();
    leave();
  }

  return {
    name,
    window: config.concurrency + 1,
    write(batch, hint) {
      const records = spec.markers ? batch : batch.filter((d) => !d.marker);
      const acks: Promise<void>[] = [];
      for (const d of records) {
        const n = (d.bytes?.length ?? Buffer.byteLength(d.raw)) + 1;
        if (tail && (tail.records.length >= perRequest || tail.bytes + n > config.batchMaxBytes)) {
          leave();
        }
        tail ??= newRequest();
        if (acks[acks.length - 1] !== tail.acked) acks.push(tail.acked);
        tail.records.push(d);
        tail.bytes += n;
      }
      if (tail && (tail.records.length >= perRequest || !hint?.more || !config.flushIntervalMs)) {
        leave();
      } else if (tail && !tailTimer) {
        tailTimer = setTimeout(leave, config.flushIntervalMs);
      }
      return Promise.all(acks).then(() => undefined);
    },
    flush: leave,
    interrupt,
    giveUp() {
      interrupt();
      // A request still waiting for its answer is not acknowledged (its answer may come).
      const err = interruptedError('gave up a request in flight: the shutdown grace period passed');
      failure ??= err;
      for (const req of sending) req.reject(err);
      dispatch();
    },
    close() {
      clearTimeout(tailTimer);
      closed ??= Promise.resolve().then(() => client.close());
      return closed;
    },
  };
}

/** One request being filled or waiting to leave; `acked` settles with its delivery. */
interface Request {
  readonly records: Delivery[];
  bytes: number;
  readonly acked: Promise<void>;
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}

function newRequest(): Request {
  let resolve!: () => void;
  let reject!: (err: unknown) => void;
  const acked = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // Observed by the writes that hold its records; never an unhandled rejection.
  acked.catch(() => undefined);
  return { records: [], bytes: 0, acked, resolve, reject };
}

function interruptedError(message: string): GkExportError<WebhookErrorCode> {
  return new GkExportError<WebhookErrorCode>('ERR_SINK_INTERRUPTED', message);
}
