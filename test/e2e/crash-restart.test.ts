import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CHECKPOINT_INTERVAL_MS } from '../../src/pipeline/checkpoint.ts';
import { readArgs, runCli, type CliProcess } from '../helpers/cli.ts';
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

  const key = (l: string) => {
    const m = JSON.parse(l) as { id: string; resourceName: string };
    return `${m.id}/${m.resourceName}`;
  };

  /** The time each stdout line of `p` arrived here. */
  function arrivalTimes(p: CliProcess): number[] {
    const times: number[] = [];
    p.child.stdout!.on('data', (s: string) => {
      const t = performance.now();
      for (let i = s.indexOf('\n'); i >= 0; i = s.indexOf('\n', i + 1)) times.push(t);
    });
    return times;
  }

  it('resumes after SIGKILL at random points without losing a line, repeating at most what was delivered in the last checkpoint interval', async () => {
    const all: string[] = [];
    const killed: { keys: string[]; arrivals: number[]; at: number }[] = [];
    // Kill at pseudo-random output sizes (fixed seed: reproducible).
    let seed = 7;
    const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const seen = new Set<string>();
    // Unique lines so far, across the killed processes and the live one.
    const uniqueWith = (p: CliProcess) => {
      const live = new Set(p.lines().map(key));
      let n = seen.size;
      for (const k of live) if (!seen.has(k)) n += 1;
      return n;
    };
    let last: CliProcess;
    for (;;) {
      const p = runCli(args());
      const arrivals = arrivalTimes(p);
      const target = all.length + Math.floor(rand() * 1500) + 1;
      const finished = await Promise.race([
        waitFor(() => all.length + p.lines().length >= target, 'output', 30_000).then(() => false),
        waitFor(() => uniqueWith(p) >= RUNS * PER_RUN, 'all output', 30_000).then(() => true),
        p.exited.then(({ code }) => {
          throw new Error(`reader exited early with ${code}: ${p.stderr().slice(-2000)}`);
        }),
      ]);
      if (finished || killed.length >= 6) {
        last = p;
        break;
      }
      const at = performance.now();
      p.child.kill('SIGKILL');
      await p.exited;
      killed.push({ keys: p.lines().map(key), arrivals, at });
      all.push(...p.lines());
      for (const l of p.lines()) seen.add(key(l));
    }
    await waitFor(() => uniqueWith(last) >= RUNS * PER_RUN, 'the rest of the backlog', 60_000);
    // Signals before start-up completes take the default action; wait for the handlers.
    await waitFor(() => last.stderr().includes('reader started'), 'the reader to start');
    last.child.kill('SIGTERM');
    expect((await last.exited).code).toBe(0);
    all.push(...last.lines());
    expect(killed.length).toBeGreaterThan(0);
    const ids = all.map(key);
    expect(new Set(ids).size).toBe(RUNS * PER_RUN);
    // What a killed reader printed again after its restart was delivered within its last
    // checkpoint interval (plus its batch in flight): at most the lines that arrived here in
    // that interval before the kill, or after it (from the pipe). The margin is for a loaded
    // machine, where the reader may wait for the CPU between an ack and its checkpoint write.
    const window = CHECKPOINT_INTERVAL_MS + 1000;
    killed.forEach((k, i) => {
      const later = new Set([
        ...killed.slice(i + 1).flatMap((l) => l.keys),
        ...last.lines().map(key),
      ]);
      const repeated = new Set(k.keys.filter((x) => later.has(x))).size;
      const recent = k.arrivals.filter((t) => t >= k.at - window).length;
      expect(repeated, `lines repeated after kill ${i + 1}`).toBeLessThanOrEqual(recent);
    });
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

  it('writes the checkpoint while blocked on a full stdout: a SIGKILL then repeats only what the pipe held', async () => {
    // One run far larger than a pipe holds, so that no run's end writes the checkpoint.
    const big = join(tmp.dir, 'big');
    await writeCompletedRun(big, 'c', auditIdOf(0), 5000);
    const bigArgs = readArgs(big, join(tmp.dir, 'big-state'), '--batch-max-records', '50');
    const p = runCli(bigArgs);
    // Stop reading at once after the first lines: the pipe fills, the reader's write waits and
    // no batch is acknowledged any more.
    const pauseOnce = () => {
      if (p.lines().length < 100) return;
      p.child.stdout!.pause();
      p.child.stdout!.off('data', pauseOnce);
    };
    p.child.stdout!.on('data', pauseOnce);
    await waitFor(() => p.child.stdout!.isPaused(), 'some output');
    const read = new Set(p.lines().map(key));
    // Only the group commit's timer can now write what the last acknowledgements covered.
    await waitFor(async () => {
      const covered = await coveredByCheckpoint(join(tmp.dir, 'big-state'));
      return [...read].every((k) => covered(k));
    }, 'the checkpoint to cover every line read');
    p.child.kill('SIGKILL');
    p.child.stdout!.resume();
    await p.exited;
    // Lines still in the pipe at the kill (written by the reader, maybe not yet acknowledged).
    const inPipe = p.lines().length - read.size;
    const again = runCli(bigArgs);
    const printed = () => new Set([...p.lines(), ...again.lines()].map(key)).size;
    await waitFor(() => printed() >= 5000, 'the rest', 60_000);
    await waitFor(() => again.stderr().includes('reader started'), 'the reader to start');
    again.child.kill('SIGTERM');
    await again.exited;
    const before = new Set(p.lines().map(key));
    const repeated = again.lines().filter((l) => before.has(key(l))).length;
    expect(repeated).toBeLessThanOrEqual(inPipe);
    expect(printed()).toBe(5000);
  });

  /** Whether a line (`id/pod-N`) is covered by the checkpoint file as it is on disk. */
  async function coveredByCheckpoint(stateDir: string): Promise<(k: string) => boolean> {
    const text = await readFile(join(stateDir, 'checkpoints.json'), 'utf8').catch(() => '');
    if (!text) return () => false;
    const file = JSON.parse(text) as {
      checkpoints: { run: string; line: number; done: boolean }[];
    };
    const byRun = new Map(file.checkpoints.map((c) => [c.run, c]));
    return (k) => {
      const [id, name] = k.split('/');
      const c = byRun.get(id!.replaceAll(':', '_'));
      // Violation N of a run is on line N + 2 (after the start marker).
      return !!c && (c.done || c.line >= Number(name!.slice(4)) + 2);
    };
  }

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
