import type { DeadLetter } from '../../dead-letter.ts';
import { GkExportError, isGkExportError, type WebhookErrorCode } from '../../errors.ts';
import type { Telemetry } from '../../telemetry/index.ts';
import type { Delivery } from '../sink.ts';
import { interruptedError } from './interrupted.ts';
import type { WebhookConfig } from './options.ts';

/** Why the receiver's refusal is final. */
export interface Refusal {
  /** The HTTP status, when there was an answer. */
  readonly status: number | undefined;
  readonly reason: string;
  /** An excerpt of the answer's body. */
  readonly body: string;
}

export interface DeadLetterRequestDeps {
  readonly telemetry: Telemetry;
  readonly deadLetter: DeadLetter;
  /** Aborted at shutdown: ends the wait for a dead-letter file that cannot be written. */
  readonly signal: AbortSignal;
  /** The receiver, safe to log. */
  readonly target: string;
  /** The sink's name in metrics, logs and dead letters. */
  readonly name: string;
  readonly onPermanentError: WebhookConfig['onPermanentError'];
}

/**
 * Sets aside the records of a request the receiver refused for good, in the dead-letter file;
 * resolves only once they are written there (so they may be acknowledged). While the file
 * cannot be written it waits, retrying, and nothing after these records is acknowledged
 * either; a shutdown meanwhile rejects with ERR_SINK_INTERRUPTED. With
 * `--on-permanent-error stop` it rejects with ERR_SINK_PERMANENT once they are set aside.
 *
 * @example
 * ```ts
 * await deadLetterRequest(records, { status: 400, reason: 'HTTP 400', body }, deps);
 * ```
 */
export async function deadLetterRequest(
  records: readonly Delivery[],
  refusal: Refusal,
  deps: DeadLetterRequestDeps,
): Promise<void> {
  const { log, metrics } = deps.telemetry;
  const { status, reason } = refusal;
  log.error(
    {
      sink: deps.name,
      url: deps.target,
      status,
      records: records.length,
      first: records[0]?.key,
      reason,
    },
    'receiver refused the request for good: records set aside in the dead-letter file',
  );
  try {
    await deps.deadLetter.batch(
      {
        sink: deps.name,
        code: status ? `http_${status}` : 'permanent',
        reason,
        status,
        responseExcerpt: refusal.body,
        keys: records.map((d) => d.key),
        lines: records.map((d) => d.raw),
      },
      { signal: deps.signal },
    );
  } catch (err) {
    if (isGkExportError(err, 'ERR_DEAD_LETTER_INTERRUPTED')) {
      throw interruptedError('stopped while the dead-letter file could not be written');
    }
    throw err;
  }
  metrics.deadLettered.inc({ stage: 'sink', sink: deps.name }, records.length);
  if (deps.onPermanentError === 'stop') {
    metrics.sinkPermanentFailure.set({ sink: deps.name }, 1);
    metrics.sinkUp.set({ sink: deps.name }, 0);
    throw new GkExportError<WebhookErrorCode>(
      'ERR_SINK_PERMANENT',
      `webhook receiver answered ${status ?? reason}; stopping (--on-permanent-error stop)`,
    );
  }
}
