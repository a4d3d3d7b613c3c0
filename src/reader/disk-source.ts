import { join } from 'node:path';
import type { DeadLetter } from '../dead-letter.ts';
import type { Delivery } from '../sinks/sink.ts';
import { InvalidCode, type Telemetry } from '../telemetry/index.ts';
import { checkpointKey, type CheckpointEntry, type CheckpointStore } from './checkpoint.ts';
import { decodeLines } from './decode-line.ts';
import { startDiscovery } from './discovery.ts';
import { reportInvalid } from './invalid.ts';
import { createLineReader, type RawLine } from './line-reader.ts';
import { isHeldByWriter, withExclusiveLock } from './locks.ts';
import { deleteSegment, runsBeyondRetention, unlinkIfSame } from './retention.ts';
import { newRunState, openRunFile, runEntry, runKey, type RunState } from './run-state.ts';
import { listChannels, scanChannel, type ScannedFile } from './scan.ts';
import type { Deliver, Source } from './source.ts';

/** What the disk-export source consumes. */
export type ReadMode = 'all' | 'audit' | 'admission';

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
  readonly batchMaxLines: number;
  readonly batchMaxBytes: number;
  readonly poll: boolean;
  /** Polling interval and safety-net rescan period. */
  readonly intervalMs: number;
  readonly store: CheckpointStore;
  readonly telemetry: Telemetry;
  readonly deadLetter: DeadLetter;
}

