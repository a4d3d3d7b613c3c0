import type { DeadLetter } from '../dead-letter.ts';
import type { CheckpointStore } from '../pipeline/checkpoint.ts';
import type { Telemetry } from '../telemetry/index.ts';
import type { BadEntries } from './bad-entries.ts';
import type { Discovery, DiscoveryOptions } from './discovery.ts';
import type { RetentionGate } from './lanes/coordinator.ts';
import type { VolumeTally } from './lanes/volume-tally.ts';
import type { ReadMode } from './options.ts';
import type { DeleteRetries } from './retention.ts';
import type { RunFiles } from './run-files.ts';

/** The disk-export source's settings and what it works with. */
export interface DiskSourceOptions {
  readonly root: string;
  readonly mode: ReadMode;
  /** Stream in-progress `.txt` runs as they grow. */
  readonly followOpen: boolean;
  /** An unlocked `.txt` that has not grown for this long is an abandoned run. */
  readonly abandonAfterMs: number;
  /** Upper bound on run files held open at once. */
  readonly maxOpenFiles: number;
  /** Delivered completed audit runs kept per channel; older ones are deleted. */
  readonly maxAuditResults: number;
  /** Delete admission segments once delivered. */
  readonly deleteAfterRead: boolean;
  readonly maxRecordBytes: number;
  readonly batchMaxRecords: number;
  readonly batchMaxBytes: number;
  readonly poll: boolean;
  /** Polling interval and safety-net rescan period. */
  readonly intervalMs: number;
  readonly store: CheckpointStore;
  readonly telemetry: Telemetry;
  readonly deadLetter: DeadLetter;
  /** With several sinks: a delivered file is deleted only once every sink is done with it. */
  readonly retention?: RetentionGate;
  /** With several sinks: one watcher of the root shared by their sources. */
  readonly discover?: (o: DiscoveryOptions) => Discovery;
  /** Where the age of the oldest undelivered run goes (default: the reader's lag gauge). */
  readonly onLag?: (seconds: number) => void;
  /**
   * With several sinks: what the volume holds (lines read, bad lines and files, runs found and
   * finished) is counted and reported by the lane that reads it first. Without: all of it here.
   */
  readonly tally?: VolumeTally;
}

/**
 * What the parts of the disk source share, handed to each explicitly: the channel scans
 * (reconcile.ts), the run pump (run-pump.ts) and the deletes of delivered files
 * (channel-retention.ts). The source (disk-source.ts) builds it once.
 */
export interface SourceContext {
  readonly opts: DiskSourceOptions;
  readonly bad: BadEntries;
  readonly files: RunFiles;
  /** Deletes of delivered files that failed, retried with backoff while the run stays delivered. */
  readonly deletes: DeleteRetries;
  /** Who counts and reports what the volume holds (`opts.tally`, or all of it here). */
  readonly tally: VolumeTally;
  /** Aborted when the source stops: ends scans, loops and waits that only stopping ends. */
  readonly halt: AbortSignal;
  /** Sets the lag: the age of the oldest completed run not yet delivered, across channels. */
  updateLag(nowMs: number): void;
}
