import { join } from 'node:path';
import type { DeadLetter } from '../dead-letter.ts';
import { errnoCode, isGkExportError } from '../errors.ts';
import type { Delivery } from '../sinks/sink.ts';
import { InvalidCode, type Telemetry } from '../telemetry/index.ts';
import {
  checkpointKey,
  type CheckpointEntry,
  type CheckpointStore,
} from '../pipeline/checkpoint.ts';
import { reportInvalid } from '../pipeline/invalid.ts';
import type { Deliver, Source } from '../pipeline/source.ts';
import { inChannelDir, type DirIdentity } from './channel-dir.ts';
import { decodeLines } from './decode-line.ts';
import { startDiscovery, type Discovery, type DiscoveryOptions } from './discovery.ts';
import { rootListingHealth } from './root-listing.ts';
import { createLineReader, type RawLine } from './line-reader.ts';
import type { RetentionGate } from './lanes/coordinator.ts';
import { isHeldByWriter, withExclusiveLock } from './locks.ts';
import {
  createDeleteRetries,
  deleteSegment,
  runsBeyondRetention,
  unlinkIfSame,
} from './retention.ts';
import {
  completedFiles,
  newRunState,
  openRunFile,
  runEntry,
  runKey,
  type RunState,
} from './run-state.ts';
import type { ReadMode } from './options.ts';
import { readRoot, scanChannel, type RootListing, type ScannedFile } from './scan.ts';

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
  /** With several sinks: a delivered file is deleted only once every sink is done with it. */
  readonly retention?: RetentionGate;
  /** With several sinks: one watcher of the root shared by their sources. */
  readonly discover?: (o: DiscoveryOptions) => Discovery;
  /** Where the age of the oldest undelivered run goes (default: the reader's lag gauge). */
  readonly onLag?: (seconds: number) => void;
  /** False: bad lines and files are reported by another sink's source (each once). */
  readonly reportInvalid?: boolean;
}

