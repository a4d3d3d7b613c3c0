import { createDeadLetter } from '../dead-letter.ts';
import type { Delivery, Sink } from '../sinks/sink.ts';
import type { Telemetry } from '../telemetry/index.ts';
import { openCheckpointStore, type CheckpointStore } from '../pipeline/checkpoint.ts';
import { createDiskSource } from './disk-source.ts';
import { createRecordFilter } from './filters.ts';
import type { ReaderConfig } from './options.ts';
import { createPipeline } from '../pipeline/pipeline.ts';
import type { Source } from '../pipeline/source.ts';

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
 * closed and the checkpoint saved; then the promise resolves.
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
  const { telemetry, sink } = deps;
  const store = await openCheckpointStore(config.stateDir);
  const deadLetter = createDeadLetter(config.stateDir);
  const filter = createRecordFilter(config.filters, telemetry.metrics);
  const deliver = createPipeline({ sink, store, filter, telemetry });
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
  // A source that fails for good stops the reader: the others are asked to stop too.
  const inner = new AbortController();
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
        telemetry.log.error({ source: s.name, err: (err as Error).message }, 'source stopped');
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

export type { Delivery, Sink };
