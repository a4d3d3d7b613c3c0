import { readdir, rename, rm, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { fsyncDir } from '../../durable-fs.ts';
import { errnoCode } from '../../errors.ts';
import type { Logger } from '../../telemetry/index.ts';
import {
  CHECKPOINT_FILE,
  openCheckpointStore,
  type CheckpointStore,
} from '../../pipeline/checkpoint.ts';

/** Where the checkpoints of a reader with several sinks live: `<state-dir>/checkpoints/<sink>.json`. */
export const LANE_CHECKPOINT_DIR = 'checkpoints';

/** Suffix of a checkpoint layout that was moved aside after its state was taken over. */
const MIGRATED = '.migrated';

const exists = (path: string) =>
  stat(path).then(
    () => true,
    (err: unknown) => {
      if (errnoCode(err) === 'ENOENT') return false;
      throw err;
    },
  );

/**
 * Opens one checkpoint store per sink. One sink keeps `<state-dir>/checkpoints.json`, as a
 * reader always had; several keep one file each in `<state-dir>/checkpoints/`, so that each
 * sink has its own cursor. The state is always in one layout: a sink without a file of its own
 * starts from the other layout's file for it (the shared `checkpoints.json` was acknowledged by
 * every sink of the old setup, so each of them has at least that), and the other layout is
 * then renamed `*.migrated`. An upgrade from `--sink stdout --sink webhook` with one cursor
 * therefore redelivers nothing; a sink that never had a cursor reads what is on the volume.
 *
 * @example
 * ```ts
 * const [siem, teamA] = await openLaneStores(stateDir, ['siem', 'team-a'], log);
 * ```
 */
export async function openLaneStores(
  stateDir: string,
  names: readonly string[],
  log: Logger,
): Promise<CheckpointStore[]> {
  const legacy = join(stateDir, CHECKPOINT_FILE);
  const laneDir = join(stateDir, LANE_CHECKPOINT_DIR);
  if (names.length === 1) {
    const name = names[0]!;
    const seeded = !(await exists(legacy)) && (await exists(join(laneDir, `${name}.json`)));
    const store = await openCheckpointStore(stateDir);
    if (seeded) {
      await copyInto(store, await openCheckpointStore(laneDir, { file: `${name}.json` }));
      log.info({ sink: name, from: laneDir }, 'checkpoint taken over from the per-sink layout');
    }
    if (await exists(laneDir)) await moveAside(laneDir);
    return [store];
  }
  const hasLegacy = (await exists(legacy)) || (await exists(`${legacy}.tmp`));
  const stores: CheckpointStore[] = [];
  for (const name of names) {
    const file = `${name}.json`;
    const fresh =
      !(await exists(join(laneDir, file))) && !(await exists(join(laneDir, `${file}.tmp`)));
    // Created at once, so that the state dir lists every sink (`inspect`).
    const store = await openCheckpointStore(laneDir, { file, create: true });
    if (fresh && hasLegacy) {
      await copyInto(store, await openCheckpointStore(stateDir));
      log.info(
        { sink: name, from: legacy },
        'checkpoint taken over from the shared checkpoints.json',
      );
    }
    await store.flush();
    stores.push(store);
  }
  if (hasLegacy) {
    // Every sink's own file is durable now: the shared one is history.
    await moveAside(legacy);
    await unlink(`${legacy}.tmp`).catch(() => undefined);
    await fsyncDir(stateDir);
  }
  return stores;
}

async function copyInto(to: CheckpointStore, from: CheckpointStore): Promise<void> {
  for (const e of from.entries()) to.set(e);
  await to.flush();
}

async function moveAside(path: string): Promise<void> {
  await rm(path + MIGRATED, { recursive: true, force: true });
  await rename(path, path + MIGRATED);
}

/**
 * The checkpoint files of a state dir by sink, in whichever layout it has (`inspect`): one
 * `checkpoints.json` (named `''`: the one sink), or `checkpoints/<sink>.json`.
 *
 * @example
 * ```ts
 * for (const [sink, store] of await readLaneStores(stateDir)) console.log(sink, [...store.entries()]);
 * ```
 */
export async function readLaneStores(stateDir: string): Promise<Map<string, CheckpointStore>> {
  const out = new Map<string, CheckpointStore>();
  let files: string[] = [];
  try {
    files = (await readdir(join(stateDir, LANE_CHECKPOINT_DIR))).filter((f) =>
      /^[^.].*\.json$/.test(f),
    );
  } catch (err) {
    if (errnoCode(err) !== 'ENOENT') throw err;
  }
  if (files.length === 0) {
    out.set('', await openCheckpointStore(stateDir));
    return out;
  }
  for (const f of files.sort()) {
    out.set(
      f.slice(0, -'.json'.length),
      await openCheckpointStore(join(stateDir, LANE_CHECKPOINT_DIR), { file: f }),
    );
  }
  return out;
}
