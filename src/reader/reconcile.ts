// Channel reconciliation: when to scan a channel directory, and what a scan concludes about
// its runs — new runs (and whether the checkpoint says they were delivered), renamed and grown
// files, inodes reused by another run, runs gone (lost, or read on through their descriptor),
// checkpoints of files deleted while the reader was down, and runs abandoned by their writer.
import { errnoCode } from '../errors.ts';
import { checkpointKey } from '../pipeline/checkpoint.ts';
import { InvalidCode } from '../telemetry/index.ts';
import { monotonicMs } from '../telemetry/clock.ts';
import { entryKey } from './bad-entries.ts';
import { dropRun, pathInRoot, wake, type Channel } from './channel.ts';
import { inChannelDir } from './channel-dir.ts';
import type { SourceContext } from './disk-context.ts';
import { isHeldByWriter } from './locks.ts';
import {
  completedByWriter,
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
import { scanChannel, type ScannedFile } from './scan.ts';

/** A scan asked for during a scan waits this many times the last scan's duration … */
const SCAN_PAUSE_FACTOR = 3;
/** … but never longer than this. */
const SCAN_PAUSE_MAX_MS = 200;

/** The `reported` key of a channel that is a symlink. */
const SYMLINK_CHANNEL = 'symlink-channel';

/**
 * Scans the channel now, or once more after the scan in progress. A failing scan is logged
 * once per cause (the periodic rescan retries); the first one to work again says so.
 *
 * @example
 * ```ts
 * discovery.onChange = (name) => requestScan(ctx, channel(name));
 * ```
 */
export function requestScan(ctx: SourceContext, ch: Channel): void {
  const { log } = ctx.opts.telemetry;
  if (ch.scanning) {
    ch.rescan = true;
    return;
  }
  ch.scanning = (async () => {
    do {
      ch.rescan = false;
      const started = monotonicMs();
      try {
        await reconcile(ctx, ch);
        if (ch.scanFailure !== undefined) {
          ch.scanFailure = undefined;
          log.info({ channel: ch.name }, 'channel scan works again');
        }
      } catch (err) {
        const cause = errnoCode(err) ?? (err as Error).message;
        if (ch.scanFailure !== cause) {
          ch.scanFailure = cause;
          log.warn({ channel: ch.name, err: (err as Error).message }, 'channel scan failed');
        }
      }
      if (ch.rescan && !ctx.halt.aborted) {
        // Each event asks for a scan, and a scan reads the whole directory: back to back, a
        // backlog of N files consumed one by one would cost N scans of up to N entries.
        // Spacing scans by a multiple of their own duration bounds them to a share of the
        // time (a small directory is rescanned within a millisecond or so).
        const pause = Math.min(SCAN_PAUSE_MAX_MS, (monotonicMs() - started) * SCAN_PAUSE_FACTOR);
        await new Promise((resolve) => setTimeout(resolve, pause));
      }
    } while (ch.rescan && !ctx.halt.aborted);
    ch.scanning = undefined;
  })();
}

/** One scan of the channel directory, and what it concludes about the channel's runs. */
async function reconcile(ctx: SourceContext, ch: Channel): Promise<void> {
  const { opts } = ctx;
  const listed = await list(ctx, ch);
  const full = listed?.full ?? false;
  const now = Date.now();
  const present = new Set<string>();
  const wanted = (f: ScannedFile) =>
    f.state.startsWith('admission') ? opts.mode !== 'audit' : opts.mode !== 'admission';
  for (const f of listed?.files ?? []) {
    if (!wanted(f) || f.state === 'admission-open') continue;
    if (f.type !== 'file') {
      const code = f.type === 'symlink' ? InvalidCode.Symlink : InvalidCode.NotARegularFile;
      await ctx.bad.file(ch, f, code, `${f.type} named like a run file; ignored`);
      continue;
    }
    present.add(f.ino);
    const r = track(ctx, ch, f, now);
    // Listed, so not gone (a listing that missed it, or a deletion that failed).
    markListed(r, f, now, full);
    // Hold every undelivered file open from first sight: the writer's retention can then
    // delete it without the reader losing a line.
    await ctx.files.ensureOpen(ch, r);
  }
  if (listed && listed.vanished > 0) {
    // The directory changed during the scan: a run renamed meanwhile (.txt → .log) is under
    // neither name here. Taking it for deleted would forget its checkpoint and deliver it
    // again when the next scan finds it, so nothing is concluded from absence: look again.
    ch.rescan = true;
  } else {
    for (const r of [...ch.runs.values()]) if (!present.has(r.ino)) absent(ctx, ch, r);
    if (listed && !ch.pruned) {
      pruneCheckpoints(ctx, ch);
      ch.pruned = true;
    }
  }
  detectAbandoned(ctx, ch, now);
  ctx.updateLag(now);
  wake(ch);
}

/** The channel is no longer a symlink: if it becomes one again, that is reported again. */
function symlinkGone(ctx: SourceContext, ch: Channel): void {
  if (ch.reported.delete(SYMLINK_CHANNEL)) ctx.tally.forget(entryKey(ch, SYMLINK_CHANNEL));
}

/**
 * Lists the channel directory, never through a symlink (a symlinked channel is reported once
 * and read nothing from), and reports names that are not UTF-8. Completed files do not
 * change: only new names and open runs need an lstat (a backlog of thousands of runs would
 * otherwise be lstat'ed again at every event). The periodic rescan (full) still lstats
 * everything, so a replaced file is found. Undefined when the channel is not a directory.
 */
async function list(ctx: SourceContext, ch: Channel) {
  let full = ch.fullScan;
  ch.fullScan = false;
  const known = full ? new Map<string, ScannedFile>() : completedFiles(ch.runs.values());
  const inDir = await inChannelDir(ch.dir, undefined, (base, id) => {
    // A channel deleted and recreated is another directory: nothing known holds there.
    const same = ch.id !== undefined && ch.id.dev === id.dev && ch.id.ino === id.ino;
    return scanChannel(base, (name) => (same ? known.get(name) : undefined));
  });
  if (inDir.ok) {
    if (ch.id && (ch.id.dev !== inDir.id.dev || ch.id.ino !== inDir.id.ino)) full = true;
    ch.id = inDir.id;
    symlinkGone(ctx, ch);
  } else if (inDir.problem === 'missing') {
    symlinkGone(ctx, ch);
  } else if (inDir.problem === 'symlink') {
    // Never followed: its files (outside the root, maybe) are neither read nor deleted.
    const why = 'channel is a symlink; not followed';
    await ctx.bad.once(ch, SYMLINK_CHANNEL, '', InvalidCode.Symlink, why);
  }
  const scanned = inDir.ok ? inDir.value : undefined;
  for (const name of scanned?.notUtf8 ?? []) {
    const why = 'file name is not valid UTF-8; ignored';
    await ctx.bad.once(ch, `name:${name}`, name, InvalidCode.InvalidName, why);
  }
  return scanned && { ...scanned, full };
}

/** The run a listed file is: the one known by its inode, or a new one. */
function track(ctx: SourceContext, ch: Channel, f: ScannedFile, now: number): RunState {
  const { store, telemetry } = ctx.opts;
  let r = ch.runs.get(f.ino);
  if (r && !r.fh && !r.opening && (r.run !== f.run || reopened(r, f))) {
    // The inode of a closed file was reused by a new run's file (deleted and created
    // between two scans). A different run name says so, and so does a `.txt` where a
    // completed run was (a run is never renamed back; a deleted and recreated channel
    // can bring the same run name on the same inode). Sizes cannot: they can be stale,
    // as a scan's lstat may predate a delivery that finished meanwhile.
    if (r.delivered) dropRun(ch, r, store);
    else reportLost(ctx, ch, r);
    ctx.tally.replaced(runCheckpointKey(r));
    r = undefined;
  }
  if (!r) {
    r = newRunState(ch.name, f, now);
    const saved = store.get(runCheckpointKey(r));
    if (saved && saved.offset > f.size) {
      // Shorter than what was delivered: not the file the checkpoint describes.
      store.delete(runCheckpointKey(r));
      ctx.tally.replaced(runCheckpointKey(r));
    } else if (saved?.done && saved.offset === f.size) {
      markFoundDelivered(r);
    }
    if (!r.delivered && ctx.tally.found(runCheckpointKey(r))) telemetry.metrics.runsPushed.inc();
    ch.runs.set(f.ino, r);
  } else if (r.delivered && f.size > r.size) {
    const saved = store.get(runCheckpointKey(r));
    if (saved?.done && f.size > saved.offset) {
      // Gatekeeper never appends to a completed run, but if someone does, the new lines
      // are delivered too (from the checkpoint, which is just past the old end).
      markUndelivered(r);
      if (ctx.tally.grew(runCheckpointKey(r))) telemetry.metrics.runsPushed.inc();
      const bytes = f.size - saved.offset;
      telemetry.log.warn(
        { channel: ch.name, run: r.run, file: pathInRoot(ch, f.name), bytes },
        'lines were appended to a delivered run; delivering them',
      );
    }
  }
  return r;
}

/** A completed run's inode listed again as an open `.txt`: a new file on a reused inode. */
function reopened(r: RunState, f: ScannedFile): boolean {
  return completedByWriter(r) && f.state === 'audit-open';
}

/** A known run the scan did not list. */
function absent(ctx: SourceContext, ch: Channel, r: RunState): void {
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
    dropRun(ch, r, ctx.opts.store);
  } else {
    reportLost(ctx, ch, r);
  }
}

