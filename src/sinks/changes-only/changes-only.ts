import { join } from 'node:path';
import { encodeExportMsg } from '../../protocol/encode.ts';
import type { ExportMsg } from '../../protocol/record.ts';
import type { Delivery, Sink, WriteHint } from '../../sinks/sink.ts';
import type { Metrics, Telemetry } from '../../telemetry/index.ts';
import { Counter } from '../../telemetry/metric-types.ts';
import { openChannelState, type ChannelState } from './channel-state.ts';
import { violationIdentity } from './identity.ts';

/** The `eventType` of a violation that was in the previous run and is not in this one. */
export const VIOLATION_RESOLVED = 'violation_resolved';

export interface ChangesOnlyOptions {
  /** The reader's state dir: the state lives in `changes-only/<scope>/<channel>/` under it. */
  readonly stateDir: string;
  /** Whose state this is (the sink's name): each sink compares against what it was sent. */
  readonly scope: string;
  readonly telemetry: Telemetry;
  /** Records per write to the wrapped sink while resolved records are sent (default 1000). */
  readonly chunkRecords?: number;
}

type Change = 'unchanged' | 'new' | 'resolved';

interface ChannelEntry {
  readonly state: ChannelState;
  /** Resolves when the channel's previous batch may be followed (a run switch is done). */
  gate: Promise<void>;
  readonly tally: Record<Change, number>;
}

/**
 * `--changes-only` for one sink: per channel, an audit run is compared with the channel's
 * previous completed run and only what changed goes on — records whose violation is new, and
 * at the run's completion marker one `violation_resolved` record (the previous record, with
 * this run's id) per violation that is gone. The first run a channel delivers goes out in
 * full; admission and API-server records pass unchanged.
 *
 * The previous run switches when the wrapped sink has acknowledged the batch with the
 * completion marker, before that batch is acknowledged to the reader (and checkpointed): a
 * crash before the switch repeats the completion (the same records again, at least once); a
 * crash after it finds the run already completed and drops its repeated lines.
 *
 * @example
 * ```ts
 * const sink = withChangesOnly(createStdoutSink({ format }), { stateDir, scope: 'stdout', telemetry });
 * ```
 */
