import { constants } from 'node:fs';
import { lstat, open, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { DeadLetter } from '../../dead-letter.ts';
import type { Delivery, SourceKind } from '../../sinks/sink.ts';
import type { Telemetry } from '../../telemetry/index.ts';
import {
  checkpointKey,
  type CheckpointEntry,
  type CheckpointStore,
} from '../../pipeline/checkpoint.ts';
import { decodeLines, type ExportLine } from '../decode-line.ts';
import { createLineReader } from '../line-reader.ts';

/** Records per dead-letter entry while a run is released. */
const CHUNK = 1000;

export interface ReleaseContext {
  readonly root: string;
  /** The sink whose runs these are. */
  readonly sink: string;
  readonly store: CheckpointStore;
  /** The sink's route and redaction: only what it would have been sent is set aside. */
  readonly filter: (batch: readonly Delivery[]) => Delivery[];
  readonly deadLetter: DeadLetter;
  readonly telemetry: Telemetry;
  readonly maxRecordBytes: number;
  readonly batchMaxRecords: number;
}

/**
 * Releases runs a sink has fallen too far behind on (`maxLag`): what the sink has not
 * delivered of each run — from its checkpoint on, through its route — goes to the dead-letter
 * file with an ERROR line and a counter, and the sink's checkpoint marks the run done, so the
 * run may be deleted once the other sinks have it. Called while the sink's lane is stopped.
 *
 * @example
 * ```ts
 * await releaseRuns(coordinator.toRelease('siem'), { root, sink: 'siem', store, filter, … });
 * ```
 */
export async function releaseRuns(
  runs: readonly CheckpointEntry[],
  ctx: ReleaseContext,
): Promise<void> {
  const { log, metrics } = ctx.telemetry;
  for (const run of runs) {
    const own = ctx.store.get(checkpointKey(run));
    if (own?.done) continue;
    const from = { offset: own?.offset ?? 0, line: own?.line ?? 0 };
    const dir = join(ctx.root, run.channel);
    const name = await fileWithInode(dir, run.ino);
    let records = 0;
    let end = { offset: run.offset, line: run.line };
    if (name !== undefined) {
      const fh = await open(join(dir, name), constants.O_RDONLY | constants.O_NOFOLLOW);
      try {
        const reader = createLineReader(fh, from, { maxLineBytes: ctx.maxRecordBytes });
        const origin = { source: run.source as SourceKind, channel: run.channel, run: run.run };
        let held: Delivery[] = [];
        const setAside = async (force: boolean) => {
          if (held.length === 0 || (!force && held.length < CHUNK)) return;
          await ctx.deadLetter.batch({
            sink: ctx.sink,
            code: 'max_lag',
            reason: `sink ${ctx.sink} fell behind past its maxLag: run released`,
            keys: held.map((d) => d.key),
            lines: held.map((d) => d.raw),
          });
          held = [];
        };
        for (;;) {
          let lines = await reader.read(ctx.batchMaxRecords);
          if (lines.length === 0) {
            const rest = await reader.takeRemainder();
            if (!rest) break;
            lines = [rest];
          }
          const kept = ctx
            .filter(decodeLines(origin, lines).filter((d): d is ExportLine => !('code' in d)))
            .filter((d) => !d.marker);
          records += kept.length;
          held.push(...kept);
          await setAside(false);
        }
        await setAside(true);
        end = { offset: (await fh.stat()).size, line: reader.position().line };
      } finally {
        await fh.close();
      }
    }
    metrics.deadLettered.inc({ stage: 'max_lag', sink: ctx.sink }, records);
    log.error(
      {
        sink: ctx.sink,
        channel: run.channel,
        run: run.run,
        fromLine: from.line + 1,
        records,
        ...(name === undefined ? { missing: true } : {}),
      },
      name === undefined
        ? 'sink fell behind past its maxLag and the run is gone: its undelivered records are lost'
        : 'sink fell behind past its maxLag: its undelivered records of the run are in the dead-letter file, and the run is released',
    );
    ctx.store.set({
      source: run.source,
      channel: run.channel,
      run: run.run,
      ino: run.ino,
      ...end,
      done: true,
    });
  }
  await ctx.store.flush();
}

/** The name of the file of that inode in `dir` (links not followed), if it is still there. */
async function fileWithInode(dir: string, ino: string): Promise<string | undefined> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return undefined;
  }
  for (const n of names) {
    try {
      const st = await lstat(join(dir, n), { bigint: true });
      if (st.isFile() && st.ino.toString() === ino) return n;
    } catch {
      /* gone meanwhile */
    }
  }
  return undefined;
}
