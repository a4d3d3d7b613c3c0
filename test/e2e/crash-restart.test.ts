import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readArgs, runCli } from '../helpers/cli.ts';
import { auditIdOf, writeCompletedRun } from '../helpers/runs.ts';
import { makeTmpDir, waitFor } from '../helpers/tmp.ts';

const RUNS = 20;
const PER_RUN = 300;
const BATCH = 50;

describe('reader process crash and restart', () => {
  let tmp: Awaited<ReturnType<typeof makeTmpDir>>;
  let root: string;
  let state: string;

  beforeEach(async () => {
    tmp = await makeTmpDir();
    root = join(tmp.dir, 'topics');
    state = join(tmp.dir, 'state');
    await mkdir(root);
    for (let i = 0; i < RUNS; i++) {
      await writeCompletedRun(root, i % 2 ? 'odd' : 'even', auditIdOf(i), PER_RUN, 1_000_000 + i);
    }
  });
  afterEach(() => tmp.cleanup());

  const args = () =>
    readArgs(
      root,
      state,
      '--batch-max-records',
      String(BATCH),
      '--max-audit-results',
      '5',
      '--poll-interval',
      '100ms',
    );

  it('resumes after SIGKILL at random points without losing a line, repeating at most the batch in flight', async () => {
    const all: string[] = [];
    let kills = 0;
    // Kill at pseudo-random output sizes (fixed seed: reproducible).
    let seed = 7;
    const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const key = (l: string) => {
      const m = JSON.parse(l) as { id: string; resourceName: string };
      return `${m.id}/${m.resourceName}`;
    };
    const seen = new Set<string>();
    // Unique lines so far, across the killed processes and the live one.
    const uniqueWith = (p: ReturnType<typeof runCli>) => {
      const live = new Set(p.lines().map(key));
      let n = seen.size;
      for (const k of live) if (!seen.has(k)) n += 1;
      return n;
    };
    for (;;) {
      const p = runCli(args());
      const target = all.length + Math.floor(rand() * 1500) + 1;
      const finished = await Promise.race([
        waitFor(() => all.length + p.lines().length >= target, 'output', 30_000).then(() => false),
        waitFor(() => uniqueWith(p) >= RUNS * PER_RUN, 'all output', 30_000).then(() => true),
        p.exited.then(({ code }) => {
          throw new Error(`reader exited early with ${code}: ${p.stderr().slice(-2000)}`);
        }),
      ]);
      if (finished || kills >= 6) {
        await waitFor(() => uniqueWith(p) >= RUNS * PER_RUN, 'the rest of the backlog', 60_000);
        // Signals before start-up completes take the default action; wait for the handlers.
        await waitFor(() => p.stderr().includes('reader started'), 'the reader to start');
        p.child.kill('SIGTERM');
        const { code } = await p.exited;
        expect(code).toBe(0);
        all.push(...p.lines());
        break;
      }
      p.child.kill('SIGKILL');
      await p.exited;
      kills += 1;
      all.push(...p.lines());
      for (const l of p.lines()) seen.add(key(l));
    }
    expect(kills).toBeGreaterThan(0);
    const ids = all.map(key);
    const unique = new Set(ids);
    expect(unique.size).toBe(RUNS * PER_RUN);
    expect(ids.length - unique.size).toBeLessThanOrEqual(kills * BATCH);
    // Per run, lines arrive in order (a repeat restarts at the last checkpoint, never skips).
    const perRun = new Map<string, number[]>();
    for (const l of all) {
      const m = JSON.parse(l) as { id: string; resourceName: string };
      const list = perRun.get(m.id) ?? [];
      list.push(Number(m.resourceName.slice(4)));
      perRun.set(m.id, list);
    }
    for (const seq of perRun.values()) {
      const firsts = seq.filter((n, i) => seq.indexOf(n) === i);
      expect(firsts).toEqual([...firsts].sort((a, b) => a - b));
    }
  });

  it('on SIGTERM finishes the batch in flight, saves the checkpoint and exits 0', async () => {
    const p = runCli(args());
    await waitFor(() => p.lines().length >= 500, 'some output');
    p.child.kill('SIGTERM');
    const { code } = await p.exited;
    expect(code).toBe(0);
    const delivered = p.lines().length;
    const cp = JSON.parse(await readFile(join(state, 'checkpoints.json'), 'utf8')) as {
      version: number;
    };
    expect(cp.version).toBe(1);
    // The checkpoint covers exactly what was printed: a restart neither repeats nor skips.
    const again = runCli(args());
    await waitFor(() => delivered + again.lines().length >= RUNS * PER_RUN, 'the rest', 60_000);
    again.child.kill('SIGTERM');
    await again.exited;
    const ids = [...p.lines(), ...again.lines()].map((l) => {
      const m = JSON.parse(l) as { id: string; resourceName: string };
      return `${m.id}/${m.resourceName}`;
    });
    expect(ids).toHaveLength(RUNS * PER_RUN);
    expect(new Set(ids).size).toBe(RUNS * PER_RUN);
  });
});
