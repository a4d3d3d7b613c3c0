// The run pump: reads the next batch of a run, decodes and checks its lines, hands the batch
// to the channel's window, and once the run is read to its end and acknowledged, marks it
// delivered, closes it and deletes what retention says.
import { reportInvalid } from '../pipeline/invalid.ts';
import { optimizingCompilers, RUN_BYTES } from '../pipeline/optimizing-compilers.ts';
import type { Delivery } from '../sinks/sink.ts';
import { forgetRun, pathInRoot, type Channel } from './channel.ts';
import { applyRetention, consumeSegment } from './channel-retention.ts';
import { decodeLines } from './decode-line.ts';
import type { SourceContext } from './disk-context.ts';
import { createLineReader, type RawLine } from './line-reader.ts';
import { markDelivered, runCheckpointKey, runEntry, type RunState } from './run-state.ts';

/**
 * Delivers what is available of a run: one batch, or the run's end. Returns false when it had
 * nothing to do (an open run with no new line, or a file that could not be opened yet).
 * Errors reading the file are thrown; a failed delivery is a `PipelineFailure`.
 *
 * @example
 * ```ts
 * const progressed = await pump(ctx, ch, run);
 * ```
 */
export async function pump(ctx: SourceContext, ch: Channel, r: RunState): Promise<boolean> {
  const { opts } = ctx;
  await ctx.files.ensureOpen(ch, r, true);
  if (!r.fh) return false;
  if (!r.reader) {
    const saved = opts.store.get(runCheckpointKey(r));
    if (!optimizingCompilers.optimizing()) optimizingCompilers.noteBacklog(waiting(ch, opts.store));
    r.reader = createLineReader(
      r.fh,
      { offset: saved?.offset ?? 0, line: saved?.line ?? 0 },
      { maxLineBytes: opts.maxRecordBytes, recycleBuffers: true },
    );
  }
  const reader = r.reader;
  const lines = await reader.read(opts.batchMaxRecords, opts.batchMaxBytes);
  if (lines.length === 0) {
    if (r.phase === 'open') return false;
    const rest = await reader.takeRemainder();
    if (rest) {
      await handleLines(ctx, ch, r, [rest]);
      await ch.window.send([], runEntry(r, reader.position(), false), {
        onAcked: reader.lease(),
      });
    }
    await finishRun(ctx, ch, r, { checkpointed: false });
    return true;
  }
  const batch = await handleLines(ctx, ch, r, lines);
  // A short batch of a completed file may be its last: then it carries the "done" mark
  // itself, saving a checkpoint write per run (a backlog of small runs is mostly these).
  // (Fewer lines and bytes than a full batch means read() stopped at the end of the file.)
  const batchBytes = lines[lines.length - 1]!.end - lines[0]!.start;
  if (
    r.phase !== 'open' &&
    lines.length < opts.batchMaxRecords &&
    batchBytes < opts.batchMaxBytes
  ) {
    const rest = await reader.takeRemainder();
    if (!rest) {
      await ch.window.send(batch, runEntry(r, reader.position(), true), {
        endsRun: true,
        onAcked: reader.lease(),
      });
      await finishRun(ctx, ch, r, { checkpointed: true });
      return true;
    }
    const all = await handleLines(ctx, ch, r, [rest], batch);
    await ch.window.send(all, runEntry(r, reader.position(), false), { onAcked: reader.lease() });
    return true;
  }
  // A completed run's next batch is read while this one is written and checkpointed. An
  // open run's is not: after the ack the loop reads again, and so catches lines appended
  // meanwhile without waiting for an event.
  // (The lines' read buffers are held until the batch is acknowledged: batches sent earlier
  // for these lines, by a blocked dead letter, are acknowledged before it.)
  await ch.window.send(batch, runEntry(r, reader.position(), false), {
    readAhead: r.phase !== 'open',
    onAcked: reader.lease(),
  });
  return true;
}

