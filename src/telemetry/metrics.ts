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
  TransformFailed: 'transform_failed',
} as const;
export type InvalidCode = (typeof InvalidCode)[keyof typeof InvalidCode];

/**
 * Every metric gk-export exports, one set per process (tests make their own). No metrics
 * library: `--http-port` serves the set in the Prometheus text format (`metricsEndpoint`),
 * with Node's process metrics when `defaults` is set.
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
    /** Node's process metrics (CPU, memory, file descriptors, V8 heap) are served beside these. */
    defaults: opts.defaults ?? false,
    /** Every metric of the set. */
    all: all as readonly AnyMetric[],
    /** The metric of that name. */
    find: (name: string): AnyMetric | undefined => all.find((m) => m.name === name),
    /**
     * The metric of that name, made by `make` and added to the set (served from then on) if the
     * set has none yet: for metrics only some configurations use.
     */
    register: <M extends AnyMetric>(name: string, make: () => M): M =>
      (all.find((m) => m.name === name) as M | undefined) ?? add(make()),
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
        labelNames: ['filter', 'sink'] as const,
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
        help: 'Lines or records written to the dead-letter file, by stage (and sink, for records a sink did not take)',
        labelNames: ['stage', 'sink'] as const,
      }),
    ),
    deadLetterBlocked: add(
      new Gauge({
        name: 'gk_export_dead_letter_blocked',
        help: 'Records waiting to be set aside because the dead-letter file cannot be written (delivery stops at each)',
      }),
    ),
    deadLetterWriteFailures: add(
      new Counter({
        name: 'gk_export_dead_letter_write_failures_total',
        help: 'Failed attempts to write the dead-letter file',
      }),
    ),
    deleteFailures: add(
      new Counter({
        name: 'gk_export_file_delete_failures_total',
        help: 'Failed attempts to delete a delivered file, by reason (retention, admission_consumed)',
        labelNames: ['reason'] as const,
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
    runFilesOpen: add(
      new Gauge({
        name: 'gk_export_run_files_open',
        help: 'Run files the reader holds open (at most --max-open-files, plus one per channel)',
      }),
    ),
    rootUnreadable: add(
      new Gauge({
        name: 'gk_export_root_unreadable',
        help: '1 while the export root cannot be listed (EACCES, EMFILE …); retried with backoff',
      }),
    ),
    lagSeconds: add(
      new Gauge({
        name: 'gk_export_oldest_undelivered_age_seconds',
        help: 'Age of the oldest completed run not yet fully delivered (0 when caught up)',
      }),
    ),
    // Two histograms, one meaning each: a sink's own requests (the webhook's HTTP attempts)
    // and a batch's whole way through a sink (retries included), observed by the pipeline.
    sinkRequestSeconds: add(
      new Histogram({
        name: 'gk_export_sink_request_duration_seconds',
        help: "Duration of one request to a sink's receiver (one HTTP attempt, retries apart)",
        labelNames: ['sink'] as const,
        buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30],
      }),
    ),
    batchDeliverySeconds: add(
      new Histogram({
        name: 'gk_export_batch_delivery_seconds',
        help: 'Time from handing a batch to the sink until the sink acknowledged it (retries included)',
        labelNames: ['sink'] as const,
        buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 120],
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
    sinkUp: add(
      new Gauge({
        name: 'gk_export_sink_up',
        help: "1 while a sink's receiver takes its records, 0 while it is retried or stopped",
        labelNames: ['sink'] as const,
      }),
    ),
    sinkLagSeconds: add(
      new Gauge({
        name: 'gk_export_sink_lag_seconds',
        help: 'Age of the oldest completed run a sink has not delivered yet (0 when caught up)',
        labelNames: ['sink'] as const,
      }),
    ),
    sinkLagRecords: add(
      new Gauge({
        name: 'gk_export_sink_lag_records',
        help: 'Lines the furthest sink has passed and this sink has not',
        labelNames: ['sink'] as const,
      }),
    ),
    sinkLagBytes: add(
      new Gauge({
        name: 'gk_export_sink_lag_bytes',
        help: 'Bytes of the volume the furthest sink has passed and this sink has not',
        labelNames: ['sink'] as const,
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
