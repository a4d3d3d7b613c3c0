import { Counter, Gauge, Histogram, type AnyMetric } from './metric-types.ts';

/** Bounded error codes for invalid input (the `error_code` label). */
export const InvalidCode = {
  InvalidJson: 'invalid_json',
  NotAnObject: 'not_an_object',
  WrongFieldType: 'wrong_field_type',
  InvalidUtf8: 'invalid_utf8',
  NulByte: 'nul_byte',
  LineTooLong: 'line_too_long',
  TruncatedLine: 'truncated_line',
  NotARegularFile: 'not_a_regular_file',
  Symlink: 'symlink',
  Unreadable: 'unreadable',
  InvalidName: 'invalid_name',
} as const;
export type InvalidCode = (typeof InvalidCode)[keyof typeof InvalidCode];

/**
 * Every metric gk-export exports, one set per process (tests make their own). Counting needs
 * no metrics library: `--http-port` hands the set to prom-client when it starts serving
 * (`createPromRegistry`), with Node's process metrics when `defaults` is set.
 *
 * @example
 * ```ts
 * const m = createMetrics();
 * m.recordsRead.inc({ source: 'audit' });
 * await m.find('gk_export_records_read_total')?.get();
 * ```
 */
export function createMetrics(opts: { defaults?: boolean } = {}) {
  const all: AnyMetric[] = [];
  const add = <M extends AnyMetric>(m: M): M => (all.push(m), m);
  return {
    /** Node's process metrics (CPU, memory, event loop) are served beside these. */
    defaults: opts.defaults ?? false,
    /** Every metric of the set. */
    all: all as readonly AnyMetric[],
    /** The metric of that name. */
    find: (name: string): AnyMetric | undefined => all.find((m) => m.name === name),
    recordsRead: add(
      new Counter({
        name: 'gk_export_records_read_total',
        help: 'Lines read from the export volume (markers included)',
        labelNames: ['source'] as const,
      }),
    ),
    delivered: add(
      new Counter({
        name: 'gk_export_records_delivered_total',
        help: 'Records acknowledged by a sink',
        labelNames: ['sink'] as const,
      }),
    ),
    filtered: add(
      new Counter({
        name: 'gk_export_records_filtered_total',
        help: 'Records dropped on purpose by a filter',
        labelNames: ['filter'] as const,
      }),
    ),
    invalid: add(
      new Counter({
        name: 'gk_export_records_invalid_total',
        help: 'Bad lines or files, by error code',
        labelNames: ['error_code'] as const,
      }),
    ),
    deadLettered: add(
      new Counter({
        name: 'gk_export_records_dead_lettered_total',
        help: 'Lines or batches written to the dead-letter file',
        labelNames: ['stage'] as const,
      }),
    ),
    lostBytes: add(
      new Counter({
        name: 'gk_export_bytes_lost_total',
        help: 'Undelivered bytes of files that disappeared before the reader could open them',
      }),
    ),
    lostRuns: add(
      new Counter({
        name: 'gk_export_runs_lost_total',
        help: 'Runs (files) that disappeared before they were fully delivered',
      }),
    ),
    runsCompleted: add(
      new Counter({
        name: 'gk_export_runs_completed_total',
        help: 'Runs fully delivered, by final state',
        labelNames: ['state'] as const,
      }),
    ),
    runsPushed: add(
      new Counter({
        name: 'gk_export_runs_pending_pushed_total',
        help: 'Runs queued for delivery',
      }),
    ),
    runsPopped: add(
      new Counter({
        name: 'gk_export_runs_pending_popped_total',
        help: 'Runs taken off the delivery queue (delivered, lost or abandoned)',
      }),
    ),
    lagSeconds: add(
      new Gauge({
        name: 'gk_export_oldest_undelivered_age_seconds',
        help: 'Age of the oldest completed run not yet fully delivered (0 when caught up)',
      }),
    ),
    sinkRequestSeconds: add(
      new Histogram({
        name: 'gk_export_sink_request_duration_seconds',
        help: 'Duration of one sink write (one batch)',
        labelNames: ['sink'] as const,
        buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30],
      }),
    ),
    retries: add(
      new Counter({
        name: 'gk_export_sink_retries_total',
        help: 'Sink retries, by status class (5xx, 4xx, network, timeout)',
        labelNames: ['sink', 'status_class'] as const,
      }),
    ),
    sinkPermanentFailure: add(
      new Gauge({
        name: 'gk_export_sink_failing_permanently',
        help: '1 while a sink is stopped on a permanent error',
        labelNames: ['sink'] as const,
      }),
    ),
    checkpointWrites: add(
      new Counter({
        name: 'gk_export_checkpoint_writes_total',
        help: 'Checkpoint files written',
      }),
    ),
    checkpointFailures: add(
      new Counter({
        name: 'gk_export_checkpoint_failures_total',
        help: 'Checkpoint writes that failed',
      }),
    ),
    auditEventsSkipped: add(
      new Counter({
        name: 'gk_export_apiserver_audit_events_skipped_total',
        help: 'API-server audit events that are not Gatekeeper denials, by reason',
        labelNames: ['reason'] as const,
      }),
    ),
    filesDeleted: add(
      new Counter({
        name: 'gk_export_files_deleted_total',
        help: 'Files deleted after delivery, by reason',
        labelNames: ['reason'] as const,
      }),
    ),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
export type { AnyMetric, Counter, Gauge, Histogram } from './metric-types.ts';