/** A run that vanished before it was opened: its undelivered lines are lost. */
function reportLost(ctx: SourceContext, ch: Channel, r: RunState): void {
  const { store, telemetry } = ctx.opts;
  const { log, metrics } = telemetry;
  const saved = store.get(runCheckpointKey(r));
  const lostBytes = Math.max(0, r.size - (saved?.offset ?? 0));
  if (ctx.tally.finished(runCheckpointKey(r))) metrics.runsPopped.inc();
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

/** Drops checkpoints of this channel's files that no longer exist (deleted while we were down). */
function pruneCheckpoints(ctx: SourceContext, ch: Channel): void {
  const { store, mode } = ctx.opts;
  for (const e of [...store.entries()]) {
    if (e.channel !== ch.name) continue;
    const mine =
      e.source === 'audit' ? mode !== 'admission' : e.source === 'admission' && mode !== 'audit';
    if (!mine) continue;
    const r = ch.runs.get(e.ino);
    if (!r || r.run !== e.run) store.delete(checkpointKey(e));
  }
}

/**
 * Open runs that no writer holds and that stopped growing for --abandon-after are abandoned;
 * an open run gone from the directory that no writer holds is complete (it will not grow).
 */
function detectAbandoned(ctx: SourceContext, ch: Channel, now: number): void {
  for (const r of ch.runs.values()) {
    if (r.phase !== 'open' || r.delivered || !r.fh) continue;
    if (r.gone) {
      if (!isHeldByWriter(r.fh.fd)) markComplete(r);
      continue;
    }
    if (now - r.lastGrowthMs < ctx.opts.abandonAfterMs) continue;
    if (isHeldByWriter(r.fh.fd)) {
      markHeld(r, now);
      continue;
    }
    markAbandoned(r);
    ctx.opts.telemetry.log.warn(
      { channel: ch.name, run: r.run, file: pathInRoot(ch, r.name) },
      'unlocked run file stopped growing: delivering it as an abandoned run',
    );
  }
}
