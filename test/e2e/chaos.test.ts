// The reader's promise under chaos: SIGKILLed at random points of a multi-channel backlog while
// the project's own writer keeps writing runs and pruning old ones (maxAuditResults), it loses
// nothing it was responsible for and repeats at most, at each kill, what was delivered within
// the last checkpoint interval (group commit) and the batch in flight.
//
// What the writer deletes before the reader could hold it open is the writer's loss, not the
// reader's: a run pruned while no reader ran, or while one had just started and did not hold it
// yet (it may not have scanned), or pruned while the reader held it open and then the reader
// was killed before it finished (a killed process keeps no descriptor). Prunes and kills are
// serialised, so each prune is recorded against a known reader state (and what that process
// held open, from /proc). Every other run must be delivered whole.
import { readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CHECKPOINT_INTERVAL_MS } from '../../src/pipeline/checkpoint.ts';
import { createDiskWriter, type DiskWriter } from '../../src/writer/index.ts';
import { readArgs, runCli, type CliProcess } from '../helpers/cli.ts';
import { auditIdOf, violation } from '../helpers/runs.ts';
import { makeTmpDir, waitFor } from '../helpers/tmp.ts';

const CHANNELS = ['a', 'b', 'c'];
/** Violations per run: the backlog's runs, and the runs written during the chaos. */
const BACKLOG_PER_RUN = 500;
const PER_RUN = 300;
const BACKLOG_RUNS = 5;
/** Runs each channel's writer completes during the chaos, at most. */
const LIVE_RUNS = 20;
/** Pause after every 100 lines the writer writes: runs complete through the whole chaos. */
const WRITE_PAUSE_MS = 300;
const KILLS = 5;
const BATCH = 50;
/** A reader this long past "reader started" has scanned every channel and holds its runs. */
const SETTLE_MS = 1500;

interface Prune {
  readonly auditId: string;
  /** The reader generation running when it was pruned (-1: none). */
  readonly gen: number;
  readonly settled: boolean;
  /** That reader process had the file open when it was deleted. */
  readonly held: boolean;
}

/** The files a process has open (Linux /proc). */
async function openFiles(pid: number): Promise<Set<string>> {
  const fds = await readdir(`/proc/${pid}/fd`).catch(() => [] as string[]);
  const targets = await Promise.all(
    fds.map((fd) => readlink(`/proc/${pid}/fd/${fd}`).catch(() => '')),
  );
  return new Set(targets);
}

