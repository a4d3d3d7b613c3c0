import { basename } from 'node:path';
import type { DeadLetter } from '../../dead-letter.ts';
import {
  checkpointKey,
  type CheckpointEntry,
  type CheckpointStore,
} from '../../pipeline/checkpoint.ts';
import type { Deliver, Source } from '../../pipeline/source.ts';
import { encodeExportMsg } from '../../protocol/encode.ts';
import { deliveryKey, type Delivery } from '../../sinks/sink.ts';
import { InvalidCode, type Telemetry } from '../../telemetry/index.ts';
import { reportInvalid } from '../../pipeline/invalid.ts';
import { SOLE_READER, type VolumeTally } from '../lanes/volume-tally.ts';
import type { LinePosition, RawLine } from '../line-reader.ts';
import { decodeAuditEvent } from './decode.ts';
import { followRotatingFile, type FollowedFile } from './follower.ts';

export interface ApiserverAuditOptions {
  /** The live audit log, e.g. /var/log/kubernetes/audit/audit.log. */
  readonly path: string;
  /** Where to start in a file never seen before. */
  readonly start: 'beginning' | 'end';
  readonly webhookName: string;
  readonly maxRecordBytes: number;
  readonly batchMaxRecords: number;
  readonly pollIntervalMs: number;
  readonly store: CheckpointStore;
  readonly telemetry: Telemetry;
  readonly deadLetter: DeadLetter;
  /**
   * With several sinks: lines are counted, and bad ones reported, by the sink's lane that
   * reads them first (see `VolumeTally`).
   */
  readonly tally?: VolumeTally;
}

const SOURCE = 'apiserver-audit';

/**
 * The API server's audit log as a source: the follower (follower.ts) hands over its lines
 * across rotation, and here Gatekeeper's denials become `violation_admission` records through
 * the same pipeline; other lines are skipped and counted by reason. The checkpoint is keyed by
 * inode and a fingerprint of the file's first bytes.
 *
 * @example
 * ```ts
 * const source = createApiserverAuditSource({ path, start: 'end', webhookName: 'validation.gatekeeper.sh', … });
 * ```
 */
export function createApiserverAuditSource(opts: ApiserverAuditOptions): Source {
  const { telemetry, store } = opts;
  const tally = opts.tally ?? SOLE_READER;
  const channel = SOURCE;
  const file = basename(opts.path);
  const sink = { telemetry, deadLetter: opts.deadLetter };

  const entryFor = (f: FollowedFile, pos: LinePosition, done = false): CheckpointEntry => ({
    source: SOURCE,
    channel,
    run: f.fingerprint,
    ino: f.ino,
    offset: pos.offset,
    line: pos.line,
    done,
    fingerprint: f.fingerprint,
  });

  /**
   * The deliveries of some lines: denials decoded, bad lines reported, the rest counted. A bad
   * line that cannot be set aside (the dead-letter file is not writable) holds the file there,
   * retrying: the denials before it are delivered at once, with a checkpoint just before it,
   * and nothing past it is acknowledged until it is written.
   */
  async function decode(
    f: FollowedFile,
    lines: readonly RawLine[],
    deliver: Deliver,
    signal: AbortSignal,
  ): Promise<Delivery[]> {
    let batch: Delivery[] = [];
    // Lines another sink's lane read first were counted, and reported if bad, by it.
    const fresh = tally.fresh(`${SOURCE}:${f.fingerprint}@${f.ino}`, lines);
    const setAside = async (i: number, code: InvalidCode, reason: string) => {
      if (i < fresh) return;
      const line = lines[i]!;
      const before = batch;
      await reportInvalid(
        sink,
        { file, line: line.number, bytes: line.bytes, code, reason },
        {
          signal,
          onBlocked: async () => {
            batch = [];
            const at = { offset: line.start, line: line.number - 1 };
            await deliver(before, entryFor(f, at));
          },
        },
      );
    };
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!;
      if (line.tooLong || line.truncated) {
        await setAside(
          i,
          line.tooLong ? InvalidCode.LineTooLong : InvalidCode.TruncatedLine,
          line.tooLong ? 'line over --max-record-bytes' : 'file ends without a newline',
        );
        continue;
      }
      const r = decodeAuditEvent(line.bytes.toString('utf8'), opts.webhookName);
      if ('invalid' in r) {
        await setAside(i, InvalidCode.InvalidJson, r.invalid);
        continue;
      }
      if ('skip' in r) {
        if (i >= fresh) telemetry.metrics.auditEventsSkipped.inc({ reason: r.skip });
        continue;
      }
      r.records.forEach((msg, i) => {
        batch.push({
          key: `${deliveryKey(channel, f.fingerprint, line.number)}#${i}`,
          source: SOURCE,
          channel,
          run: f.fingerprint,
          line: line.number,
          raw: encodeExportMsg(msg),
          msg,
        });
      });
    }
    if (fresh < lines.length) {
      telemetry.metrics.recordsRead.inc({ source: SOURCE }, lines.length - fresh);
    }
    return batch;
  }

  return {
    name: SOURCE,
    async run(deliver: Deliver, signal: AbortSignal): Promise<void> {
      const events = followRotatingFile(
        {
          path: opts.path,
          start: opts.start,
          maxLineBytes: opts.maxRecordBytes,
          batchMaxRecords: opts.batchMaxRecords,
          pollIntervalMs: opts.pollIntervalMs,
          resume: (f) =>
            store.get(checkpointKey({ source: SOURCE, channel, run: f.fingerprint, ino: f.ino })),
          unfinished: () =>
            [...store.entries()]
              .filter((e) => e.source === SOURCE && !e.done && e.fingerprint !== undefined)
              .map((e) => ({
                ino: e.ino,
                fingerprint: e.fingerprint!,
                offset: e.offset,
                line: e.line,
              })),
          log: telemetry.log,
        },
        signal,
      );
      for await (const ev of events) {
        // An empty batch still moves the checkpoint: past skipped lines, or to a file's end.
        const batch = ev.kind === 'lines' ? await decode(ev.file, ev.lines, deliver, signal) : [];
        await deliver(batch, entryFor(ev.file, ev.position, ev.kind === 'end'));
      }
    },
  };
}
