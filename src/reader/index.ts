import { createDeadLetter } from '../dead-letter.ts';
import { isGkExportError } from '../errors.ts';
import type { Delivery, Sink } from '../sinks/sink.ts';
import type { Telemetry } from '../telemetry/index.ts';
import { openCheckpointStore, type CheckpointStore } from '../pipeline/checkpoint.ts';
import { createDiskSource } from './disk-source.ts';
import { createRecordFilter } from './filters.ts';
import type { ReaderConfig } from './options.ts';
import { createPipeline } from '../pipeline/pipeline.ts';
import type { Source } from '../pipeline/source.ts';
import { lockStateDir } from './state-lock.ts';

export type { ReaderConfig } from './options.ts';

/** What a running reader needs besides its config. */
export interface ReaderDeps {
  /** Its `interrupt()`, when present, ends the sink's retries at shutdown. */
  readonly sink: Sink;
  readonly telemetry: Telemetry;
  /**
   * Extra sources beside the disk export (e.g. the API server's audit log); each receives the
   * reader's checkpoint store and dead letter.
   */
  readonly extraSources?: (ctx: {
    store: CheckpointStore;
    deadLetter: ReturnType<typeof createDeadLetter>;
  }) => Source[];
  /** Set false to run only the extra sources. */
  readonly diskExport?: boolean;
}

/**
 * Runs the reader until `signal` aborts: sources → filter → sink → ack → checkpoint →
 * retention. On abort every source finishes its in-flight batch, the sink is flushed and
 * closed and the checkpoint saved; then the promise resolves. It first takes the state dir's
 * lock: another reader on it, or a state dir that is not writable, rejects at once
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
  const { telemetry, sink } = deps;
  const store = await openCheckpointStore(config.stateDir);
  const deadLetter = createDeadLetter(config.stateDir, { telemetry });
  const filter = createRecordFilter(config.filters, telemetry.metrics);
  // A source that fails for good stops the reader: the others are asked to stop too.
  const inner = new AbortController();
  const deliver = createPipeline({
    sink,
    store,
    filter,
    telemetry,
    deadLetter,
    signal: inner.signal,
  });
  const sources: Source[] = [];
  if (deps.diskExport !== false) {
    sources.push(createDiskSource({ ...config, store, telemetry, deadLetter }));
  }
  sources.push(...(deps.extraSources?.({ store, deadLetter }) ?? []));
  telemetry.log.info(
    {
      root: config.root,
      stateDir: config.stateDir,
      mode: config.mode,
      sources: sources.map((s) => s.name),
    },
    'reader started',
  );
  const onAbort = () => {
    inner.abort();
    // A sink retrying against a receiver that is down would hold shutdown forever.
    sink.interrupt?.();
  };
  signal.addEventListener('abort', onAbort, { once: true });
  if (signal.aborted) onAbort();
  let failure: unknown;
  await Promise.all(
    sources.map((s) =>
      s.run(deliver, inner.signal).catch((err: unknown) => {
        failure ??= err;
        // A sink that was stopped or lost its stdout: the caller says so in one line.
        if (!isGkExportError(err) || !QUIET_FAILURES.has(err.code)) {
          telemetry.log.error({ source: s.name, err: (err as Error).message }, 'source stopped');
        }
        inner.abort();
      }),
    ),
  );
  signal.removeEventListener('abort', onAbort);
  await sink.close();
  await store.flush();
  telemetry.log.info('reader stopped; checkpoint saved');
  if (failure) throw failure;
}

/** Failures the command reports itself, in one line. */
const QUIET_FAILURES: ReadonlySet<string> = new Set([
  'ERR_SINK_INTERRUPTED',
  'ERR_DEAD_LETTER_INTERRUPTED',
  'ERR_STDOUT_CLOSED',
  'ERR_STDOUT_WRITE',
]);

export type { Delivery, Sink };