interface Channel {
  readonly name: string;
  readonly dir: string;
  /** The real directory the last scan read; runs are opened and deleted only inside it. */
  id?: DirIdentity;
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
  /** Checkpoints of files deleted while the reader was down are dropped once, at first sight. */
  pruned: boolean;
  /** Why scans of this channel fail (errno code), logged once until they work again. */
  scanFailure?: string;
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
  /** Aborted with `stopping`: ends waits that only stopping ends (a blocked dead letter). */
  const halt = new AbortController();
  /** Deletes of delivered files that failed, retried with backoff while the run stays delivered. */
  const deletes = createDeleteRetries(opts.intervalMs, DELETE_RETRY_MAX_MS);
  /** Bad names in the root already reported. */
  const rootReported = new Set<string>();
  const rootHealth = rootListingHealth({ root: opts.root, intervalMs: opts.intervalMs, telemetry });
  let discovery: Discovery | undefined;
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
        pruned: false,
        pending: [],
      };
      channels.set(name, ch);
      ch.loop = deliveryLoop(ch);
    }
    return ch;
  }

  async function reportBadFile(ch: Channel, f: ScannedFile, code: InvalidCode, reason: string) {
    await reportOnce(ch, `${f.name}@${f.ino}`, f.name, code, reason);
  }

  /** Reports a bad file or channel the first time it is seen (`id` says what "the same" is). */
  async function reportOnce(
    ch: Channel | undefined,
    id: string,
    name: string,
    code: InvalidCode,
    reason: string,
  ): Promise<void> {
    const reported = ch?.reported ?? rootReported;
    if (reported.has(id)) return;
    reported.add(id);
    // Another sink's source reports it (each bad file once).
    if (opts.reportInvalid === false) return;
    await reportInvalid(
      { telemetry, deadLetter: opts.deadLetter },
      {
        file: ch ? rel(ch, name) : name,
        line: 0,
        code,
        reason,
      },
    );
  }

  function countOpen(delta: number): void {
    openFiles += delta;
    metrics.runFilesOpen.set(openFiles);
  }

  /**
   * Opens a run file if it is not open yet. Beyond --max-open-files only the run a channel
   * is about to deliver is opened (`now`), so the limit can be exceeded by one per channel
   * but delivery never waits for a descriptor. A scan and the delivery loop asking at once
   * share one open.
   */
  async function ensureOpen(ch: Channel, r: RunState, now = false): Promise<void> {
    if (r.opening) return r.opening;
    if (r.fh || r.delivered || r.gone || r.openFailed) return;
    if (openFiles >= opts.maxOpenFiles && !now) return;
    countOpen(1);
    r.opening = openRun(ch, r, now).finally(() => (r.opening = undefined));
    return r.opening;
  }

  async function openRun(ch: Channel, r: RunState, now: boolean): Promise<void> {
    let res: Awaited<ReturnType<typeof openRunFile>>;
    try {
      // Inside the channel directory the last scan read, never through a symlink.
      const inDir = await inChannelDir(ch.dir, ch.id, (base) => openRunFile(base, r));
      res = inDir.ok ? inDir.value : { failure: 'gone', message: `channel ${inDir.problem}` };
    } catch (err) {
      countOpen(-1);
      // EMFILE, EACCES on the directory …: a scan only tries to hold the file early and
      // tries again later; delivery reports it and retries.
      if (now) throw err;
      return;
    }
    if ('failure' in res) {
      countOpen(-1);
      if (res.failure === 'unreadable' || res.failure === 'not-a-regular-file') {
        // Not retried at every event (that would spin): the next full scan tries again.
        r.openFailed = true;
        const code =
          res.failure === 'unreadable' ? InvalidCode.Unreadable : InvalidCode.NotARegularFile;
        const f = { name: r.name, ino: r.ino } as ScannedFile;
        await reportBadFile(ch, f, code, res.message);
      } else {
        // Gone or replaced since the scan: look again, lstat'ing every entry.
        ch.fullScan = true;
        requestScan(ch);
      }
      return;
    }
    if (r.delivered || ch.runs.get(r.ino) !== r) {
      // Finished or forgotten while it was being opened: nobody will use it.
      countOpen(-1);
      await res.close().catch(() => undefined);
      return;
    }
    r.fh = res;
  }

  /** Closes a run's file (after an open in flight, if any): the one close of its one open. */
  async function closeRun(r: RunState): Promise<void> {
    if (r.opening) await r.opening.catch(() => undefined);
    const fh = r.fh;
    r.fh = undefined;
    r.reader = undefined;
    if (fh) {
      countOpen(-1);
      await fh.close().catch(() => undefined);
    }
  }

  /**
   * Stops delivering a run whose file is gone or being deleted. A delivered run stays known, as
   * gone, until a scan no longer lists its file: a scan that listed the file just before it
   * went would otherwise take it for a new run, fail to open it and report it lost.
   */
  function forget(ch: Channel, r: RunState): void {
    if (r.delivered) r.gone = true;
    else drop(ch, r);
  }

  /** Removes a run and its checkpoint for good. */
  function drop(ch: Channel, r: RunState): void {
    ch.runs.delete(r.ino);
    store.delete(runKey(r));
  }

  /** A run that vanished before it was opened: its undelivered lines are lost. */
  function reportLost(ch: Channel, r: RunState): void {
    const saved = store.get(runKey(r));
    const lostBytes = Math.max(0, r.size - (saved?.offset ?? 0));
    metrics.runsPopped.inc();
    const fields = { channel: ch.name, run: r.run, file: rel(ch, r.name), lostBytes };
    if (lostBytes === 0 && r.phase !== 'open') {
      // Every line was acknowledged before (a restart came between the last batch and the
      // "done" mark): a completed file does not grow, so nothing is lost.
      log.info(fields, 'run deleted after all its lines were delivered');
    } else {
      metrics.lostRuns.inc();
      metrics.lostBytes.inc(lostBytes);
      log.error(fields, 'run deleted before it could be delivered: its undelivered lines are lost');
    }
    drop(ch, r);
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
      await reportOnce(
        ch,
        SYMLINK_CHANNEL,
        '',
        InvalidCode.Symlink,
        'channel is a symlink; not followed',
      );
    }
    for (const name of scanned?.notUtf8 ?? []) {
      await reportOnce(
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
        await reportBadFile(ch, f, code, `${f.type} named like a run file; ignored`);
        continue;
      }
      present.add(f.ino);
      let r = ch.runs.get(f.ino);
      if (r && !r.fh && !r.opening && (r.run !== f.run || reopened(r, f))) {
        // The inode of a closed file was reused by a new run's file (deleted and created
        // between two scans). A different run name says so, and so does a `.txt` where a
        // completed run was (a run is never renamed back; a deleted and recreated channel
        // can bring the same run name on the same inode). Sizes cannot: they can be stale,
        // as a scan's lstat may predate a delivery that finished meanwhile.
        if (r.delivered) drop(ch, r);
        else reportLost(ch, r);
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
      } else if (r.delivered && f.size > r.size) {
        const saved = store.get(runKey(r));
        if (saved?.done && f.size > saved.offset) {
          // Gatekeeper never appends to a completed run, but if someone does, the new lines
          // are delivered too (from the checkpoint, which is just past the old end).
          r.delivered = false;
          metrics.runsPushed.inc();
          log.warn(
            { channel: ch.name, run: r.run, file: rel(ch, f.name), bytes: f.size - saved.offset },
            'lines were appended to a delivered run; delivering them',
          );
        }
      }
      // Listed, so not gone (a listing that missed it, or a deletion that failed).
      r.gone = false;
      if (full) r.openFailed = false;
      r.name = f.name;
      if (f.state !== 'audit-open' && r.phase === 'open') r.phase = 'complete';
      if (r.phase !== 'open') r.mtimeMs = f.mtimeMs > now ? Math.min(r.mtimeMs, now) : f.mtimeMs;
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
        if (r.fh || r.opening) {
          // Read through its descriptor, which the delivery loop owns and closes.
          r.gone = true;
          // A .txt that vanished unseen as .log was completed and deleted at once (the writer's
          // retention with maxAuditResults 0) — or removed by someone else. Once no writer holds
          // it, it will not grow: deliver what it has.
          if (!r.delivered && r.fh && r.phase === 'open' && !isHeldByWriter(r.fh.fd)) {
            r.phase = 'complete';
          }
        } else if (r.delivered) {
          drop(ch, r);
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
    const seconds = Math.max(0, (now - oldest) / 1000);
    if (opts.onLag) opts.onLag(seconds);
    else metrics.lagSeconds.set(seconds);
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
      await reportOnce(
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
      const all = await handleLines(ch, r, [rest], batch);
      await send(ch, all, runEntry(r, reader.position(), false));
      return true;
    }
    // A completed run's next batch is read while this one is written and checkpointed. An
    // open run's is not: after the ack the loop reads again, and so catches lines appended
    // meanwhile without waiting for an event.
    await send(ch, batch, runEntry(r, reader.position(), false), false, r.phase !== 'open');
    return true;
  }

  /** Decodes lines into a batch (after `prefix`, lines not yet sent that come before them). */
  async function handleLines(
    ch: Channel,
    r: RunState,
    lines: RawLine[],
    prefix: readonly Delivery[] = [],
  ): Promise<Delivery[]> {
    let batch: Delivery[] = [...prefix];
    const origin = { source: r.kind, channel: ch.name, run: r.run } as const;
    const decoded = decodeLines(origin, lines);
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!;
      const d = decoded[i]!;
      r.lines += 1;
      if ('code' in d) {
        r.invalid += 1;
        // Another sink's source reports it (each bad line once).
        if (opts.reportInvalid === false) continue;
        // A line that cannot be set aside holds up the run here (retrying) rather than being
        // skipped: the lines before it go out at once, with a checkpoint just before it.
        const before = batch;
        await reportInvalid(
          { telemetry, deadLetter: opts.deadLetter },
          {
            file: rel(ch, r.name),
            line: line.number,
            code: d.code,
            reason: d.reason,
            bytes: line.bytes,
          },
          {
            signal: halt.signal,
            onBlocked: async () => {
              batch = [];
              if (before.length === 0) return;
              const at = { offset: line.start, line: line.number - 1 };
              await send(ch, before, runEntry(r, at, false));
            },
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
    const key = runKey(r);
    if (r.gone || !deletes.due(key, Date.now())) return;
    // Another sink still reads it: the last one to finish it deletes it.
    if (opts.retention?.mayDelete(key) === false) return;
    // A retry comes after the run's descriptor was closed: the segment is opened just for it,
    // inside the channel directory the last scan read.
    let own: Awaited<ReturnType<typeof openRunFile>> | undefined;
    if (!r.fh) {
      const inDir = await inChannelDir(ch.dir, ch.id, (base) => openRunFile(base, r));
      own = inDir.ok ? inDir.value : { failure: 'gone', message: `channel ${inDir.problem}` };
    }
    if (own && 'failure' in own) {
      if (own.failure === 'gone' || own.failure === 'replaced') deletes.succeeded(key);
      else deleteFailed(ch, r, 'admission_consumed', new Error(own.message));
      return;
    }
    const fh = (r.fh ?? own)!;
    try {
      const deleted = await withExclusiveLock(fh.fd, () =>
        inChannel(ch, (base) => deleteSegment(base, r.name, r.ino)),
      );
      if (deleted) {
        metrics.filesDeleted.inc({ reason: 'admission_consumed' });
        r.gone = true;
        deleteDone(ch, r, key);
      }
    } catch (err) {
      deleteFailed(ch, r, 'admission_consumed', err);
    } finally {
      await own?.close().catch(() => undefined);
    }
  }

  async function applyRetention(ch: Channel): Promise<void> {
    for (const r of runsBeyondRetention(ch.runs.values(), opts.maxAuditResults)) {
      const key = runKey(r);
      if (!deletes.due(key, Date.now())) continue;
      // Another sink still reads it: the last one to finish it deletes it.
      if (opts.retention?.mayDelete(key) === false) continue;
      try {
        if (await inChannel(ch, (base) => unlinkIfSame(base, r.name, r.ino))) {
          metrics.filesDeleted.inc({ reason: 'retention' });
          log.debug({ channel: ch.name, run: r.run }, 'delivered run deleted by retention');
        }
        deleteDone(ch, r, key);
      } catch (err) {
        // Forgetting the run would drop its checkpoint, and the next scan would deliver it
        // again: it stays delivered, and the delete is tried again later.
        deleteFailed(ch, r, 'retention', err);
        continue;
      }
      forget(ch, r);
    }
  }

  function deleteDone(ch: Channel, r: RunState, key: string): void {
    const failed = deletes.succeeded(key);
    if (failed > 0) {
      log.info(
        { channel: ch.name, run: r.run, file: rel(ch, r.name), failedAttempts: failed },
        'delivered file deleted after earlier attempts failed',
      );
    }
  }

  function deleteFailed(ch: Channel, r: RunState, reason: string, err: unknown): void {
    metrics.deleteFailures.inc({ reason });
    if (deletes.failed(runKey(r), Date.now())) {
      log.error(
        {
          channel: ch.name,
          run: r.run,
          file: rel(ch, r.name),
          reason,
          err: (err as Error).message,
        },
        'cannot delete a delivered file (read-only volume or no write permission on the channel directory?): it stays delivered and the delete is retried with backoff',
      );
    }
  }

  /** Deletes that are due: retention (also of runs found delivered at start) and failed consumes. */
  async function retryDeletes(ch: Channel): Promise<void> {
    await applyRetention(ch);
    if (!opts.deleteAfterRead) return;
    for (const r of [...ch.runs.values()]) {
      if (r.kind !== 'admission' || !r.delivered || r.gone) continue;
      // With several sinks, a segment this one delivered waits for the others to be done.
      if (!deletes.has(runKey(r)) && !opts.retention) continue;
      await consumeSegment(ch, r);
      if (r.gone) forget(ch, r);
    }
  }

  /** Runs `fn` in the channel's directory as last scanned; false when it is not there. */
  async function inChannel(ch: Channel, fn: (base: string) => Promise<boolean>) {
    const res = await inChannelDir(ch.dir, ch.id, fn);
    return res.ok && res.value;
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
    // A request never spans two batches of a completed run (`readAhead`): after a restart its
    // batches are read again from the same checkpoints, so a request sent again holds the same
    // records and carries the same Idempotency-Key. A followed run's appends are combined.
    const more = !last && !readAhead && ch.pending.length + 1 < window;
    const p = deliver(batch, after, { more });
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
        // Stopped while a bad line waited for the dead letter: the checkpoint stays before it.
        if (stopping && isGkExportError(err, 'ERR_DEAD_LETTER_INTERRUPTED')) break;
        // A read error on one file: say so and try again after the rescan period.
        log.warn(
          { channel: ch.name, run: r?.run, err: (err as Error).message },
          'read failed; retrying',
        );
      }
      if (!progressed && !stopping) {
        await retryDeletes(ch).catch((err: unknown) =>
          log.warn({ channel: ch.name, err: (err as Error).message }, 'retrying deletes failed'),
        );
        await idle(ch);
      }
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
      discovery = (opts.discover ?? startDiscovery)({
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
      for (const ch of channels.values()) for (const r of ch.runs.values()) await closeRun(r);
      if (failure !== undefined) throw failure;
    },
  };
}

/** A completed run's inode listed again as an open `.txt`: a new file on a reused inode. */
function reopened(r: RunState, f: ScannedFile): boolean {
  return r.phase === 'complete' && f.state === 'audit-open';
}

/** Longest wait between two attempts to delete a delivered file that could not be deleted. */
const DELETE_RETRY_MAX_MS = 60_000;

/** A scan asked for during a scan waits this many times the last scan's duration … */
const SCAN_PAUSE_FACTOR = 3;
/** … but never longer than this. */
const SCAN_PAUSE_MAX_MS = 200;

/** The `reported` key of a channel that is a symlink. */
const SYMLINK_CHANNEL = 'symlink-channel';

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
