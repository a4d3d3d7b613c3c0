import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  BULK_BYTES,
  BULK_WINDOW_MS,
  BUSY_SAMPLE_MS,
  BUSY_SHARE,
  createOptimizingCompilers,
  type BulkCause,
} from '../../src/pipeline/optimizing-compilers.ts';
import { REPO } from '../helpers/cli.ts';

function recorded() {
  const flags: string[] = [];
  let wall = 1_000_000;
  let cpu = 0;
  const c = createOptimizingCompilers({
    setFlags: (f) => flags.push(f),
    now: () => wall,
    cpuMs: () => cpu,
  });
  const on: BulkCause[] = [];
  const spend = (wallMs: number, cpuMs: number) => {
    wall += wallMs;
    cpu += cpuMs;
  };
  return { c, flags, on, spend, listen: () => c.onOptimizing((cause) => on.push(cause)) };
}

describe('optimizing compilers', () => {
  it('are on, and stay untouched, unless the process starts lean', () => {
    const { c, flags, on, spend, listen } = recorded();
    listen();
    c.noteBacklog(BULK_BYTES * 4);
    spend(BUSY_SAMPLE_MS, BUSY_SAMPLE_MS);
    c.noteRead(BULK_BYTES);
    expect(c.optimizing()).toBe(true);
    expect(flags).toEqual([]);
    expect(on).toEqual([]);
  });

  it('go on for good at a run with bulk left to read, and say so once', () => {
    const { c, flags, on, listen } = recorded();
    c.startLean();
    listen();
    expect(flags).toEqual(['--no-maglev', '--no-turbofan']);
    expect(c.optimizing()).toBe(false);

    c.noteBacklog(BULK_BYTES - 1);
    expect(c.optimizing()).toBe(false);
    c.noteBacklog(BULK_BYTES);
    expect(c.optimizing()).toBe(true);
    expect(flags).toEqual(['--no-maglev', '--no-turbofan', '--maglev', '--turbofan']);
    expect(on).toEqual([{ reason: 'backlog', bytes: BULK_BYTES }]);

    c.startLean();
    c.noteBacklog(BULK_BYTES * 2);
    expect(flags).toHaveLength(4);
    expect(on).toHaveLength(1);
  });

  it('go on once reading keeps the process busy, not for reads now and then', () => {
    const { c, flags, on, spend, listen } = recorded();
    c.startLean();
    listen();
    // Small runs: a read, 20 ms of work, then quiet for a minute.
    for (let i = 0; i < 10; i++) {
      c.noteRead(1000);
      spend(20, 20);
      c.noteRead(1000);
      spend(60_000, 1);
    }
    // Reads all the time, but the process mostly waits (a slow sink): not busy.
    for (let i = 0; i < 20; i++) {
      spend(100, 10);
      c.noteRead(1000);
    }
    expect(c.optimizing()).toBe(false);
    // Reads all the time, and the process is busy with them.
    for (let i = 0; i < 6; i++) {
      spend(100, 80);
      c.noteRead(1000);
    }
    expect(c.optimizing()).toBe(true);
    expect(flags.slice(2)).toEqual(['--maglev', '--turbofan']);
    expect(on).toEqual([{ reason: 'busy', cpuShare: expect.any(Number) as number }]);
    expect((on[0] as { cpuShare: number }).cpuShare).toBeGreaterThanOrEqual(BUSY_SHARE);
  });

  it("do not count start-up's CPU time as busy reading", () => {
    // A start-up of 700 ms on a loaded machine, on a CPU most of it, then one small run.
    const { c, spend } = recorded();
    c.startLean();
    spend(700, 600);
    c.noteRead(50_000);
    spend(5, 5);
    c.noteRead(0);
    spend(600, 2);
    c.noteRead(0);
    expect(c.optimizing()).toBe(false);
  });

  it('go on once bulk is read within the window, even by a process held below half a CPU', () => {
    const { c, on, spend, listen } = recorded();
    c.startLean();
    listen();
    // A CPU limit of a tenth of a core: never busy by the CPU rule. Half the bulk per window,
    // window after window: not bulk either.
    for (let i = 0; i < 10; i++) {
      c.noteRead(BULK_BYTES / 2);
      spend(BULK_WINDOW_MS + 1, (BULK_WINDOW_MS + 1) / 10);
    }
    expect(c.optimizing()).toBe(false);
    c.noteRead(BULK_BYTES / 2);
    spend(BULK_WINDOW_MS / 2, BULK_WINDOW_MS / 20);
    c.noteRead(BULK_BYTES / 2);
    expect(c.optimizing()).toBe(true);
    expect(on).toEqual([{ reason: 'read', bytes: BULK_BYTES }]);
  });

  it("switch V8's optimizing tiers in a running process", () => {
    // A loop calling a function 200,000 times: V8 optimizes them only while the compilers are
    // on. (V8 traces to stdout through its own buffer: one process per case.)
    const run = (bulk: boolean) =>
      execFileSync(
        process.execPath,
        [
          '--trace-opt',
          '--input-type=module',
          '-e',
          `import { createOptimizingCompilers } from ${JSON.stringify(join(REPO, 'src/pipeline/optimizing-compilers.ts'))};
          const c = createOptimizingCompilers();
          c.startLean();
          if (${bulk}) c.noteBacklog(64 << 20);
          function hotLeanOrNot(x) { return (x * 31) ^ (x >>> 3); }
          function loopLeanOrNot() { let s = 0; for (let i = 0; i < 2e5; i++) s = hotLeanOrNot(s + i); return s; }
          loopLeanOrNot();`,
        ],
        { encoding: 'utf8' },
      );
    const optimized =
      /compiling method .*<JSFunction (hot|loop)LeanOrNot .*target (MAGLEV|TURBOFAN)/;
    expect(run(false)).not.toMatch(optimized);
    expect(run(true)).toMatch(optimized);
  });
});
