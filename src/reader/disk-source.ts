import { isGkExportError } from '../errors.ts';
import type { Deliver, Source } from '../pipeline/source.ts';
import { InvalidCode } from '../telemetry/index.ts';
import { createBadEntries } from './bad-entries.ts';
import { SOLE_READER } from './lanes/volume-tally.ts';
import { createBatchWindow, PipelineFailure } from './batch-window.ts';
import { idle, newChannel, wake, type Channel } from './channel.ts';
import { retryDeletes } from './channel-retention.ts';
import type { DiskSourceOptions, SourceContext } from './disk-context.ts';
import { startDiscovery, type Discovery } from './discovery.ts';
import { requestScan } from './reconcile.ts';
import { createDeleteRetries } from './retention.ts';
import { rootListingHealth } from './root-listing.ts';
import { createRunFiles } from './run-files.ts';
import { pump } from './run-pump.ts';
import type { RunState } from './run-state.ts';
import { readRoot, type RootListing } from './scan.ts';

export type { DiskSourceOptions } from './disk-context.ts';

/** Longest wait between two attempts to delete a delivered file that could not be deleted. */
const DELETE_RETRY_MAX_MS = 60_000;

/**
 * How soon an open run being followed is read again when no event came. Shorter than the
 * watcher's 50 ms throttle of a file's change events: an append that follows the last one
 * within it comes with no event until the throttle ends (a read that finds nothing is a
 * cheap pread).
 */
const FOLLOW_RECHECK_MS = 10;

/**
 * The disk-export source: follows every channel under the root, delivers each completed run
 * once (oldest completion first, lines in order), optionally streams open runs, consumes
 * admission segments, and applies the reader's retention once runs are delivered.
 *
 * Each channel has one delivery loop (this file): it picks the channel's next run, pumps it
 * (run-pump.ts) and idles until a scan (reconcile.ts) wakes it; deletes of delivered files are
 * channel-retention.ts's.
 *
 * @example
 * ```ts
 * const source = createDiskSource({ root, mode: 'all', followOpen: false, … });
 * await source.run(deliver, controller.signal);
 * ```
 */