interface Channel {
  readonly name: string;
  readonly dir: string;
  readonly runs: Map<string, RunState>;
  /** Bad entries already reported (name@ino), so each is reported once. */
  readonly reported: Set<string>;
  /** Set when something changed since the delivery loop last looked. */
  woken: boolean;
  resolveWait?: () => void;
  scanning?: Promise<void>;
  rescan: boolean;
  /** The next scan lstats every entry (set by the periodic rescan). */
  fullScan: boolean;
  loop?: Promise<void>;
  /** Deliveries handed to the pipeline and not yet acknowledged, oldest first. */
  readonly pending: Promise<void>[];
}

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
  let openFiles = 0;
  let stopping = false;
  let deliver: Deliver;
  let window = 1;
  let fail: (err: unknown) => void = () => undefined;

  const rel = (ch: Channel, name: string) => `${ch.name}/${name}`;
  const wanted = (f: ScannedFile) =>
    f.state.startsWith('admission') ? opts.mode !== 'audit' : opts.mode !== 'admission';

  function channel(name: string): Channel {
    let ch = channels.get(name);
    if (!ch) {
      ch = {
        name,
        dir: join(opts.root, name),
        runs: new Map(),
        reported: new Set(),
        woken: false,
        rescan: false,
        fullScan: true,
        pending: [],
      };
      channels.set(name, ch);
      ch.loop = deliveryLoop(ch);
    }
    return ch;
  }

  async function reportBadFile(ch: Channel, f: ScannedFile, code: InvalidCode, reason: string) {
    const id = `${f.name}@${f.ino}`;
    if (ch.reported.has(id)) return;
    ch.reported.add(id);
    await reportInvalid(
      { telemetry, deadLetter: opts.deadLetter },
      {
        file: rel(ch, f.name),
        line: 0,
        code,
        reason,
      },
    );
  }

  /**
   * Opens a run file if it is not open yet. Beyond --max-open-files only the run a channel
   * is about to deliver is opened (`now`), so the limit can be exceeded by one per channel
   * but delivery never waits for a descriptor.
   */
  async function ensureOpen(ch: Channel, r: RunState, now = false): Promise<void> {
    if (r.fh || r.delivered || r.gone) return;
    if (openFiles >= opts.maxOpenFiles && !now) return;
    openFiles += 1;
    const res = await openRunFile(ch.dir, r);
    if ('failure' in res) {
      openFiles -= 1;
      if (res.failure === 'unreadable' || res.failure === 'not-a-regular-file') {
        const code =
          res.failure === 'unreadable' ? InvalidCode.Unreadable : InvalidCode.NotARegularFile;
        const f = { name: r.name, ino: r.ino } as ScannedFile;
        await reportBadFile(ch, f, code, res.message);
      }
      ch.rescan = true;
      return;
    }
    r.fh = res;
  }

  async function closeRun(r: RunState): Promise<void> {
    const fh = r.fh;
    r.fh = undefined;
    r.reader = undefined;
    if (fh) {
      openFiles -= 1;
      await fh.close().catch(() => undefined);
    }
  }

  function forget(ch: Channel, r: RunState): void {
    ch.runs.delete(r.ino);
    store.delete(runKey(r));
  }

  async function scan(ch: Channel): Promise<void> {
    // Completed files do not change: only new names and open runs need an lstat (a backlog
    // of thousands of runs would otherwise be lstat'ed again at every event).
    // The periodic rescan (full) still lstats everything, so a replaced file is found.
    const full = ch.fullScan;
    ch.fullScan = false;
    const known = new Map<string, ScannedFile>();
    for (const r of full ? [] : ch.runs.values()) {
      if (r.phase === 'complete' && r.delivered && !r.gone) {
        const state = r.kind === 'admission' ? 'admission-complete' : 'audit-complete';
        known.set(r.name, {
          name: r.name,
          state,
          run: r.run,
          type: 'file',
          ino: r.ino,
          size: r.size,
          mtimeMs: r.mtimeMs,
        });
      }
    }
    const scanned = await scanChannel(ch.dir, (name) => known.get(name));
    const now = Date.now();
    const present = new Set<string>();
    for (const f of scanned?.files ?? []) {
      if (!wanted(f) || f.state === 'admission-open') continue;
      if (f.type !== 'file') {
        const code = f.type === 'symlink' ? InvalidCode.Symlink : InvalidCode.NotARegularFile;
        await reportBadFile(ch, f, code, `${f.type} named like a run file; ignored`);
        continue;
      }
      present.add(f.ino);
      let r = ch.runs.get(f.ino);
      if (r && r.delivered && !r.fh && r.run !== f.run) {
        // The inode of a delivered, closed file was reused by a new run's file (deleted and
        // created between two scans). Only a different run name says so: sizes can be stale,
        // as a scan's lstat may predate a delivery that finished meanwhile.
        forget(ch, r);
        r = undefined;
      }
      if (!r) {
        r = newRunState(ch.name, f, now);
        const saved = store.get(runKey(r));
        if (saved && saved.offset > f.size) {
          // Shorter than what was delivered: not the file the checkpoint describes.
          store.delete(runKey(r));
        } else if (saved?.done && saved.offset === f.size) {
          r.delivered = true;
        }
        if (!r.delivered) metrics.runsPushed.inc();
        ch.runs.set(f.ino, r);
      }
      r.name = f.name;
      if (f.state !== 'audit-open' && r.phase === 'open') r.phase = 'complete';
      if (r.phase !== 'open') r.mtimeMs = f.mtimeMs;
      if (f.size !== r.size) {
        r.size = f.size;
        r.lastGrowthMs = now;
      }
      // Hold every undelivered file open from first sight: the writer's retention can then
      // delete it without the reader losing a line.
      await ensureOpen(ch, r);
    }
    if (scanned && scanned.vanished > 0) {
      // The directory changed during the scan: a run renamed meanwhile (.txt → .log) is under
      // neither name here. Taking it for deleted would forget its checkpoint and deliver it
      // again when the next scan finds it, so nothing is concluded from absence: look again.
      ch.rescan = true;
    } else {
      for (const r of [...ch.runs.values()]) {
        if (present.has(r.ino)) continue;
        if (r.delivered) {
          await closeRun(r);
          forget(ch, r);
        } else if (r.fh) {
          r.gone = true;
          // A .txt that vanished unseen as .log was completed and deleted at once (the writer's
          // retention with maxAuditResults 0) — or removed by someone else. Once no writer holds
          // it, it will not grow: deliver what it has.
          if (r.phase === 'open' && !isHeldByWriter(r.fh.fd)) r.phase = 'complete';
        } else {
          const saved = store.get(runKey(r));
          const lostBytes = Math.max(0, r.size - (saved?.offset ?? 0));
          metrics.lostRuns.inc();
          metrics.lostBytes.inc(lostBytes);
          metrics.runsPopped.inc();
          log.error(
            { channel: ch.name, run: r.run, file: rel(ch, r.name), lostBytes },
            'run deleted before it could be delivered: its undelivered lines are lost',
          );
          forget(ch, r);
        }
      }
      if (scanned) pruneCheckpoints(ch);
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
        if (!isHeldByWriter(r.fh.fd)) r.phase = 'complete';
        continue;
      }
      if (now - r.lastGrowthMs < opts.abandonAfterMs) continue;
      if (isHeldByWriter(r.fh.fd)) {
        r.lastGrowthMs = now;
        continue;
      }
      r.phase = 'abandoned';
      log.warn(
        { channel: ch.name, run: r.run, file: rel(ch, r.name) },
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
        try {
          await scan(ch);
        } catch (err) {
          log.warn({ channel: ch.name, err: (err as Error).message }, 'channel scan failed');
        }
      } while (ch.rescan && !stopping);
      ch.scanning = undefined;
    })();
  }

  async function scanAll(): Promise<void> {
    for (const name of await listChannels(opts.root)) channel(name);
    for (const ch of channels.values()) {
      ch.fullScan = true;
      requestScan(ch);
    }
  }

  /** The next run to work on: completed runs oldest first, then open runs being followed. */
  function pick(ch: Channel): RunState | undefined {
    let best: RunState | undefined;
    for (const r of ch.runs.values()) {
      if (r.delivered) continue;
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

  /** Delivers what is available of a run. Returns false when it had nothing to do. */
  async function pump(ch: Channel, r: RunState): Promise<boolean> {
    await ensureOpen(ch, r, true);
    if (!r.fh) return false;
    if (!r.reader) {
      const saved = store.get(runKey(r));
      r.reader = createLineReader(
        r.fh,
        { offset: saved?.offset ?? 0, line: saved?.line ?? 0 },
        { maxLineBytes: opts.maxRecordBytes },
      );
    }
    const reader = r.reader;
    const lines = await reader.read(opts.batchMaxLines, opts.batchMaxBytes);
    if (lines.length === 0) {
      if (r.phase === 'open') return false;
      const rest = await reader.takeRemainder();
      if (rest) {
        await handleLines(ch, r, [rest]);
        await send(ch, [], runEntry(r, reader.position(), false));
      }
      await finishRun(ch, r);
      return true;
    }
    const batch = await handleLines(ch, r, lines);
    // A short batch of a completed file may be its last: then it carries the "done" mark
    // itself, saving a checkpoint write per run (a backlog of small runs is mostly these).
    // (Fewer lines and bytes than a full batch means read() stopped at the end of the file.)
    const batchBytes = lines[lines.length - 1]!.end - lines[0]!.start;
    if (
      r.phase !== 'open' &&
      lines.length < opts.batchMaxLines &&
      batchBytes < opts.batchMaxBytes
    ) {
      const rest = await reader.takeRemainder();
      if (!rest) {
        await send(ch, batch, runEntry(r, reader.position(), true), true);
        await finishRun(ch, r, true);
        return true;
      }
      const more = await handleLines(ch, r, [rest]);
      await send(ch, [...batch, ...more], runEntry(r, reader.position(), false));
      return true;
    }
    // A completed run's next batch is read while this one is written and checkpointed. An
    // open run's is not: after the ack the loop reads again, and so catches lines appended
    // meanwhile without waiting for an event.
    await send(ch, batch, runEntry(r, reader.position(), false), false, r.phase !== 'open');
    return true;
  }

  async function handleLines(ch: Channel, r: RunState, lines: RawLine[]): Promise<Delivery[]> {
    const batch: Delivery[] = [];
    const origin = { source: r.kind, channel: ch.name, run: r.run } as const;
    const decoded = decodeLines(origin, lines);
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!;
      const d = decoded[i]!;
      r.lines += 1;
      if ('code' in d) {
        r.invalid += 1;
        await reportInvalid(
          { telemetry, deadLetter: opts.deadLetter },
          {
            file: rel(ch, r.name),
            line: line.number,
            code: d.code,
            reason: d.reason,
            bytes: line.bytes,
          },
        );
        continue;
      }
      if (line.crlf && r.invalid === 0) {
        log.warn(
          { file: rel(ch, r.name), line: line.number },
          'CRLF line end; delivered without the CR',
        );
      }
      if (d.marker === 'completed') r.sawCompletion = true;
      if (!d.marker) {
        r.violations += 1;
        const name = d.name ?? '';
        r.byConstraint.set(name, (r.byConstraint.get(name) ?? 0) + 1);
      }
      batch.push(d);
    }
    metrics.recordsRead.inc({ source: r.kind }, lines.length);
    return batch;
  }

  async function finishRun(ch: Channel, r: RunState, checkpointed = false): Promise<void> {
    const pos = r.reader?.position() ?? { offset: 0, line: 0 };
    if (!checkpointed) await send(ch, [], runEntry(r, pos, true), true);
    r.delivered = true;
    const state =
      r.phase === 'abandoned'
        ? 'abandoned'
        : r.kind === 'admission' || r.sawCompletion
          ? 'complete'
          : 'incomplete';
    metrics.runsPopped.inc();
    metrics.runsCompleted.inc({ state });
    const summary = {
      channel: ch.name,
      run: r.run,
      kind: r.kind,
      state,
      lines: r.lines,
      violations: r.violations,
      invalid: r.invalid,
      constraints: Object.fromEntries(r.byConstraint),
      deliveryMs: r.phase === 'open' ? undefined : Math.max(0, Date.now() - r.mtimeMs),
    };
    if (state === 'incomplete') log.warn(summary, 'run delivered without its completion marker');
    else log.info(summary, 'run delivered');
    if (r.kind === 'admission' && opts.deleteAfterRead) await consumeSegment(ch, r);
    await closeRun(r);
    if (r.gone) forget(ch, r);
    await applyRetention(ch);
    updateLag(Date.now());
  }

  async function consumeSegment(ch: Channel, r: RunState): Promise<void> {
    if (!r.fh || r.gone) return;
    const deleted = await withExclusiveLock(r.fh.fd, () => deleteSegment(ch.dir, r.name, r.ino));
    if (deleted) {
      metrics.filesDeleted.inc({ reason: 'admission_consumed' });
      r.gone = true;
    }
  }

  async function applyRetention(ch: Channel): Promise<void> {
    for (const r of runsBeyondRetention(ch.runs.values(), opts.maxAuditResults)) {
      try {
        if (await unlinkIfSame(ch.dir, r.name, r.ino)) {
          metrics.filesDeleted.inc({ reason: 'retention' });
          log.debug({ channel: ch.name, run: r.run }, 'delivered run deleted by retention');
        }
      } catch (err) {
        log.warn(
          { channel: ch.name, run: r.run, err: (err as Error).message },
          'retention could not delete a run',
        );
      }
      forget(ch, r);
    }
  }

  function wake(ch: Channel): void {
    ch.woken = true;
    ch.resolveWait?.();
  }

  /** Waits for a wake-up (a scan saw a change) or the rescan period, whichever is first. */
  async function idle(ch: Channel): Promise<void> {
    if (!ch.woken) {
      // While a followed run is open, look again soon even without an event: the watcher
      // reports a file's changes at most about once per 50 ms and drops the rest, so the last
      // append of a burst may come with no event at all.
      const following = opts.followOpen && pick(ch)?.phase === 'open';
      const wait = following ? Math.min(opts.intervalMs, FOLLOW_RECHECK_MS) : opts.intervalMs;
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        ch.resolveWait = resolve;
        timer = setTimeout(resolve, wait);
      });
      clearTimeout(timer);
      ch.resolveWait = undefined;
    }
    ch.woken = false;
  }

  /**
   * Hands a batch to the pipeline, keeping at most `window` of the channel's batches
   * unacknowledged, plus one waiting for its turn when `readAhead`: the next batch is then read
   * and checked while the sink and the checkpoint work on the earlier ones. (The pipeline
   * starts writing a batch only once the window has room, so no more batches are in flight
   * either way.) `last` (the run is done after it) waits for every one of them.
   */
  async function send(
    ch: Channel,
    batch: readonly Delivery[],
    after: CheckpointEntry,
    last = false,
    readAhead = false,
  ): Promise<void> {
    const p = deliver(batch, after, { more: !last && ch.pending.length + 1 < window });
    // A failure stops the source even while this channel idles with batches in flight.
    p.catch((err: unknown) => fail(err));
    ch.pending.push(p);
    if (last) await settle(ch);
    else while (ch.pending.length >= window + (readAhead ? 1 : 0)) await oldest(ch);
  }

  async function settle(ch: Channel): Promise<void> {
    while (ch.pending.length > 0) await oldest(ch);
  }

  async function oldest(ch: Channel): Promise<void> {
    try {
      await ch.pending.shift();
    } catch (err) {
      // Every later batch fails too (the pipeline's failures are sticky).
      ch.pending.length = 0;
      throw new PipelineFailure(err);
    }
  }

  async function deliveryLoop(ch: Channel): Promise<void> {
    while (!stopping) {
      ch.woken = false;
      const r = pick(ch);
      let progressed = false;
      try {
        progressed = r ? await pump(ch, r) : false;
      } catch (err) {
        if (err instanceof PipelineFailure) {
          // The sinks or the checkpoint failed for good: stop rather than skip records.
          fail(err.cause);
          return;
        }
        // A read error on one file: say so and try again after the rescan period.
        log.warn(
          { channel: ch.name, run: r?.run, err: (err as Error).message },
          'read failed; retrying',
        );
      }
      if (!progressed && !stopping) await idle(ch);
    }
    // Stopping: the batches in flight finish and are checkpointed.
    await settle(ch).catch((err: unknown) => fail((err as PipelineFailure).cause));
  }

  return {
    name: 'disk-export',
    async run(pipeline: Deliver, signal: AbortSignal): Promise<void> {
      deliver = pipeline;
      window = Math.max(1, pipeline.window ?? 1);
      let failure: unknown;
      const failed = new Promise<void>((resolve) => {
        fail = (err) => {
          failure ??= err;
          resolve();
        };
      });
      const discovery = startDiscovery({
        root: opts.root,
        poll: opts.poll,
        intervalMs: opts.intervalMs,
        telemetry,
        onChange: (name) => {
          if (stopping) return;
          if (name === undefined) void scanAll();
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
      await discovery.close();
      for (const ch of channels.values()) wake(ch);
      await Promise.all([...channels.values()].map((ch) => Promise.all([ch.loop, ch.scanning])));
      for (const ch of channels.values()) for (const r of ch.runs.values()) await closeRun(r);
      if (failure !== undefined) throw failure;
    },
  };
}

/**
 * How soon an open run being followed is read again when no event came. Shorter than the
 * watcher's 50 ms throttle of a file's change events: an append that follows the last one
 * within it comes with no event until the throttle ends (a read that finds nothing is a
 * cheap pread).
 */
const FOLLOW_RECHECK_MS = 10;

/** An error from the pipeline (sink or checkpoint), as opposed to reading a file. */
class PipelineFailure extends Error {
  constructor(cause: unknown) {
    super('delivery failed', { cause });
  }
}
