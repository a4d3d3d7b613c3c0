// Regression: SIGTERM never completed while nothing read stdout (still running after 60 s),
// and a stdout closed by its reader (EPIPE) crashed the reader with a stack trace.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CLI, readArgs, runCli } from '../helpers/cli.ts';
import { auditIdOf, writeCompletedRun } from '../helpers/runs.ts';
import { makeTmpDir, waitFor } from '../helpers/tmp.ts';

const RUNS = 10;
/** Enough that the output (about 3 MB) is far more than stdout's 1 MiB pipe holds. */
const PER_RUN = 1000;
/** Violations of a big run: about 900 kB, one batch. */
const BIG = 2000;

/** Three big runs, completed after the small ones. */
async function writeBigRuns(dir: string): Promise<void> {
  for (let i = 0; i < 3; i++) {
    await writeCompletedRun(dirname(dir), basename(dir), auditIdOf(100 + i), BIG, 5000 + i);
  }
}

/** The record keys (`<id>/<resource>`) of whole output lines. */
function keysOf(text: string): string[] {
  const lines = text.split('\n').slice(0, -1);
  return lines.map((l) => {
    const m = JSON.parse(l) as { id: string; resourceName: string };
    return `${m.id}/${m.resourceName}`;
  });
}

describe('shutdown when stdout does not take the output', () => {
  let tmp: Awaited<ReturnType<typeof makeTmpDir>>;
  let root: string;
  let state: string;
  beforeEach(async () => {
    tmp = await makeTmpDir();
    root = join(tmp.dir, 'topics');
    state = join(tmp.dir, 'state');
    for (let i = 0; i < RUNS; i++) {
      await writeCompletedRun(root, 'c', auditIdOf(i), PER_RUN, 1000 + i);
    }
  });
  afterEach(() => tmp.cleanup());

  const args = (...more: string[]) => readArgs(root, state, '--batch-max-records', '50', ...more);

  it('gives up the unwritten batch after --shutdown-grace, saves the checkpoint and exits', async () => {
    // A first reader delivers a small run and saves its checkpoint.
    const dir = join(root, 'c');
    const done = runCli(readArgs(root, state));
    await waitFor(() => done.lines().length === RUNS * PER_RUN, 'the first runs');
    await waitFor(() => done.stderr().includes('reader started'), 'the reader to start');
    done.child.kill('SIGTERM');
    expect((await done.exited).code).toBe(0);
    await writeBigRuns(dir);

    // stdout is a pipe nobody reads. One batch (a whole big run) is far more than the pipe and
    // the reading side's buffer hold, so its write cannot finish once it has begun.
    const child = spawn(
      process.execPath,
      [CLI, ...readArgs(root, state, '--shutdown-grace', '300ms')],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
    // ('exit', not 'close': the unread pipe stays open until it is read.)
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    let out = '';
    const begun = new Promise<void>((resolve) =>
      child.stdout.setEncoding('utf8').once('data', (s: string) => {
        out += s;
        child.stdout.pause();
        resolve();
      }),
    );
    await begun;
    await waitFor(() => err.includes('reader started'), 'the reader to start');
    child.kill('SIGTERM');
    const code = await Promise.race([
      exited,
      waitFor(() => false, 'the reader to exit after the grace period', 15_000),
    ]);
    expect(code).toBe(0);
    expect(err).toContain('shutdown grace period passed');
    expect(err).toContain('checkpoint saved');
    expect(err).not.toMatch(/\n\s+at /);
    // What the pipe held is all it wrote.
    child.stdout.on('data', (s: string) => (out += s));
    child.stdout.resume();
    await new Promise((resolve) => child.stdout.on('end', resolve));
    const partial = keysOf(out);
    expect(partial.length).toBeLessThan(BIG);

    // Nothing of the given-up batch was acknowledged, and the first runs stay delivered.
    const rest = runCli(readArgs(root, state));
    await waitFor(() => new Set(keysOf(rest.stdout())).size === 3 * BIG, 'the big runs', 30_000);
    await waitFor(() => rest.stderr().includes('reader started'), 'the reader to start');
    rest.child.kill('SIGTERM');
    expect((await rest.exited).code).toBe(0);
    const again = keysOf(rest.stdout());
    expect(again).toHaveLength(3 * BIG);
    for (const k of partial) expect(again).toContain(k);
  });

  it('exits with one line, no stack trace and a saved checkpoint when stdout is closed', async () => {
    const p = runCli(args());
    await waitFor(() => p.lines().length >= 200, 'some output');
    // The reading side goes away: the reader's next write fails with EPIPE. (What sat unread in
    // the pipe was handed to it, and is gone with it: only the checkpoint can be checked.)
    p.child.stdout!.destroy();
    const { code } = await p.exited;
    expect(code).toBe(1);
    expect(p.stderr()).not.toMatch(/\n\s+at /);
    const errors = p
      .stderr()
      .split('\n')
      .filter((l) => l.includes('"level":"error"') || l.includes('"level":"fatal"'));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain('EPIPE');
    expect(p.stderr()).toContain('checkpoint saved');
    // A restart resumes exactly at the saved checkpoint: no gap, no repeat.
    const cp = JSON.parse(await readFile(join(state, 'checkpoints.json'), 'utf8')) as {
      checkpoints: { run: string; line: number; done: boolean }[];
    };
    const remaining: string[] = [];
    for (let i = 0; i < RUNS; i++) {
      const id = auditIdOf(i);
      const e = cp.checkpoints.find((c) => c.run === id.replaceAll(':', '_'));
      // A run delivered and then deleted by retention (beyond --max-audit-results) leaves no
      // checkpoint entry: its file is gone, and nothing of it is to come.
      const deleted = !existsSync(join(root, 'c', `${id.replaceAll(':', '_')}.log`));
      // Line 1 is the start marker: `line` acknowledged lines cover violations 0 … line - 2.
      const from = e?.done || (!e && deleted) ? PER_RUN : Math.max(0, (e?.line ?? 0) - 1);
      for (let v = from; v < PER_RUN; v++) remaining.push(`${id}/pod-${v}`);
    }
    expect(remaining.length).toBeLessThan(RUNS * PER_RUN);
    const rest = runCli(args());
    await waitFor(() => rest.lines().length >= remaining.length, 'the rest after a restart');
    await waitFor(() => rest.stderr().includes('reader started'), 'the reader to start');
    rest.child.kill('SIGTERM');
    expect((await rest.exited).code).toBe(0);
    expect(keysOf(rest.stdout())).toEqual(remaining);
  });
});