describe('chaos: random SIGKILLs while the writer writes and prunes', () => {
  let tmp: Awaited<ReturnType<typeof makeTmpDir>>;
  let root: string;
  let state: string;
  let writer: DiskWriter;
  beforeEach(async () => {
    tmp = await makeTmpDir();
    root = join(tmp.dir, 'topics');
    state = join(tmp.dir, 'state');
    writer = createDiskWriter({ root, maxAuditResults: 5 });
  });
  afterEach(async () => {
    await writer.close();
    await tmp.cleanup();
  });

  it('loses nothing the reader was responsible for and repeats at most the last checkpoint interval per kill', async () => {
    let seed = 17;
    const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    // Serialises a writer's complete-and-prune with a kill.
    let lock: Promise<void> = Promise.resolve();
    const exclusive = <T>(fn: () => Promise<T>): Promise<T> => {
      const run = lock.then(fn);
      lock = run.then(
        () => undefined,
        () => undefined,
      );
      return run;
    };

    const written: string[] = []; // audit IDs of completed runs
    const size = new Map<string, number>();
    const prunes: Prune[] = [];
    const excused = new Set<string>();
    /** Record keys (`<auditId>/<resourceName>`) in output order, every process in turn. */
    const output: string[] = [];
    /** Per run, the violations delivered at least once. */
    const seen = new Map<string, Set<string>>();
    const deliveredOf = (auditId: string) => seen.get(auditId)?.size ?? 0;
    let gen = -1;
    let reader:
      { p: CliProcess; keys: string[]; arrivals: number[]; startedAt?: number } | undefined;
    /** Per kill: lines that arrived within the last checkpoint interval before it, or after. */
    const repeatable: number[] = [];
    let nextId = 0;

    const logs = async (channel: string) =>
      new Set(
        (await readdir(join(root, channel)).catch(() => [] as string[])).filter((n) =>
          n.endsWith('.log'),
        ),
      );
    async function writeRun(channel: string, lines: number, pauseMs: number): Promise<void> {
      const auditId = auditIdOf(nextId++);
      size.set(auditId, lines);
      const run = await writer.startRun(channel, auditId);
      for (let i = 0; i < lines; i++) {
        await run.write(violation(auditId, i));
        if (i % 100 === 99) {
          await run.flush();
          if (pauseMs > 0) await new Promise((r) => setTimeout(r, pauseMs));
        }
      }
      await exclusive(async () => {
        const pid = reader?.p.child.pid;
        const held = pid === undefined ? new Set<string>() : await openFiles(pid);
        const before = await logs(channel);
        await run.complete();
        const after = await logs(channel);
        const settled =
          reader?.startedAt !== undefined && Date.now() - reader.startedAt >= SETTLE_MS;
        for (const name of before) {
          if (after.has(name)) continue;
          prunes.push({
            auditId: name.slice(0, -4).replaceAll('_', ':'),
            gen: reader ? gen : -1,
            settled,
            held: held.has(join(root, channel, name)),
          });
        }
      });
      written.push(auditId);
    }

    /** A reader process whose output is turned into record keys as it arrives. */
    function startReaderProcess() {
      const p = runCli(
        readArgs(root, state, '--batch-max-records', String(BATCH), '--max-audit-results', '5'),
      );
      const keys: string[] = [];
      const arrivals: number[] = [];
      let rest = '';
      p.child.stdout!.on('data', (s: string) => {
        const lines = (rest + s).split('\n');
        rest = lines.pop()!;
        const now = performance.now();
        for (const l of lines) {
          arrivals.push(now);
          const m = JSON.parse(l) as { id: string; resourceName: string };
          keys.push(`${m.id}/${m.resourceName}`);
          let set = seen.get(m.id);
          if (!set) seen.set(m.id, (set = new Set()));
          set.add(m.resourceName);
        }
      });
      return { p, keys, arrivals };
    }

    for (let i = 0; i < BACKLOG_RUNS; i++) {
      for (const c of CHANNELS) await writeRun(c, BACKLOG_PER_RUN, 0);
    }
    let writing = true;
    let writers: Promise<void>[] = [];
    for (let k = 0; k <= KILLS; k++) {
      gen = k;
      const r: NonNullable<typeof reader> = startReaderProcess();
      reader = r;
      await waitFor(() => r.p.stderr().includes('reader started'), 'the reader to start');
      r.startedAt = Date.now();
      if (k === 0) {
        // The backlog is there; from now on the writer keeps writing and pruning.
        writers = CHANNELS.map(async (c) => {
          for (let i = 0; i < LIVE_RUNS && writing; i++) await writeRun(c, PER_RUN, WRITE_PAUSE_MS);
        });
      }
      if (k === KILLS) break;
      // A random point: some output (mid-backlog), or some time, whichever comes first.
      const target = r.keys.length + 1 + Math.floor(rand() * 3000);
      const deadline = Date.now() + 200 + rand() * 1800;
      await waitFor(
        () => r.keys.length >= target || Date.now() >= deadline || r.p.child.exitCode !== null,
        'a kill point',
      );
      expect(r.p.child.exitCode, r.p.stderr().slice(-2000)).toBeNull();
      let at = 0;
      await exclusive(async () => {
        at = performance.now();
        r.p.child.kill('SIGKILL');
        await r.p.exited;
        reader = undefined;
      });
      output.push(...r.keys);
      // The margin is for a loaded machine, where the reader may wait for the CPU between an
      // ack and its checkpoint write.
      repeatable.push(r.arrivals.filter((t) => t >= at - (CHECKPOINT_INTERVAL_MS + 1000)).length);
      // Pruned while this reader held it, and it died before finishing it.
      for (const pr of prunes) {
        if (pr.gen === k && pr.held && deliveredOf(pr.auditId) < size.get(pr.auditId)!) {
          excused.add(pr.auditId);
        }
      }
    }
    writing = false;
    await Promise.all(writers);

    // Pruned while no reader ran, or one that had just started did not hold it yet.
    for (const pr of prunes) {
      if (pr.gen === -1 || (!pr.held && !pr.settled)) excused.add(pr.auditId);
    }
    const last = reader!;
    const expected = written.filter((id) => !excused.has(id));
    const missing = () => expected.filter((id) => deliveredOf(id) < size.get(id)!);
    await waitFor(
      () => missing().length === 0,
      'every run the reader was responsible for',
      30_000,
    ).catch((err: unknown) => {
      const m = missing().map((id) => `${id}: ${deliveredOf(id)}/${size.get(id)}`);
      throw new Error(`${String(err)}; runs missing lines: ${m.join(', ')}`);
    });
    last.p.child.kill('SIGTERM');
    expect((await last.p.exited).code).toBe(0);
    output.push(...last.keys);

    const unique = new Set(output);
    const stats = JSON.stringify({
      written: written.length,
      expected: expected.length,
      writerLost: written.filter((id) => deliveredOf(id) < size.get(id)!).length,
      prunes: prunes.length,
      prunedWhileHeld: prunes.filter((pr) => pr.held).length,
      lines: output.length,
      duplicates: output.length - unique.size,
    });
    expect(missing(), stats).toEqual([]);
    // Duplicates: at each kill, at most what was delivered within the last checkpoint interval
    // (plus the batch in flight, whose lines arrive after the kill).
    const bound = repeatable.reduce((a, b) => a + Math.max(b, BATCH), 0);
    expect(output.length - unique.size, `${stats} bound ${bound}`).toBeLessThanOrEqual(bound);
    // Nothing beyond what was written; per run, lines in order (a repeat never skips).
    const perRun = new Map<string, number[]>();
    for (const key of output) {
      const slash = key.lastIndexOf('/');
      const id = key.slice(0, slash);
      expect(size.has(id)).toBe(true);
      const seq = perRun.get(id) ?? [];
      seq.push(Number(key.slice(slash + 5)));
      perRun.set(id, seq);
    }
    for (const seq of perRun.values()) {
      const firsts = seq.filter((n, i) => seq.indexOf(n) === i);
      expect(firsts).toEqual([...firsts].sort((a, b) => a - b));
    }
    // The chaos was real: the writer pruned, and the reader had runs of its own to deliver.
    expect(prunes.length, stats).toBeGreaterThan(0);
    expect(expected.length, stats).toBeGreaterThanOrEqual(10);
  });
});
