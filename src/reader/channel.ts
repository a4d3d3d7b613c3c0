import { join } from 'node:path';
import type { CheckpointStore } from '../pipeline/checkpoint.ts';
import type { BatchWindow } from './batch-window.ts';
import { inChannelDir, type DirIdentity } from './channel-dir.ts';
import { markGone, runCheckpointKey, type RunState } from './run-state.ts';

/** What the disk source tracks about one channel directory under the root. */
export interface Channel {
  readonly name: string;
  readonly dir: string;
  /** The real directory the last scan read; runs are opened and deleted only inside it. */
  id?: DirIdentity;
  /** Its run files by inode. */
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
  /** Its batches handed to the pipeline and not yet acknowledged. */
  readonly window: BatchWindow;
}

/**
 * A channel not seen before: everything about it unknown, its first scan a full one.
 *
 * @example
 * ```ts
 * const ch = newChannel('/tmp/violations/topics', 'audit-channel', createBatchWindow(deliver, stop));
 * ```
 */
export function newChannel(root: string, name: string, window: BatchWindow): Channel {
  return {
    name,
    dir: join(root, name),
    runs: new Map(),
    reported: new Set(),
    woken: false,
    rescan: false,
    fullScan: true,
    pruned: false,
    window,
  };
}

/**
 * A file of the channel as logs and the dead letter name it: `<channel>/<file>`.
 *
 * @example
 * ```ts
 * pathInRoot(ch, '2023-07-18T21_21_52Z.log'); // 'audit-channel/2023-07-18T21_21_52Z.log'
 * ```
 */
export function pathInRoot(ch: Channel, name: string): string {
  return `${ch.name}/${name}`;
}

/**
 * Something changed: the channel's delivery loop looks again now.
 *
 * @example
 * ```ts
 * wake(ch); // after a scan saw a change
 * ```
 */
export function wake(ch: Channel): void {
  ch.woken = true;
  ch.resolveWait?.();
}

/**
 * Waits for a wake-up or `ms`, whichever is first (at once if woken meanwhile).
 *
 * @example
 * ```ts
 * if (!progressed) await idle(ch, opts.intervalMs);
 * ```
 */
export async function idle(ch: Channel, ms: number): Promise<void> {
  if (!ch.woken) {
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      ch.resolveWait = resolve;
      timer = setTimeout(resolve, ms);
    });
    clearTimeout(timer);
    ch.resolveWait = undefined;
  }
  ch.woken = false;
}

/**
 * Removes a run and its checkpoint for good.
 *
 * @example
 * ```ts
 * if (r.delivered) dropRun(ch, r, store); // its file is gone too
 * ```
 */
export function dropRun(ch: Channel, r: RunState, store: CheckpointStore): void {
  ch.runs.delete(r.ino);
  store.delete(runCheckpointKey(r));
}

/**
 * Stops delivering a run whose file is gone or being deleted. A delivered run stays known, as
 * gone, until a scan no longer lists its file: a scan that listed the file just before it
 * went would otherwise take it for a new run, fail to open it and report it lost.
 *
 * @example
 * ```ts
 * if (await deleted(r)) forgetRun(ch, r, store);
 * ```
 */
export function forgetRun(ch: Channel, r: RunState, store: CheckpointStore): void {
  if (r.delivered) markGone(r);
  else dropRun(ch, r, store);
}

/**
 * Runs `fn` in the channel's directory as last scanned; false when it is not there.
 *
 * @example
 * ```ts
 * await inChannel(ch, (base) => unlinkIfSame(base, r.name, r.ino));
 * ```
 */
export async function inChannel(
  ch: Channel,
  fn: (base: string) => Promise<boolean>,
): Promise<boolean> {
  const res = await inChannelDir(ch.dir, ch.id, fn);
  return res.ok && res.value;
}
