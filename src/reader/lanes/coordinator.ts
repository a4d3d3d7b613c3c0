import type { CheckpointEntry, CheckpointStore } from '../../pipeline/checkpoint.ts';
import { checkpointKey } from '../../pipeline/checkpoint.ts';

/**
 * What the disk source asks before it deletes a file it has delivered (retention, a consumed
 * admission segment): whether every other reader of the volume is done with it too.
 */
export interface RetentionGate {
  /** True when the file under this checkpoint key may be deleted now. */
  mayDelete(key: string): boolean;
}

/** How far a sink may fall behind the furthest sink before its oldest runs are released. */
export interface MaxLag {
  /** Completed runs the others have delivered and this sink has not. */
  readonly runs?: number;
  /** Bytes of those runs this sink has not delivered. */
  readonly bytes?: number;
}

/** One sink's delivery lane, as the coordinator sees it: its name and its cursor. */
export interface LaneView {
  readonly name: string;
  readonly store: CheckpointStore;
  readonly maxLag?: MaxLag;
}

/** How far one lane is behind the furthest one. */
export interface LaneLag {
  /** Lines the furthest lane has passed and this one has not. */
  readonly records: number;
  /** Runs some other lane has delivered and this one has not. */
  readonly runs: number;
  /** Bytes of those runs (and of runs in progress) this lane has not passed. */
  readonly bytes: number;
}

/**
 * The one place that knows every lane's cursor (each lane's checkpoint store): a delivered file
 * may be deleted only when every lane is done with it; a lane's lag is measured against the
 * furthest lane; and a lane past its `maxLag` is told which of its oldest runs to release.
 * It reads the stores and keeps no state of its own, so a restart needs no bookkeeping.
 *
 * @example
 * ```ts
 * const c = createLaneCoordinator([{ name: 'siem', store: a }, { name: 'team-a', store: b }]);
 * createDiskSource({ …, retention: c });
 * ```
 */
export function createLaneCoordinator(lanes: readonly LaneView[]) {
  const byName = new Map(lanes.map((l) => [l.name, l]));

  /** Every file some lane has a cursor for, with the furthest cursor and who is done. */
  function frontier() {
    const files = new Map<string, { furthest: CheckpointEntry; done: Set<string> }>();
    for (const l of lanes) {
      for (const e of l.store.entries()) {
        // Files of the volume only (an audit log's cursor is not a run).
        if (e.source !== 'audit' && e.source !== 'admission') continue;
        const key = checkpointKey(e);
        let f = files.get(key);
        if (!f) files.set(key, (f = { furthest: e, done: new Set() }));
        if (e.offset > f.furthest.offset) f.furthest = e;
        if (e.done) f.done.add(l.name);
      }
    }
    return files;
  }

  return {
    mayDelete(key: string): boolean {
      return lanes.every((l) => l.store.get(key)?.done === true);
    },

    /** How far each lane is behind the furthest, by lane name. */
    lag(): Map<string, LaneLag> {
      const files = frontier();
      const out = new Map<string, LaneLag>();
      for (const l of lanes) {
        let records = 0;
        let runs = 0;
        let bytes = 0;
        for (const [key, f] of files) {
          const own = l.store.get(key);
          if (own?.done) continue;
          records += Math.max(0, f.furthest.line - (own?.line ?? 0));
          bytes += Math.max(0, f.furthest.offset - (own?.offset ?? 0));
          if (f.done.size > 0) runs += 1;
        }
        out.set(l.name, { records, runs, bytes });
      }
      return out;
    },

    /**
     * The runs lane `name` must release to be back within its `maxLag`: of the runs every
     * other lane has delivered and it has not, the oldest (by channel, then run name), as
     * many as it is over. Empty without a `maxLag` or when within it.
     */
    toRelease(name: string): CheckpointEntry[] {
      const lane = byName.get(name);
      const max = lane?.maxLag;
      if (!lane || !max || (max.runs === undefined && max.bytes === undefined)) return [];
      const behind: { furthest: CheckpointEntry; missing: number }[] = [];
      let bytes = 0;
      for (const [key, f] of frontier()) {
        const own = lane.store.get(key);
        if (own?.done || f.done.size === 0) continue;
        const missing = Math.max(0, f.furthest.offset - (own?.offset ?? 0));
        bytes += missing;
        // Only a run all the others are done with is held for this lane alone.
        if (f.done.size === lanes.length - 1) behind.push({ furthest: f.furthest, missing });
      }
      behind.sort(
        (a, b) =>
          cmp(a.furthest.channel, b.furthest.channel) || cmp(a.furthest.run, b.furthest.run),
      );
      let runs = behind.length;
      const out: CheckpointEntry[] = [];
      for (const b of behind) {
        const overRuns = max.runs !== undefined && runs > max.runs;
        const overBytes = max.bytes !== undefined && bytes > max.bytes;
        if (!overRuns && !overBytes) break;
        out.push(b.furthest);
        runs -= 1;
        bytes -= b.missing;
      }
      return out;
    },
  };
}

export type LaneCoordinator = ReturnType<typeof createLaneCoordinator>;

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