export function withChangesOnly(
  inner: Sink & { interrupt?(): void },
  opts: ChangesOnlyOptions,
): Sink & { interrupt(): void } {
  const { log } = opts.telemetry;
  const counter = changesCounter(opts.telemetry.metrics);
  const chunk = Math.max(1, opts.chunkRecords ?? 1000);
  const channels = new Map<string, ChannelEntry>();
  let closed: Promise<void> | undefined;

  function channel(name: string): ChannelEntry {
    let ch = channels.get(name);
    if (!ch) {
      const dir = join(opts.stateDir, 'changes-only', opts.scope, name);
      const state = openChannelState(dir, (message) =>
        log.warn({ sink: opts.scope, channel: name }, `changes-only: ${message}`),
      );
      ch = { state, gate: Promise.resolve(), tally: { unchanged: 0, new: 0, resolved: 0 } };
      channels.set(name, ch);
    }
    return ch;
  }

  const count = (tally: Record<Change, number>, change: Change, n: number) => {
    if (n === 0) return;
    tally[change] += n;
    counter.inc({ sink: opts.scope, change }, n);
  };

  /** Compares and records a batch (synchronously, in call order); returns its write. */
  function handle(ch: ChannelEntry, batch: readonly Delivery[], hint?: WriteHint) {
    const s = ch.state;
    const first = batch[0]!;
    const done = s.previous?.run === first.run ? s.previous : undefined;
    if (done) {
      // Lines of a run already completed: a repeat after a crash, sent before (with its
      // resolved records). Anything after its completion marker passes as it is.
      const rest = batch.filter((d) => d.line > done.line);
      return { acked: pass(rest, hint), switched: false };
    }
    if (s.current?.run !== first.run || first.marker === 'started') {
      s.begin(first.run, first.marker === 'started');
      ch.tally.unchanged = ch.tally.new = ch.tally.resolved = 0;
    }
    const tracking = s.current!.tracking;
    const out: Delivery[] = [];
    const recorded: Delivery[] = [];
    const ids: Buffer[] = [];
    let completion = -1;
    let unchanged = 0;
    let fresh = 0;
    for (const d of batch) {
      if (d.marker || completion >= 0) {
        if (d.marker === 'completed' && completion < 0) completion = out.length;
        out.push(d);
        continue;
      }
      const id = violationIdentity(d.msg);
      if (tracking) {
        recorded.push(d);
        ids.push(id);
      }
      const i = s.index.find(id);
      if (i >= 0) {
        s.index.markSeen(i);
        unchanged += 1;
      } else {
        out.push(d);
        fresh += 1;
      }
    }
    s.append(recorded, ids);
    const tally = () => {
      count(ch.tally, 'unchanged', unchanged);
      count(ch.tally, 'new', fresh);
    };
    if (completion < 0 || !tracking) {
      if (completion >= 0) {
        log.info(
          { sink: opts.scope, channel: first.channel, run: first.run },
          'changes-only: run not seen from its first line; no resolved records, the previous run stays the reference',
        );
      }
      return { acked: pass(out, hint).then(tally), switched: false };
    }
    const marker = out[completion]!;
    const acked = (async () => {
      await writeWithResolved(s, out, completion, marker, hint);
      tally();
      s.commit(marker.line);
      log.info(
        { sink: opts.scope, channel: first.channel, run: first.run, ...ch.tally },
        'changes-only: run compared with the previous one',
      );
    })();
    return { acked, switched: true };

    async function writeWithResolved(
      st: ChannelState,
      records: Delivery[],
      at: number,
      completed: Delivery,
      h: WriteHint | undefined,
    ): Promise<void> {
      let pending = records.slice(0, at);
      let resolved = 0;
      for (const i of st.index.unseen()) {
        pending.push(resolvedDelivery(st, i, completed));
        resolved += 1;
        if (pending.length >= chunk) {
          await inner.write(pending, { more: true });
          pending = [];
        }
      }
      await inner.write([...pending, ...records.slice(at)], h);
      count(ch.tally, 'resolved', resolved);
    }
  }

  function pass(records: readonly Delivery[], hint?: WriteHint): Promise<void> {
    if (records.length > 0) return inner.write(records, hint);
    // Nothing to send; a batch the wrapped sink holds for more must not wait for it.
    if (!hint?.more) inner.flush?.();
    return Promise.resolve();
  }

  return {
    name: inner.name,
    window: inner.window,
    write(batch, hint) {
      const first = batch[0];
      if (!first || first.source !== 'audit') return inner.write(batch, hint);
      let ch: ChannelEntry;
      try {
        ch = channel(first.channel);
      } catch (err) {
        return Promise.reject(err);
      }
      const step = ch.gate.then(() => handle(ch, batch, hint));
      // A run switch holds the channel's next batch until it is done (in practice the
      // reader sends none before the run is acknowledged anyway).
      ch.gate = step.then(
        (s) => (s.switched ? s.acked.catch(() => undefined) : undefined),
        () => undefined,
      );
      return step.then((s) => s.acked);
    },
    flush: () => inner.flush?.(),
    interrupt: () => inner.interrupt?.(),
    giveUp: () => inner.giveUp?.(),
    close() {
      closed ??= inner.close().finally(() => {
        for (const ch of channels.values()) ch.state.close();
      });
      return closed;
    },
  };
}

/** The previous run's record of entry `i`, resolved by the run that completed at `marker`. */
function resolvedDelivery(s: ChannelState, i: number, marker: Delivery): Delivery {
  const msg: ExportMsg = {
    ...s.previousRecord(i),
    id: marker.msg.id,
    eventType: VIOLATION_RESOLVED,
  };
  return {
    key: `${marker.key}#resolved-${s.index.idHex(i)}`,
    source: marker.source,
    channel: marker.channel,
    run: marker.run,
    line: marker.line,
    raw: encodeExportMsg(msg),
    msg,
  };
}

/** `gk_export_changes_only_records_total{sink,change}`, added once per metric set. */
function changesCounter(metrics: Metrics): Counter<'sink' | 'change'> {
  return metrics.register(
    'gk_export_changes_only_records_total',
    () =>
      new Counter({
        name: 'gk_export_changes_only_records_total',
        help: 'Audit records compared by --changes-only: unchanged (not sent), new, resolved',
        labelNames: ['sink', 'change'] as const,
      }),
  );
}