/**
 * Decodes lines into a batch (after `prefix`, lines not yet sent that come before them),
 * counting them into the run's tallies. A bad line goes to the dead letter; one that cannot be
 * set aside holds up the run here (retrying) rather than being skipped: the lines before it
 * go out at once, with a checkpoint just before it.
 */
async function handleLines(
  ctx: SourceContext,
  ch: Channel,
  r: RunState,
  lines: RawLine[],
  prefix: readonly Delivery[] = [],
): Promise<Delivery[]> {
  const { log, metrics } = ctx.opts.telemetry;
  let batch: Delivery[] = [...prefix];
  const origin = { source: r.kind, channel: ch.name, run: r.run } as const;
  const decoded = decodeLines(origin, lines);
  // Lines another sink's lane read first were counted, and reported if bad, by it.
  const fresh = ctx.tally.fresh(runCheckpointKey(r), lines);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const d = decoded[i]!;
    r.lines += 1;
    if ('code' in d) {
      r.invalid += 1;
      if (i < fresh) continue;
      const before = batch;
      await reportInvalid(
        ctx.opts,
        {
          file: pathInRoot(ch, r.name),
          line: line.number,
          code: d.code,
          reason: d.reason,
          bytes: line.bytes,
        },
        {
          signal: ctx.halt,
          onBlocked: async () => {
            batch = [];
            if (before.length === 0) return;
            const at = { offset: line.start, line: line.number - 1 };
            await ch.window.send(before, runEntry(r, at, false));
          },
        },
      );
      continue;
    }
    if (line.crlf && r.invalid === 0) {
      log.warn(
        { file: pathInRoot(ch, r.name), line: line.number },
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
  if (fresh < lines.length) metrics.recordsRead.inc({ source: r.kind }, lines.length - fresh);
  return batch;
}

/**
 * A run read to its end: once its "done" checkpoint is acknowledged (`checkpointed`: its last
 * batch carried it), it is delivered: counted and logged with its final state, consumed (an
 * admission segment), closed, and the channel's retention applied.
 */
async function finishRun(
  ctx: SourceContext,
  ch: Channel,
  r: RunState,
  how: { readonly checkpointed: boolean },
): Promise<void> {
  const { opts } = ctx;
  const { log, metrics } = opts.telemetry;
  if (!how.checkpointed) {
    const pos = r.reader?.position() ?? { offset: 0, line: 0 };
    await ch.window.send([], runEntry(r, pos, true), { endsRun: true });
  }
  const state = markDelivered(r);
  if (ctx.tally.finished(runCheckpointKey(r))) {
    metrics.runsPopped.inc();
    metrics.runsCompleted.inc({ state });
  }
  const summary = {
    channel: ch.name,
    run: r.run,
    kind: r.kind,
    state,
    lines: r.lines,
    violations: r.violations,
    invalid: r.invalid,
    constraints: Object.fromEntries(r.byConstraint),
    deliveryMs: Math.max(0, Date.now() - r.mtimeMs),
  };
  if (state === 'incomplete') log.warn(summary, 'run delivered without its completion marker');
  else log.info(summary, 'run delivered');
  if (r.kind === 'admission' && opts.deleteAfterRead) await consumeSegment(ctx, ch, r);
  await ctx.files.close(r);
  if (r.gone) forgetRun(ch, r, opts.store);
  await applyRetention(ctx, ch);
  ctx.updateLag(Date.now());
}

/**
 * What the channel's undelivered runs hold for the optimizing compilers' backlog rule: their
 * bytes past their checkpoints, and `RUN_BYTES` each.
 */
function waiting(ch: Channel, store: SourceContext['opts']['store']): number {
  let bytes = 0;
  for (const x of ch.runs.values()) {
    if (!x.delivered) bytes += RUN_BYTES + x.size - (store.get(runCheckpointKey(x))?.offset ?? 0);
  }
  return bytes;
}
