// Deletes of delivered files: the reader's retention of audit runs, the consumption of
// admission segments, and the retries of both when a delete fails. A file is deleted only
// inside the channel directory the last scan read, and only if it is still the same inode.
import { forgetRun, inChannel, pathInRoot, type Channel } from './channel.ts';
import type { SourceContext } from './disk-context.ts';
import { withExclusiveLock } from './locks.ts';
import { deleteSegment, runsBeyondRetention, unlinkIfSame } from './retention.ts';
import { openInChannel } from './run-files.ts';
import { markGone, runCheckpointKey, type RunState } from './run-state.ts';

/**
 * Deletes the channel's delivered audit runs beyond --max-audit-results, oldest first. A run
 * whose delete fails stays delivered (forgetting it would drop its checkpoint, and the next
 * scan would deliver it again) and is tried again after a backoff.
 *
 * @example
 * ```ts
 * await finish(run);
 * await applyRetention(ctx, ch);
 * ```
 */
export async function applyRetention(ctx: SourceContext, ch: Channel): Promise<void> {
  const { deletes, opts } = ctx;
  const { log, metrics } = opts.telemetry;
  for (const r of runsBeyondRetention(ch.runs.values(), opts.maxAuditResults)) {
    const key = runCheckpointKey(r);
    if (!deletes.due(key, Date.now())) continue;
    // Another sink still reads it: the last one to finish it deletes it.
    if (opts.retention?.mayDelete(key) === false) continue;
    try {
      if (await inChannel(ch, (base) => unlinkIfSame(base, r.name, r.ino))) {
        metrics.filesDeleted.inc({ reason: 'retention' });
        log.debug({ channel: ch.name, run: r.run }, 'delivered run deleted by retention');
      }
      deleteDone(ctx, ch, r, key);
    } catch (err) {
      deleteFailed(ctx, ch, r, 'retention', err);
      continue;
    }
    forgetRun(ch, r, opts.store);
  }
}

/**
 * Deletes a delivered admission segment the contract's way (under LOCK_EX, renamed to
 * `.deleting`, unlinked). A retry comes after the run's descriptor was closed: the segment is
 * then opened just for it.
 *
 * @example
 * ```ts
 * if (r.kind === 'admission' && opts.deleteAfterRead) await consumeSegment(ctx, ch, r);
 * ```
 */
export async function consumeSegment(ctx: SourceContext, ch: Channel, r: RunState): Promise<void> {
  const { deletes } = ctx;
  const key = runCheckpointKey(r);
  if (r.gone || !deletes.due(key, Date.now())) return;
  // Another sink still reads it: the last one to finish it deletes it.
  if (ctx.opts.retention?.mayDelete(key) === false) return;
  const own = r.fh ? undefined : await openInChannel(ch, r);
  if (own && 'failure' in own) {
    if (own.failure === 'gone' || own.failure === 'replaced') deletes.succeeded(key);
    else deleteFailed(ctx, ch, r, 'admission_consumed', new Error(own.message));
    return;
  }
  const fh = (r.fh ?? own)!;
  try {
    const deleted = await withExclusiveLock(fh.fd, () =>
      inChannel(ch, (base) => deleteSegment(base, r.name, r.ino)),
    );
    if (deleted) {
      ctx.opts.telemetry.metrics.filesDeleted.inc({ reason: 'admission_consumed' });
      markGone(r);
      deleteDone(ctx, ch, r, key);
    }
  } catch (err) {
    deleteFailed(ctx, ch, r, 'admission_consumed', err);
  } finally {
    await own?.close().catch(() => undefined);
  }
}

/**
 * The deletes that are due while the channel idles: retention (also of runs found delivered
 * at start) and the consumption of segments whose delete failed before.
 *
 * @example
 * ```ts
 * if (!progressed) await retryDeletes(ctx, ch);
 * ```
 */
export async function retryDeletes(ctx: SourceContext, ch: Channel): Promise<void> {
  await applyRetention(ctx, ch);
  if (!ctx.opts.deleteAfterRead) return;
  for (const r of [...ch.runs.values()]) {
    if (r.kind !== 'admission' || !r.delivered || r.gone) continue;
    // With several sinks, a segment this one delivered waits for the others to be done.
    if (!ctx.deletes.has(runCheckpointKey(r)) && !ctx.opts.retention) continue;
    await consumeSegment(ctx, ch, r);
    if (r.gone) forgetRun(ch, r, ctx.opts.store);
  }
}

function deleteDone(ctx: SourceContext, ch: Channel, r: RunState, key: string): void {
  const failed = ctx.deletes.succeeded(key);
  if (failed > 0) {
    ctx.opts.telemetry.log.info(
      { channel: ch.name, run: r.run, file: pathInRoot(ch, r.name), failedAttempts: failed },
      'delivered file deleted after earlier attempts failed',
    );
  }
}

function deleteFailed(
  ctx: SourceContext,
  ch: Channel,
  r: RunState,
  reason: string,
  err: unknown,
): void {
  const { log, metrics } = ctx.opts.telemetry;
  metrics.deleteFailures.inc({ reason });
  if (ctx.deletes.failed(runCheckpointKey(r), Date.now())) {
    log.error(
      {
        channel: ch.name,
        run: r.run,
        file: pathInRoot(ch, r.name),
        reason,
        err: (err as Error).message,
      },
      'cannot delete a delivered file (read-only volume or no write permission on the channel directory?): it stays delivered and the delete is retried with backoff',
    );
  }
}