export function createDiskSource(opts: DiskSourceOptions): Source {
  const { telemetry } = opts;
  const { log, metrics } = telemetry;
  const channels = new Map<string, Channel>();
  /** Aborted when the source stops: ends its loops, scans and waits. */
  const halt = new AbortController();
  const tally = opts.tally ?? SOLE_READER;
  const bad = createBadEntries({ telemetry, deadLetter: opts.deadLetter, tally });
  const rootHealth = rootListingHealth({ root: opts.root, intervalMs: opts.intervalMs, telemetry });
  let discovery: Discovery | undefined;
  let deliver: Deliver;
  let fail: (err: unknown) => void = () => undefined;

  const ctx: SourceContext = {
    opts,
    bad,
    tally,
    files: createRunFiles({
      maxOpenFiles: opts.maxOpenFiles,
      metrics,
      bad,
      rescan: (ch) => {
        ch.fullScan = true;
        requestScan(ctx, ch);
      },
    }),
    deletes: createDeleteRetries(opts.intervalMs, DELETE_RETRY_MAX_MS),
    halt: halt.signal,
    updateLag,
  };

  function channel(name: string): Channel {
    let ch = channels.get(name);
    if (!ch) {
      ch = newChannel(
        opts.root,
        name,
        createBatchWindow(deliver, (err) => fail(err)),
      );
      channels.set(name, ch);
      ch.loop = deliveryLoop(ch);
    }
    return ch;
  }

  /** The age of the oldest completed run not yet delivered, across channels (0 when caught up). */
  function updateLag(now: number): void {
    let oldest = now;
    for (const c of channels.values()) {
      for (const r of c.runs.values()) {
        if (!r.delivered && r.phase !== 'open' && r.mtimeMs < oldest) oldest = r.mtimeMs;
      }
    }
    const seconds = Math.max(0, (now - oldest) / 1000);
    if (opts.onLag) opts.onLag(seconds);
    else metrics.lagSeconds.set(seconds);
  }

  /** Lists the root: every channel found is scanned (in full), new ones get a delivery loop. */
  async function scanAll(): Promise<void> {
    if (!rootHealth.due()) return;
    let listing: RootListing;
    try {
      listing = await readRoot(opts.root);
    } catch (err) {
      rootHealth.failed(err);
      return;
    }
    // The watcher missed the channels while the root could not be read: watch it afresh.
    if (rootHealth.recovered()) discovery?.rewatch();
    for (const name of listing.notUtf8) {
      const why = 'channel name is not valid UTF-8; ignored';
      await bad.once(undefined, name, name, InvalidCode.InvalidName, why);
    }
    // A symlink becomes a channel too, so that its scan reports it (and reads nothing).
    for (const e of listing.entries) channel(e.name);
    for (const ch of channels.values()) {
      ch.fullScan = true;
      requestScan(ctx, ch);
    }
  }

  /** The next run to work on: completed runs oldest first, then open runs being followed. */
  function pick(ch: Channel): RunState | undefined {
    let best: RunState | undefined;
    for (const r of ch.runs.values()) {
      if (r.delivered || r.openFailed) continue;
      if (r.phase === 'open' && !opts.followOpen) continue;
      if (!best || before(r, best)) best = r;
    }
    return best;
  }

  function before(a: RunState, b: RunState): boolean {
    const ao = a.phase === 'open' ? 1 : 0;
    const bo = b.phase === 'open' ? 1 : 0;
    if (ao !== bo) return ao < bo;
    // Admission segments carry their creation time in their names.
    if (a.kind === 'admission' && b.kind === 'admission') return a.name < b.name;
    if (a.mtimeMs !== b.mtimeMs) return a.mtimeMs < b.mtimeMs;
    return a.name < b.name;
  }

  /** Waits for a wake-up (a scan saw a change) or the rescan period, whichever is first. */
  async function idleUntilWoken(ch: Channel): Promise<void> {
    // While a followed run is open, look again soon even without an event: the watcher
    // reports a file's changes at most about once per 50 ms and drops the rest, so the last
    // append of a burst may come with no event at all.
    const following = !ch.woken && opts.followOpen && pick(ch)?.phase === 'open';
    await idle(ch, following ? Math.min(opts.intervalMs, FOLLOW_RECHECK_MS) : opts.intervalMs);
  }

  async function deliveryLoop(ch: Channel): Promise<void> {
    while (!halt.signal.aborted) {
      ch.woken = false;
      const r = pick(ch);
      let progressed = false;
      try {
        progressed = r ? await pump(ctx, ch, r) : false;
      } catch (err) {
        if (err instanceof PipelineFailure) {
          // The sinks or the checkpoint failed for good: stop rather than skip records.
          fail(err.cause);
          return;
        }
        // Stopped while a bad line waited for the dead letter: the checkpoint stays before it.
        if (halt.signal.aborted && isGkExportError(err, 'ERR_DEAD_LETTER_INTERRUPTED')) break;
        // A read error on one file: say so and try again after the rescan period.
        log.warn(
          { channel: ch.name, run: r?.run, err: (err as Error).message },
          'read failed; retrying',
        );
      }
      if (!progressed && !halt.signal.aborted) {
        await retryDeletes(ctx, ch).catch((err: unknown) =>
          log.warn({ channel: ch.name, err: (err as Error).message }, 'retrying deletes failed'),
        );
        await idleUntilWoken(ch);
      }
    }
    // Stopping: the batches in flight finish and are checkpointed.
    await ch.window.settle().catch((err: unknown) => fail((err as PipelineFailure).cause));
  }

  return {
    name: 'disk-export',
    async run(pipeline: Deliver, signal: AbortSignal): Promise<void> {
      deliver = pipeline;
      let failure: unknown;
      const failed = new Promise<void>((resolve) => {
        fail = (err) => {
          failure ??= err;
          resolve();
        };
      });
      discovery = (opts.discover ?? startDiscovery)({
        root: opts.root,
        poll: opts.poll,
        intervalMs: opts.intervalMs,
        telemetry,
        onChange: (name) => {
          if (halt.signal.aborted) return;
          if (name === undefined) void scanAll().catch((err: unknown) => rootHealth.failed(err));
          else requestScan(ctx, channel(name));
        },
      });
      await discovery.ready;
      await Promise.race([
        failed,
        new Promise<void>((resolve) => {
          if (signal.aborted) resolve();
          else signal.addEventListener('abort', () => resolve(), { once: true });
        }),
      ]);
      halt.abort();
      await discovery.close();
      for (const ch of channels.values()) wake(ch);
      await Promise.all([...channels.values()].map((ch) => Promise.all([ch.loop, ch.scanning])));
      for (const ch of channels.values())
        for (const r of ch.runs.values()) await ctx.files.close(r);
      if (failure !== undefined) throw failure;
    },
  };
}
