import type { DeadLetter } from '../../dead-letter.ts';
import { isGkExportError } from '../../errors.ts';
import type { Sink } from '../../sinks/sink.ts';
import type { Telemetry } from '../../telemetry/index.ts';
import type { CheckpointStore } from '../../pipeline/checkpoint.ts';
import type { DiscoveryOptions, Discovery } from '../discovery.ts';
import { createDiskSource } from '../disk-source.ts';
import { createRecordFilter, type FilterConfig } from '../filters.ts';
import type { ReaderConfig } from '../options.ts';
import { createPipeline, type FilterStage } from '../../pipeline/pipeline.ts';
import type { Source } from '../../pipeline/source.ts';
import type { LaneCoordinator, MaxLag } from './coordinator.ts';
import { releaseRuns } from './release.ts';
import type { VolumeTally } from './volume-tally.ts';

/** A sink as a lane drives it: `interrupt()`, when present, ends its retries at shutdown. */
export type LaneSink = Sink & { interrupt?(): void };

/** One named sink with its own route and its own progress. */
export interface LaneSpec {
  /** Names the sink in metrics, logs, dead letters and its checkpoint file. */
  readonly name: string;
  /** Opens the sink; called again when the lane restarts after releasing runs (`maxLag`). */
  readonly open: () => Promise<LaneSink>;
  /** What this sink gets (besides the reader-wide filters) and which fields it never sees. */
  readonly route?: FilterConfig;
  /** Past this, the sink's oldest runs are released for the others (default: hold forever). */
  readonly maxLag?: MaxLag;
}

/** What every lane of a reader shares. */
export interface LaneContext {
  readonly config: ReaderConfig;
  readonly telemetry: Telemetry;
  readonly deadLetter: DeadLetter;
  readonly diskExport: boolean;
  readonly extraSources?: (ctx: {
    store: CheckpointStore;
    deadLetter: DeadLetter;
    telemetry: Telemetry;
    /** With several sinks: who counts and reports what the volume holds. */
    tally?: VolumeTally;
  }) => Source[];
  /** With several lanes: the coordinator and the shared watcher. */
  readonly coordinator?: LaneCoordinator;
  readonly discover?: (o: DiscoveryOptions) => Discovery;
  /**
   * With several sinks, shared by their lanes: every lane reads all of the volume, and what it
   * holds (lines read, bad lines and files, runs found and finished) is counted and reported by
   * the lane that gets to it first.
   */
  readonly tally?: VolumeTally;
  readonly onLag?: (seconds: number) => void;
}

/**
 * Runs one sink's lane until `signal` aborts: its own sources read the volume from its own
 * checkpoint, through the reader's filters and its route, into its sink. A lane that falls
 * past its `maxLag` is stopped, its oldest runs are released (dead-lettered), and it starts
 * again from its checkpoint. Rejects when the lane fails for good (the sink gave up, or its
 * checkpoint cannot be written); a stop while the sink was retrying is not a failure.
 *
 * @example
 * ```ts
 * await runLane(spec, store, ctx, signal);
 * ```
 */
export async function runLane(
  spec: LaneSpec,
  store: CheckpointStore,
  ctx: LaneContext,
  signal: AbortSignal,
): Promise<void> {
  const { config, deadLetter } = ctx;
  const telemetry = ctx.coordinator
    ? { log: ctx.telemetry.log.child({ sink: spec.name }), metrics: ctx.telemetry.metrics }
    : ctx.telemetry;
  const { log, metrics } = telemetry;
  const filter = laneFilter(config.filters, spec, telemetry);
  for (;;) {
    const sink = await spec.open();
    const lane = new AbortController();
    const stop = () => {
      lane.abort();
      // A sink retrying against a receiver that is down would hold the stop forever.
      sink.interrupt?.();
    };
    signal.addEventListener('abort', stop, { once: true });
    if (signal.aborted) stop();
    let releasing: ReturnType<LaneCoordinator['toRelease']> = [];
    const coordinator = ctx.coordinator;
    const watch =
      coordinator && spec.maxLag
        ? setInterval(() => {
            if (releasing.length > 0) return;
            releasing = coordinator.toRelease(spec.name);
            if (releasing.length > 0) stop();
          }, config.intervalMs)
        : undefined;
    const deliver = createPipeline({
      sink,
      store,
      filter,
      telemetry,
      deadLetter,
      signal: lane.signal,
    });
    const sources: Source[] = [];
    if (ctx.diskExport) {
      sources.push(
        createDiskSource({
          ...config,
          // A sink that sends batches as units (webhook requests) reads batches of that size.
          ...(sink.batch && {
            batchMaxRecords: sink.batch.maxRecords,
            batchMaxBytes: sink.batch.maxBytes,
          }),
          store,
          telemetry,
          deadLetter,
          retention: coordinator,
          discover: ctx.discover,
          onLag: ctx.onLag,
          tally: ctx.tally,
        }),
      );
    }
    sources.push(...(ctx.extraSources?.({ store, deadLetter, telemetry, tally: ctx.tally }) ?? []));
    let failure: unknown;
    await Promise.all(
      sources.map((s) =>
        s.run(deliver, lane.signal).catch((err: unknown) => {
          failure ??= err;
          // A sink that was stopped or lost its stdout: the command says so in one line.
          if (!lane.signal.aborted && !quietFailure(err)) {
            log.error({ source: s.name, err: (err as Error).message }, 'source stopped');
          }
          // A source that fails for good stops the lane: its other sources stop too.
          lane.abort();
        }),
      ),
    );
    clearInterval(watch);
    signal.removeEventListener('abort', stop);
    await sink.close();
    await store.flush();
    const interrupted =
      isGkExportError(failure, 'ERR_SINK_INTERRUPTED') ||
      isGkExportError(failure, 'ERR_DEAD_LETTER_INTERRUPTED');
    if (releasing.length > 0 && !signal.aborted && (failure === undefined || interrupted)) {
      await releaseRuns(releasing, {
        root: config.root,
        sink: spec.name,
        store,
        filter,
        deadLetter,
        telemetry,
        maxRecordBytes: config.maxRecordBytes,
        batchMaxRecords: config.batchMaxRecords,
      });
      continue;
    }
    if (failure !== undefined && !(interrupted && signal.aborted)) {
      metrics.sinkUp.set({ sink: spec.name }, 0);
      throw failure;
    }
    if (interrupted) {
      log.info('stopped while retrying; undelivered records resume from the checkpoint');
    }
    return;
  }
}

/** Failures the command reports itself, in one line (no `source stopped` ERROR). */
const QUIET_FAILURES: ReadonlySet<string> = new Set([
  'ERR_SINK_INTERRUPTED',
  'ERR_DEAD_LETTER_INTERRUPTED',
  'ERR_STDOUT_CLOSED',
  'ERR_STDOUT_WRITE',
]);

/** True for a failure the `read` command reports itself. */
export function quietFailure(err: unknown): boolean {
  return isGkExportError(err) && QUIET_FAILURES.has(err.code);
}

/** The reader-wide filters, then the sink's route (each counting what it drops). */
function laneFilter(reader: FilterConfig, spec: LaneSpec, telemetry: Telemetry): FilterStage {
  const all = createRecordFilter(reader, telemetry.metrics);
  if (!spec.route) return all;
  const route = createRecordFilter(spec.route, telemetry.metrics, spec.name);
  return (batch, reject) => route(all(batch, reject), reject);
}
