import type { Telemetry } from '../../telemetry/index.ts';
import type { WebhookFormat } from './formats.ts';

/**
 * How many records a 2xx answer says the receiver rejected all the same: OTLP/HTTP's
 * `partialSuccess.rejectedLogRecords`; 0 for every other format, and for an empty or
 * non-JSON body (a full success).
 *
 * @example
 * ```ts
 * rejectedInSuccess('otlp', '{"partialSuccess":{"rejectedLogRecords":"2"}}'); // 2
 * ```
 */
export function rejectedInSuccess(format: WebhookFormat, body: string): number {
  if (format !== 'otlp') return 0;
  try {
    const rejected = Number(
      (JSON.parse(body) as { partialSuccess?: { rejectedLogRecords?: unknown } }).partialSuccess
        ?.rejectedLogRecords ?? 0,
    );
    return rejected > 0 ? rejected : 0;
  } catch {
    return 0;
  }
}

/**
 * The one place a partial success is handled: the rejected records are counted
 * (`gk_export_records_dead_lettered_total{stage="otlp_partial"}`) and logged. They are not
 * retried (OTLP says a partial success must not be) and the request counts as delivered: the
 * receiver does not say which records it refused, so there is nothing to set aside.
 *
 * @example
 * ```ts
 * notePartialSuccess(telemetry, config.format, outcome.body, records.length);
 * ```
 */
export function notePartialSuccess(
  telemetry: Telemetry,
  format: WebhookFormat,
  body: string,
  sent: number,
  sink = 'webhook',
): void {
  const rejected = rejectedInSuccess(format, body);
  if (rejected === 0) return;
  telemetry.metrics.deadLettered.inc({ stage: 'otlp_partial', sink }, rejected);
  telemetry.log.warn(
    { sink, rejected, sent },
    'OTLP receiver rejected some log records (partial success; not retried)',
  );
}
