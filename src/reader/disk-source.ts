import { errnoCode, isGkExportError } from '../errors.ts';
import { InvalidCode } from '../telemetry/index.ts';
import { checkpointKey } from '../pipeline/checkpoint.ts';
import type { Deliver, Source } from '../pipeline/source.ts';
import { createBadEntries } from './bad-entries.ts';
import { retryDeletes } from './channel-retention.ts';
import type { DiskSourceOptions, SourceContext } from './disk-context.ts';
import { createBatchWindow, PipelineFailure } from './batch-window.ts';
import { dropRun, idle, newChannel, pathInRoot, wake, type Channel } from './channel.ts';
import { inChannelDir } from './channel-dir.ts';
import { startDiscovery, type Discovery } from './discovery.ts';
import { rootListingHealth } from './root-listing.ts';
import { isHeldByWriter } from './locks.ts';
import { createDeleteRetries } from './retention.ts';
import { createRunFiles } from './run-files.ts';
import { pump } from './run-pump.ts';
import {
  completedFiles,
  markAbandoned,
  markComplete,
  markFoundDelivered,
  markGone,
  markHeld,
  markListed,
  markUndelivered,
  newRunState,
  runCheckpointKey,
  type RunState,
} from './run-state.ts';
import { readRoot, scanChannel, type RootListing, type ScannedFile } from './scan.ts';

export type { DiskSourceOptions } from './disk-context.ts';

/**
 * The disk-export source: follows every channel under the root, delivers each completed run
 * once (oldest completion first, lines in order), optionally streams open runs, consumes
 * admission segments, and applies the reader's retention once runs are delivered.
 *
 * @example
 * ```ts
 * const source = createDiskSource({ root, mode: 'all', followOpen: false, … });
 * await source.run(deliver, controller.signal);
 * ```
 */
