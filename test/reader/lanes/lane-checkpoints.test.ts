import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openCheckpointStore } from '../../../src/pipeline/checkpoint.ts';
import { createLaneCoordinator } from '../../../src/reader/lanes/coordinator.ts';
import { openLaneStores, readLaneStores } from '../../../src/reader/lanes/lane-checkpoints.ts';
import { globMatcher } from '../../../src/reader/filters.ts';
import { startLanes, takingSink } from '../../helpers/lanes.ts';
import { capturingTelemetry, collectingSink, startReader } from '../../helpers/reader.ts';
import { auditIdOf, writeCompletedRun } from '../../helpers/runs.ts';
import { makeTmpDir, waitFor } from '../../helpers/tmp.ts';

const entry = (run: string, offset: number, line: number, done: boolean) => ({
  source: 'audit',
  channel: 'c',
  run,
  ino: `9${run.slice(1)}`,
  offset,
  line,
  done,
});

describe('per-sink checkpoints', () => {
  let tmp: Awaited<ReturnType<typeof makeTmpDir>>;
  beforeEach(async () => {
    tmp = await makeTmpDir();
  });
  afterEach(() => tmp.cleanup());
  const log = capturingTelemetry().log;

  it('start every sink from the shared checkpoints.json once, then move it aside', async () => {
    const shared = await openCheckpointStore(tmp.dir);
    shared.set(entry('r1', 100, 3, true));
    await shared.flush();
    const [a, b] = await openLaneStores(tmp.dir, ['a', 'b'], log);
    expect([...a!.entries()]).toEqual([entry('r1', 100, 3, true)]);
    expect([...b!.entries()]).toEqual([entry('r1', 100, 3, true)]);
    expect((await readdir(tmp.dir)).sort()).toEqual(['checkpoints', 'checkpoints.json.migrated']);
    // A sink added later starts with no cursor: it reads what is on the volume.
    const [, , c] = await openLaneStores(tmp.dir, ['a', 'b', 'c'], log);
    expect([...c!.entries()]).toEqual([]);
  });

  it('go back to checkpoints.json when one sink is left', async () => {
    const [a] = await openLaneStores(tmp.dir, ['a', 'b'], log);
    a!.set(entry('r2', 50, 2, false));
    await a!.flush();
    const [only] = await openLaneStores(tmp.dir, ['a'], log);
    expect([...only!.entries()]).toEqual([entry('r2', 50, 2, false)]);
    expect((await readdir(tmp.dir)).sort()).toEqual(['checkpoints.json', 'checkpoints.migrated']);
    const byLane = await readLaneStores(tmp.dir);
    expect([...byLane.keys()]).toEqual(['']);
  });

  it('an upgrade from two sinks on one cursor redelivers nothing to either', async () => {
    const root = join(tmp.dir, 'topics');
    const state = join(tmp.dir, 'state');
    await mkdir(root);
    await writeCompletedRun(root, 'c', auditIdOf(1), 5, 1000);
    const before = collectingSink();
    const r1 = startReader(root, state, { sink: before.sink });
    await waitFor(() => before.violations().length === 5, 'the first run, on one cursor');
    await r1.stop();
    await writeCompletedRun(root, 'c', auditIdOf(2), 3, 2000);
    const stdout = takingSink('stdout');
    const webhook = takingSink('webhook');
    const r2 = startLanes(root, state, [
      { name: 'stdout', open: stdout.open },
      { name: 'webhook', open: webhook.open },
    ]);
    await waitFor(
      () => stdout.violations().length === 3 && webhook.violations().length === 3,
      'only the new run, to each sink',
    );
    await r2.stop();
    expect(stdout.violations().every((d) => d.msg.id === auditIdOf(2))).toBe(true);
    expect(webhook.violations().every((d) => d.msg.id === auditIdOf(2))).toBe(true);
  });
});

describe('lane coordinator', () => {
  let tmp: Awaited<ReturnType<typeof makeTmpDir>>;
  beforeEach(async () => {
    tmp = await makeTmpDir();
  });
  afterEach(() => tmp.cleanup());

  it('allows a delete once every lane is done, measures lag against the furthest, releases the oldest past maxLag', async () => {
    const a = await openCheckpointStore(tmp.dir, { file: 'a.json' });
    const b = await openCheckpointStore(tmp.dir, { file: 'b.json' });
    const c = createLaneCoordinator([
      { name: 'a', store: a },
      { name: 'b', store: b, maxLag: { runs: 1 } },
    ]);
    for (const [run, n] of [
      ['r1', 10],
      ['r2', 20],
      ['r3', 30],
    ] as const) {
      a.set(entry(run, n * 100, n, true));
    }
    b.set(entry('r1', 1000, 10, true));
    b.set(entry('r2', 500, 5, false));
    const key = (run: string) => `audit:c/${run}@9${run.slice(1)}`;
    expect(c.mayDelete(key('r1'))).toBe(true);
    expect(c.mayDelete(key('r2'))).toBe(false);
    expect(c.lag().get('a')).toEqual({ records: 0, runs: 0, bytes: 0 });
    // r2: 15 lines and 1500 bytes behind, r3 (not begun): 30 and 3000.
    expect(c.lag().get('b')).toEqual({ records: 45, runs: 2, bytes: 4500 });
    expect(c.toRelease('a')).toEqual([]);
    expect(c.toRelease('b').map((e) => e.run)).toEqual(['r2']);
  });

  it('matches globs and exact names', () => {
    const m = globMatcher(['team-a-*', 'kube-system', 'n?']);
    expect(['team-a-web', 'kube-system', 'n1'].map(m)).toEqual([true, true, true]);
    expect(['team-b', 'kube-system-x', 'n12', 'team-a'].map(m)).toEqual([
      false,
      false,
      false,
      false,
    ]);
  });
});
