import { createDeadLetter } from '../dead-letter.ts';
import type { Delivery, Sink } from '../sinks/sink.ts';
import type { Telemetry } from '../telemetry/index.ts';
import type { CheckpointStore } from '../pipeline/checkpoint.ts';
import { createLaneCoordinator } from './lanes/coordinator.ts';
import { quietFailure, runLane, type LaneSink, type LaneSpec } from './lanes/lane.ts';
import { openLaneStores } from './lanes/lane-checkpoints.ts';
import { createSharedDiscovery } from './lanes/shared-discovery.ts';
import { createVolumeTally, type VolumeTally } from './lanes/volume-tally.ts';
import type { ReaderConfig } from './options.ts';
import type { Source } from '../pipeline/source.ts';
import { lockStateDir } from './state-lock.ts';

export type { ReaderConfig } from './options.ts';
export type { LaneSink, LaneSpec } from './lanes/lane.ts';

/** What a running reader needs besides its config. */
export interface ReaderDeps {
  /** One sink (one lane, `checkpoints.json`); or give `lanes`. */
  readonly sink?: LaneSink;
  /** Several named sinks, each with its own route and its own checkpoint. */
  readonly lanes?: readonly LaneSpec[];
  readonly telemetry: Telemetry;
  /**
   * Extra sources beside the disk export (e.g. the API server's audit log); each lane gets its
   * own, with that lane's checkpoint store and the reader's dead letter.
   */
  readonly extraSources?: (ctx: {
    store: CheckpointStore;
    deadLetter: ReturnType<typeof createDeadLetter>;
    /** The lane's telemetry. */
    telemetry: Telemetry;
    /** With several sinks: who counts and reports what the volume holds (`VolumeTally`). */
    tally?: VolumeTally;
  }) => Source[];
  /** Set false to run only the extra sources. */
  readonly diskExport?: boolean;
}

/**
 * Runs the reader until `signal` aborts: per sink (lane) sources → filters and route → sink →
 * ack → that sink's checkpoint → retention once every sink is done with a file. A sink that is
 * down holds only its own lane; the others go on. On abort every lane finishes its in-flight
 * batch, its sink is flushed and closed and its checkpoint saved; then the promise resolves.
 * It rejects when every lane failed for good (with one lane: when it did). It first takes the
 * state dir's lock: another reader on it, or a state dir that is not writable, rejects at once
 * (`ERR_STATE_LOCKED`, `ERR_STATE_DIR_NOT_WRITABLE`) before anything is read.
 *
 * @example
 * ```ts
 * const ac = new AbortController();
 * process.once('SIGTERM', () => ac.abort());
 * await runReader(config, { sink, telemetry }, ac.signal);
 * ```
 */
export async function runReader(
  config: ReaderConfig,
  deps: ReaderDeps,
  signal: AbortSignal,
): Promise<void> {
  // One reader per state dir: a second one would deliver everything again.
  const lock = await lockStateDir(config.stateDir);
  try {
    await runLocked(config, deps, signal);
  } finally {
    await lock.release();
  }
}

async function runLocked(config: ReaderConfig, deps: ReaderDeps, signal: AbortSignal) {
  const { telemetry } = deps;
  const { log, metrics } = telemetry;
  const single = deps.sink;
  const specs: readonly LaneSpec[] =
    deps.lanes ?? (single ? [{ name: single.name, open: () => Promise.resolve(single) }] : []);
  if (specs.length === 0) throw new TypeError('runReader needs a sink or lanes');
  const stores = await openLaneStores(
    config.stateDir,
    specs.map((s) => s.name),
    log,
  );
  const deadLetter = createDeadLetter(config.stateDir, { telemetry });
  const several = specs.length > 1;
  const diskExport = deps.diskExport !== false;
  const coordinator = several
    ? createLaneCoordinator(
        specs.map((s, i) => ({ name: s.name, store: stores[i]!, maxLag: s.maxLag })),
      )
    : undefined;
  const shared =
    several && diskExport
      ? createSharedDiscovery({
          root: config.root,
          poll: config.poll,
          intervalMs: config.intervalMs,
          telemetry,
        })
      : undefined;
  // What the volume holds is counted, and bad input reported, once: by the lane that reads it
  // first (so also after a lane stopped for good).
  const tally = several ? createVolumeTally() : undefined;
  const lagSeconds = new Map<string, number>();
  const showLag = () => {
    if (!coordinator) return;
    for (const [sink, lag] of coordinator.lag()) {
      metrics.sinkLagRecords.set({ sink }, lag.records);
      metrics.sinkLagBytes.set({ sink }, lag.bytes);
    }
  };
  const lagTimer = coordinator ? setInterval(showLag, config.intervalMs) : undefined;
  lagTimer?.unref();
  log.info(
    {
      root: config.root,
      stateDir: config.stateDir,
      mode: config.mode,
      sinks: specs.map((s) => s.name),
    },
    'reader started',
  );
  const results = await Promise.allSettled(
    specs.map((spec, i) =>
      runLane(
        spec,
        stores[i]!,
        {
          config,
          telemetry,
          deadLetter,
          diskExport,
          extraSources: deps.extraSources,
          coordinator,
          discover: shared?.discover,
          tally,
          onLag: several
            ? (seconds) => {
                lagSeconds.set(spec.name, seconds);
                metrics.sinkLagSeconds.set({ sink: spec.name }, seconds);
                metrics.lagSeconds.set(Math.max(...lagSeconds.values()));
              }
            : (seconds) => {
                metrics.sinkLagSeconds.set({ sink: spec.name }, seconds);
                metrics.lagSeconds.set(seconds);
              },
        },
        signal,
      ).catch((err: unknown) => {
        if (several && !quietFailure(err)) {
          log.error(
            { sink: spec.name, err: (err as Error).message },
            'sink stopped for good; the other sinks go on (its checkpoint holds its runs)',
          );
        }
        throw err;
      }),
    ),
  );
  clearInterval(lagTimer);
  showLag();
  await shared?.close();
  log.info('reader stopped; checkpoint saved');
  const failed = results.filter((r) => r.status === 'rejected');
  if (failed.length === specs.length) throw failed[0]!.reason;
}

export type { Delivery, Sink };
