import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

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
 * Every metric gk-export exports, on one registry per process (tests make their own).
 *
 * @example
 * ```ts
 * const m = createMetrics();
 * m.recordsRead.inc({ source: 'audit' });
 * ```
 */
export function createMetrics(opts: { defaults?: boolean } = {}) {
  const registry = new Registry();
  if (opts.defaults) collectDefaultMetrics({ register: registry, prefix: 'gk_export_' });
  const registers = [registry];
  return {
    registry,
    recordsRead: new Counter({
      name: 'gk_export_records_read_total',
      help: 'Lines read from the export volume (markers included)',
      labelNames: ['source'] as const,
      registers,
    }),
    delivered: new Counter({
      name: 'gk_export_records_delivered_total',
      help: 'Records acknowledged by a sink',
      labelNames: ['sink'] as const,
      registers,
    }),
    filtered: new Counter({
      name: 'gk_export_records_filtered_total',
      help: 'Records dropped on purpose by a filter',
      labelNames: ['filter', 'sink'] as const,
      registers,
    }),
    invalid: new Counter({
      name: 'gk_export_records_invalid_total',
      help: 'Bad lines or files, by error code',
      labelNames: ['error_code'] as const,
      registers,
    }),
    deadLettered: new Counter({
      name: 'gk_export_records_dead_lettered_total',
      help: 'Lines or records written to the dead-letter file, by stage (and sink, for records a sink did not take)',
      labelNames: ['stage', 'sink'] as const,
      registers,
    }),
    deadLetterBlocked: new Gauge({
      name: 'gk_export_dead_letter_blocked',
      help: 'Records waiting to be set aside because the dead-letter file cannot be written (delivery stops at each)',
      registers,
    }),
    deadLetterWriteFailures: new Counter({
      name: 'gk_export_dead_letter_write_failures_total',
      help: 'Failed attempts to write the dead-letter file',
      registers,
    }),
    deleteFailures: new Counter({
      name: 'gk_export_file_delete_failures_total',
      help: 'Failed attempts to delete a delivered file, by reason (retention, admission_consumed)',
      labelNames: ['reason'] as const,
      registers,
    }),
    lostBytes: new Counter({
      name: 'gk_export_bytes_lost_total',
      help: 'Undelivered bytes of files that disappeared before the reader could open them',
      registers,
    }),
    lostRuns: new Counter({
      name: 'gk_export_runs_lost_total',
      help: 'Runs (files) that disappeared before they were fully delivered',
      registers,
    }),
    runsCompleted: new Counter({
      name: 'gk_export_runs_completed_total',
      help: 'Runs fully delivered, by final state',
      labelNames: ['state'] as const,
      registers,
    }),
    runsPushed: new Counter({
      name: 'gk_export_runs_pending_pushed_total',
      help: 'Runs queued for delivery',
      registers,
    }),
    runsPopped: new Counter({
      name: 'gk_export_runs_pending_popped_total',
      help: 'Runs taken off the delivery queue (delivered, lost or abandoned)',
      registers,
    }),
    runFilesOpen: new Gauge({
      name: 'gk_export_run_files_open',
      help: 'Run files the reader holds open (at most --max-open-files, plus one per channel)',
      registers,
    }),
    rootUnreadable: new Gauge({
      name: 'gk_export_root_unreadable',
      help: '1 while the export root cannot be listed (EACCES, EMFILE …); retried with backoff',
      registers,
    }),
    lagSeconds: new Gauge({
      name: 'gk_export_oldest_undelivered_age_seconds',
      help: 'Age of the oldest completed run not yet fully delivered (0 when caught up)',
      registers,
    }),
    // Two histograms, one meaning each: a sink's own requests (the webhook's HTTP attempts)
    // and a batch's whole way through a sink (retries included), observed by the pipeline.
    sinkRequestSeconds: new Histogram({
      name: 'gk_export_sink_request_duration_seconds',
      help: "Duration of one request to a sink's receiver (one HTTP attempt, retries apart)",
      labelNames: ['sink'] as const,
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30],
      registers,
    }),
    batchDeliverySeconds: new Histogram({
      name: 'gk_export_batch_delivery_seconds',
      help: 'Time from handing a batch to the sink until the sink acknowledged it (retries included)',
      labelNames: ['sink'] as const,
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 120],
      registers,
    }),
    retries: new Counter({
      name: 'gk_export_sink_retries_total',
      help: 'Sink retries, by status class (5xx, 4xx, network, timeout)',
      labelNames: ['sink', 'status_class'] as const,
      registers,
    }),
    sinkPermanentFailure: new Gauge({
      name: 'gk_export_sink_failing_permanently',
      help: '1 while a sink is stopped on a permanent error',
      labelNames: ['sink'] as const,
      registers,
    }),
    checkpointWrites: new Counter({
      name: 'gk_export_checkpoint_writes_total',
      help: 'Checkpoint files written',
      registers,
    }),
    checkpointFailures: new Counter({
      name: 'gk_export_checkpoint_failures_total',
      help: 'Checkpoint writes that failed',
      registers,
    }),
    auditEventsSkipped: new Counter({
      name: 'gk_export_apiserver_audit_events_skipped_total',
      help: 'API-server audit events that are not Gatekeeper denials, by reason',
      labelNames: ['reason'] as const,
      registers,
    }),
    sinkUp: new Gauge({
      name: 'gk_export_sink_up',
      help: "1 while a sink's receiver takes its records, 0 while it is retried or stopped",
      labelNames: ['sink'] as const,
      registers,
    }),
    sinkLagSeconds: new Gauge({
      name: 'gk_export_sink_lag_seconds',
      help: 'Age of the oldest completed run a sink has not delivered yet (0 when caught up)',
      labelNames: ['sink'] as const,
      registers,
    }),
    sinkLagRecords: new Gauge({
      name: 'gk_export_sink_lag_records',
      help: 'Lines the furthest sink has passed and this sink has not',
      labelNames: ['sink'] as const,
      registers,
    }),
    sinkLagBytes: new Gauge({
      name: 'gk_export_sink_lag_bytes',
      help: 'Bytes of the volume the furthest sink has passed and this sink has not',
      labelNames: ['sink'] as const,
      registers,
    }),
    filesDeleted: new Counter({
      name: 'gk_export_files_deleted_total',
      help: 'Files deleted after delivery, by reason',
      labelNames: ['reason'] as const,
      registers,
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