export function createDiskSource(opts: DiskSourceOptions): Source {
  const { telemetry, store } = opts;
  const { log, metrics } = telemetry;
  const channels = new Map<string, Channel>();
  let stopping = false;
  /** Aborted with `stopping`: ends waits that only stopping ends (a blocked dead letter). */
  const halt = new AbortController();
  const bad = createBadEntries({ telemetry, deadLetter: opts.deadLetter });
  const files = createRunFiles({
    maxOpenFiles: opts.maxOpenFiles,
    metrics,
    bad,
    rescan: (ch) => {
      ch.fullScan = true;
      requestScan(ch);
    },
  });
  const ctx: SourceContext = {
    opts,
    bad,
    files,
    deletes: createDeleteRetries(opts.intervalMs, DELETE_RETRY_MAX_MS),
    halt: halt.signal,
    requestScan,
    updateLag,
  };
  const rootHealth = rootListingHealth({ root: opts.root, intervalMs: opts.intervalMs, telemetry });
  let discovery: Discovery | undefined;
  let deliver: Deliver;
  let fail: (err: unknown) => void = () => undefined;

  const wanted = (f: ScannedFile) =>
    f.state.startsWith('admission') ? opts.mode !== 'audit' : opts.mode !== 'admission';

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

  /** A run that vanished before it was opened: its undelivered lines are lost. */
  function reportLost(ch: Channel, r: RunState): void {
    const saved = store.get(runCheckpointKey(r));
    const lostBytes = Math.max(0, r.size - (saved?.offset ?? 0));
    metrics.runsPopped.inc();
    const fields = { channel: ch.name, run: r.run, file: pathInRoot(ch, r.name), lostBytes };
    if (lostBytes === 0 && r.phase !== 'open') {
      // Every line was acknowledged before (a restart came between the last batch and the
      // "done" mark): a completed file does not grow, so nothing is lost.
      log.info(fields, 'run deleted after all its lines were delivered');
    } else {
      metrics.lostRuns.inc();
      metrics.lostBytes.inc(lostBytes);
      log.error(fields, 'run deleted before it could be delivered: its undelivered lines are lost');
    }
    dropRun(ch, r, store);
  }

  async function scan(ch: Channel): Promise<void> {
    // Completed files do not change: only new names and open runs need an lstat (a backlog
    // of thousands of runs would otherwise be lstat'ed again at every event).
    // The periodic rescan (full) still lstats everything, so a replaced file is found.
    let full = ch.fullScan;
    ch.fullScan = false;
    const known = full ? new Map<string, ScannedFile>() : completedFiles(ch.runs.values());
    const inDir = await inChannelDir(ch.dir, undefined, (base, id) => {
      // A channel deleted and recreated is another directory: nothing known holds there.
      const same = ch.id !== undefined && ch.id.dev === id.dev && ch.id.ino === id.ino;
      return scanChannel(base, (name) => (same ? known.get(name) : undefined));
    });
    const scanned = inDir.ok ? inDir.value : undefined;
    if (inDir.ok) {
      if (ch.id && (ch.id.dev !== inDir.id.dev || ch.id.ino !== inDir.id.ino)) full = true;
      ch.id = inDir.id;
      ch.reported.delete(SYMLINK_CHANNEL);
    } else if (inDir.problem === 'missing') {
      ch.reported.delete(SYMLINK_CHANNEL);
    } else if (inDir.problem === 'symlink') {
      // Never followed: its files (outside the root, maybe) are neither read nor deleted.
      await bad.once(
        ch,
        SYMLINK_CHANNEL,
        '',
        InvalidCode.Symlink,
        'channel is a symlink; not followed',
      );
    }
    for (const name of scanned?.notUtf8 ?? []) {
      await bad.once(
        ch,
        `name:${name}`,
        name,
        InvalidCode.InvalidName,
        'file name is not valid UTF-8; ignored',
      );
    }
    const now = Date.now();
    const present = new Set<string>();
    for (const f of scanned?.files ?? []) {
      if (!wanted(f) || f.state === 'admission-open') continue;
      if (f.type !== 'file') {
        const code = f.type === 'symlink' ? InvalidCode.Symlink : InvalidCode.NotARegularFile;
        await bad.file(ch, f, code, `${f.type} named like a run file; ignored`);
        continue;
      }
      present.add(f.ino);
      let r = ch.runs.get(f.ino);
      if (r && r.run !== f.run && !r.fh && !r.opening) {
        // The inode of a closed file was reused by a new run's file (deleted and created
        // between two scans). Only a different run name says so: sizes can be stale, as a
        // scan's lstat may predate a delivery that finished meanwhile.
        if (r.delivered) dropRun(ch, r, store);
        else reportLost(ch, r);
        r = undefined;
      }
      if (!r) {
        r = newRunState(ch.name, f, now);
        const saved = store.get(runCheckpointKey(r));
        if (saved && saved.offset > f.size) {
          // Shorter than what was delivered: not the file the checkpoint describes.
          store.delete(runCheckpointKey(r));
        } else if (saved?.done && saved.offset === f.size) {
          markFoundDelivered(r);
        }
        if (!r.delivered) metrics.runsPushed.inc();
        ch.runs.set(f.ino, r);
      } else if (r.delivered && f.size > r.size) {
        const saved = store.get(runCheckpointKey(r));
        if (saved?.done && f.size > saved.offset) {
          // Gatekeeper never appends to a completed run, but if someone does, the new lines
          // are delivered too (from the checkpoint, which is just past the old end).
          markUndelivered(r);
          metrics.runsPushed.inc();
          log.warn(
            {
              channel: ch.name,
              run: r.run,
              file: pathInRoot(ch, f.name),
              bytes: f.size - saved.offset,
            },
            'lines were appended to a delivered run; delivering them',
          );
        }
      }
      // Listed, so not gone (a listing that missed it, or a deletion that failed).
      markListed(r, f, now, full);
      // Hold every undelivered file open from first sight: the writer's retention can then
      // delete it without the reader losing a line.
      await files.ensureOpen(ch, r);
    }
    if (scanned && scanned.vanished > 0) {
      // The directory changed during the scan: a run renamed meanwhile (.txt → .log) is under
      // neither name here. Taking it for deleted would forget its checkpoint and deliver it
      // again when the next scan finds it, so nothing is concluded from absence: look again.
      ch.rescan = true;
    } else {
      for (const r of [...ch.runs.values()]) {
        if (present.has(r.ino)) continue;
        if (r.fh || r.opening) {
          // Read through its descriptor, which the delivery loop owns and closes.
          markGone(r);
          // A .txt that vanished unseen as .log was completed and deleted at once (the writer's
          // retention with maxAuditResults 0) — or removed by someone else. Once no writer holds
          // it, it will not grow: deliver what it has.
          if (!r.delivered && r.fh && r.phase === 'open' && !isHeldByWriter(r.fh.fd)) {
            markComplete(r);
          }
        } else if (r.delivered) {
          dropRun(ch, r, store);
        } else {
          reportLost(ch, r);
        }
      }
      if (scanned && !ch.pruned) {
        pruneCheckpoints(ch);
        ch.pruned = true;
      }
    }
    await detectAbandoned(ch, now);
    updateLag(now);
    wake(ch);
  }

  /** The age of the oldest completed run not yet delivered, across channels (0 when caught up). */
  function updateLag(now: number): void {
    let oldest = now;
    for (const c of channels.values()) {
      for (const r of c.runs.values()) {
        if (!r.delivered && r.phase !== 'open' && r.mtimeMs < oldest) oldest = r.mtimeMs;
      }
    }
    metrics.lagSeconds.set(Math.max(0, (now - oldest) / 1000));
  }

  /** Drops checkpoints of this channel's files that no longer exist (deleted while we were down). */
  function pruneCheckpoints(ch: Channel): void {
    for (const e of [...store.entries()]) {
      if (e.channel !== ch.name) continue;
      const mine =
        e.source === 'audit'
          ? opts.mode !== 'admission'
          : e.source === 'admission' && opts.mode !== 'audit';
      if (!mine) continue;
      const r = ch.runs.get(e.ino);
      if (!r || r.run !== e.run) store.delete(checkpointKey(e));
    }
  }

  async function detectAbandoned(ch: Channel, now: number): Promise<void> {
    for (const r of ch.runs.values()) {
      if (r.phase !== 'open' || r.delivered || !r.fh) continue;
      if (r.gone) {
        if (!isHeldByWriter(r.fh.fd)) markComplete(r);
        continue;
      }
      if (now - r.lastGrowthMs < opts.abandonAfterMs) continue;
      if (isHeldByWriter(r.fh.fd)) {
        markHeld(r, now);
        continue;
      }
      markAbandoned(r);
      log.warn(
        { channel: ch.name, run: r.run, file: pathInRoot(ch, r.name) },
        'unlocked run file stopped growing: delivering it as an abandoned run',
      );
    }
  }

  function requestScan(ch: Channel): void {
    if (ch.scanning) {
      ch.rescan = true;
      return;
    }
    ch.scanning = (async () => {
      do {
        ch.rescan = false;
        const started = performance.now();
        try {
          await scan(ch);
          if (ch.scanFailure !== undefined) {
            ch.scanFailure = undefined;
            log.info({ channel: ch.name }, 'channel scan works again');
          }
        } catch (err) {
          // Logged once per cause: the periodic rescan retries without a line per attempt.
          const cause = errnoCode(err) ?? (err as Error).message;
          if (ch.scanFailure !== cause) {
            ch.scanFailure = cause;
            log.warn({ channel: ch.name, err: (err as Error).message }, 'channel scan failed');
          }
        }
        if (ch.rescan && !stopping) {
          // Each event asks for a scan, and a scan reads the whole directory: back to back, a
          // backlog of N files consumed one by one would cost N scans of up to N entries.
          // Spacing scans by a multiple of their own duration bounds them to a share of the
          // time (a small directory is rescanned within a millisecond or so).
          const pause = Math.min(
            SCAN_PAUSE_MAX_MS,
            (performance.now() - started) * SCAN_PAUSE_FACTOR,
          );
          await new Promise((resolve) => setTimeout(resolve, pause));
        }
      } while (ch.rescan && !stopping);
      ch.scanning = undefined;
    })();
  }

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
      await bad.once(
        undefined,
        name,
        name,
        InvalidCode.InvalidName,
        'channel name is not valid UTF-8; ignored',
      );
    }
    // A symlink becomes a channel too, so that its scan reports it (and reads nothing).
    for (const e of listing.entries) channel(e.name);
    for (const ch of channels.values()) {
      ch.fullScan = true;
      requestScan(ch);
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
    while (!stopping) {
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
        if (stopping && isGkExportError(err, 'ERR_DEAD_LETTER_INTERRUPTED')) break;
        // A read error on one file: say so and try again after the rescan period.
        log.warn(
          { channel: ch.name, run: r?.run, err: (err as Error).message },
          'read failed; retrying',
        );
      }
      if (!progressed && !stopping) {
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
      discovery = startDiscovery({
        root: opts.root,
        poll: opts.poll,
        intervalMs: opts.intervalMs,
        telemetry,
        onChange: (name) => {
          if (stopping) return;
          if (name === undefined) void scanAll().catch((err: unknown) => rootHealth.failed(err));
          else requestScan(channel(name));
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
      stopping = true;
      halt.abort();
      await discovery.close();
      for (const ch of channels.values()) wake(ch);
      await Promise.all([...channels.values()].map((ch) => Promise.all([ch.loop, ch.scanning])));
      for (const ch of channels.values()) for (const r of ch.runs.values()) await files.close(r);
      if (failure !== undefined) throw failure;
    },
  };
}

/** Longest wait between two attempts to delete a delivered file that could not be deleted. */
const DELETE_RETRY_MAX_MS = 60_000;

/** A scan asked for during a scan waits this many times the last scan's duration … */
const SCAN_PAUSE_FACTOR = 3;
/** … but never longer than this. */
const SCAN_PAUSE_MAX_MS = 200;

/** The `reported` key of a channel that is a symlink. */
const SYMLINK_CHANNEL = 'symlink-channel';

/** How soon an open run being followed is read again when no event came. */
const FOLLOW_RECHECK_MS = 50;
