import { mkdir, readdir, readlink, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeTmpDir, waitFor } from '../helpers/tmp.ts';
import { auditIdOf, runLines, writeCompletedRun } from '../helpers/runs.ts';
import { collectingSink, metricValue, startReader } from '../helpers/reader.ts';

describe.each([
  { mode: 'native events', poll: false },
  { mode: 'polling', poll: true },
])('reader delivery ($mode)', ({ poll }) => {
  let tmp: Awaited<ReturnType<typeof makeTmpDir>>;
  let root: string;
  let state: string;
  const stops: (() => Promise<void>)[] = [];

  beforeEach(async () => {
    tmp = await makeTmpDir();
    root = join(tmp.dir, 'topics');
    state = join(tmp.dir, 'state');
    await mkdir(root);
  });
  afterEach(async () => {
    for (const s of stops.splice(0)) await s();
    await tmp.cleanup();
  });

  function start(over: Parameters<typeof startReader>[2]) {
    const r = startReader(root, state, { poll, ...over });
    stops.push(r.stop);
    return r;
  }

  it('delivers completed runs oldest completion first, every line in order, once', async () => {
    // Completion order (mtime) differs from name order on purpose.
    await writeCompletedRun(root, 'audit-channel', auditIdOf(2), 5, 1000);
    await writeCompletedRun(root, 'audit-channel', auditIdOf(1), 3, 2000);
    const c = collectingSink();
    const r = start({ sink: c.sink });
    await waitFor(() => c.violations().length === 8, '8 violations');
    const runs = c.violations().map((d) => d.msg.id);
    expect(runs).toEqual([...Array(5).fill(auditIdOf(2)), ...Array(3).fill(auditIdOf(1))]);
    expect(c.violations().map((d) => d.line)).toEqual([2, 3, 4, 5, 6, 2, 3, 4]);
    await waitFor(
      async () =>
        (await metricValue(r.telemetry, 'gk_export_runs_completed_total', {
          state: 'complete',
        })) === 2,
      'both runs reported complete',
    );
  });

  it('resumes from the checkpoint after a restart without repeating a line', async () => {
    await writeCompletedRun(root, 'c1', auditIdOf(1), 4, 1000);
    const first = collectingSink();
    const r1 = start({ sink: first.sink });
    await waitFor(() => first.violations().length === 4, 'first run');
    await r1.stop();
    await writeCompletedRun(root, 'c1', auditIdOf(2), 2, 2000);
    const second = collectingSink();
    start({ sink: second.sink });
    await waitFor(() => second.violations().length === 2, 'second run');
    expect(second.violations().every((d) => d.msg.id === auditIdOf(2))).toBe(true);
  });

  it('picks up runs that appear after start, in a channel created after start', async () => {
    const c = collectingSink();
    start({ sink: c.sink });
    await writeCompletedRun(root, 'late-channel', auditIdOf(1), 3);
    await waitFor(() => c.violations().length === 3, 'late run');
    expect(c.violations()[0]!.channel).toBe('late-channel');
  });

  it('waits for a root that does not exist yet, and picks it up when it is recreated', async () => {
    await rm(root, { recursive: true });
    const c = collectingSink();
    const r = start({ sink: c.sink });
    await waitFor(
      () => r.telemetry.logs.some((l) => String(l.msg).includes('does not exist yet')),
      'waiting log line',
    );
    await writeCompletedRun(root, 'c', auditIdOf(1), 2);
    await waitFor(() => c.violations().length === 2, 'run after root appeared');
    await rm(root, { recursive: true });
    await waitFor(
      () =>
        r.telemetry.logs.filter((l) => String(l.msg).includes('does not exist yet')).length >= 1,
      'root gone',
    );
    await writeCompletedRun(root, 'c', auditIdOf(2), 3);
    await waitFor(() => c.violations().length === 5, 'run after root was recreated');
  });

  it('follows an open run as it grows and continues through the rename with no gap or duplicate', async () => {
    const dir = join(root, 'c');
    await mkdir(dir);
    const id = auditIdOf(1);
    const lines = runLines(id, 6);
    const txt = join(dir, `${id.replaceAll(':', '_')}.txt`);
    await writeFile(txt, lines.slice(0, 3).join(''));
    const c = collectingSink();
    start({ sink: c.sink, followOpen: true });
    await waitFor(() => c.violations().length === 2, 'first lines of the open run');
    // Half a line, then the rest: only whole lines are delivered.
    await writeFile(txt, lines[3]!.slice(0, 10), { flag: 'a' });
    await writeFile(txt, lines[3]!.slice(10) + lines.slice(4, 6).join(''), { flag: 'a' });
    await waitFor(() => c.violations().length === 5, 'more lines of the open run');
    await writeFile(txt, lines.slice(6).join(''), { flag: 'a' });
    await rename(txt, txt.replace(/\.txt$/, '.log'));
    await waitFor(() => c.got.some((d) => d.marker === 'completed'), 'completion marker');
    expect(c.violations().map((d) => d.line)).toEqual([2, 3, 4, 5, 6, 7]);
  });

  it('follows a burst of appends to an open run without waiting for the poll interval', async () => {
    // Regression: the watcher reports a file's changes at most about once per 50 ms and drops
    // the rest, so the last appends of a burst could wait for the periodic rescan.
    const dir = join(root, 'c');
    await mkdir(dir);
    const id = auditIdOf(1);
    const lines = runLines(id, 40, false);
    const txt = join(dir, `${id.replaceAll(':', '_')}.txt`);
    await writeFile(txt, lines[0]!);
    const c = collectingSink();
    start({ sink: c.sink, followOpen: true, intervalMs: 30_000 });
    await waitFor(() => isOpenHere(txt), 'the reader to open the run file');
    for (let round = 0; round < 4; round++) {
      for (const l of lines.slice(1 + round * 10, 11 + round * 10)) {
        await writeFile(txt, l, { flag: 'a' });
        await new Promise((res) => setTimeout(res, 2));
      }
      const want = 10 * (round + 1);
      await waitFor(() => c.violations().length === want, `${want} lines`, 5_000);
    }
  });

  it('delivers a run even when the writer deletes it right after completion', async () => {
    // Regression guard for the writer's own retention racing the reader (maxAuditResults 0).
    const dir = join(root, 'c');
    await mkdir(dir);
    const id = auditIdOf(1);
    const txt = join(dir, `${id.replaceAll(':', '_')}.txt`);
    await writeFile(txt, runLines(id, 3, false).join(''));
    const c = collectingSink({ delayMs: 0 });
    const r = start({ sink: c.sink });
    // The reader runs in this process: wait until it holds the .txt open.
    await waitFor(() => isOpenHere(txt), 'the reader to open the run file');
    expect(r.telemetry.logs.some((l) => l.msg === 'reader started')).toBe(true);
    await writeFile(txt, runLines(id, 0).slice(-1).join(''), { flag: 'a' });
    const log = txt.replace(/\.txt$/, '.log');
    await rename(txt, log);
    await unlink(log);
    await waitFor(() => c.violations().length === 3, 'violations of the deleted run');
    expect(await metricValue(r.telemetry, 'gk_export_runs_lost_total')).toBe(0);
  });

  it('delivers each run once when runs are renamed and deleted during its directory scans', async () => {
    // Regression: a scan that listed a run as .txt, then found it renamed to .log before its
    // lstat, took the run for deleted, forgot its checkpoint and delivered it again.
    const dir = join(root, 'c');
    await mkdir(dir);
    const c = collectingSink();
    start({ sink: c.sink, intervalMs: 20 });
    const runs = 40;
    for (let i = 0; i < runs; i++) {
      const run = auditIdOf(i).replaceAll(':', '_');
      const txt = join(dir, `${run}.txt`);
      await writeFile(txt, runLines(auditIdOf(i), 20).join(''));
      await new Promise((res) => setTimeout(res, i % 4));
      await rename(txt, join(dir, `${run}.log`));
      await waitFor(() => c.violations().length >= 20 * (i + 1), `run ${i} delivered`);
      // The writer's retention (maxAuditResults 1).
      if (i > 0) await unlink(join(dir, `${auditIdOf(i - 1).replaceAll(':', '_')}.log`));
    }
    await new Promise((res) => setTimeout(res, 300));
    const keys = c.violations().map((d) => d.key);
    expect(new Set(keys).size).toBe(20 * runs);
    expect(keys).toHaveLength(20 * runs);
  });

  it('keeps at most --max-audit-results delivered runs, deleting the oldest', async () => {
    for (let i = 1; i <= 5; i++) await writeCompletedRun(root, 'c', auditIdOf(i), 1, 1000 + i);
    const c = collectingSink();
    start({ sink: c.sink, maxAuditResults: 2 });
    await waitFor(() => c.violations().length === 5, 'all runs');
    await waitFor(async () => (await readdir(join(root, 'c'))).length === 2, 'retention');
    const left = (await readdir(join(root, 'c'))).sort();
    expect(left).toEqual([4, 5].map((i) => `${auditIdOf(i).replaceAll(':', '_')}.log`));
  });

  it('never deletes an open run or an undelivered one', async () => {
    const dir = join(root, 'c');
    await mkdir(dir);
    const open = join(dir, `${auditIdOf(9).replaceAll(':', '_')}.txt`);
    await writeFile(open, runLines(auditIdOf(9), 2, false).join(''));
    for (let i = 1; i <= 3; i++) await writeCompletedRun(root, 'c', auditIdOf(i), 1, 1000 + i);
    const c = collectingSink();
    start({ sink: c.sink, maxAuditResults: 0 });
    await waitFor(() => c.violations().length === 3, 'completed runs');
    await waitFor(async () => (await readdir(dir)).length === 1, 'retention of delivered runs');
    expect((await stat(open)).isFile()).toBe(true);
  });

  it('consumes admission segments oldest first and deletes them after delivery', async () => {
    const dir = join(root, 'c');
    await mkdir(dir);
    const seg = (name: string, n: number) =>
      writeFile(
        join(dir, name),
        runLines('x', n, false)
          .slice(1)
          .map((l) => l.replace('violation_audited', 'violation_admission'))
          .join(''),
      );
    await seg('admission-20260101T000002Z-bbbb.log', 2);
    await seg('admission-20260101T000001Z-aaaa.log', 1);
    await seg('admission-20260101T000003Z-cccc.open', 5);
    const c = collectingSink();
    start({ sink: c.sink });
    await waitFor(() => c.violations().length === 3, 'admission records');
    await waitFor(async () => (await readdir(dir)).length === 1, 'segments deleted');
    expect(await readdir(dir)).toEqual(['admission-20260101T000003Z-cccc.open']);
    expect(c.violations().every((d) => d.source === 'admission')).toBe(true);
  });
});

/** True when this process has `path` open (Linux /proc). */
async function isOpenHere(path: string): Promise<boolean> {
  for (const fd of await readdir('/proc/self/fd')) {
    const target = await readlink(`/proc/self/fd/${fd}`).catch(() => '');
    if (target === path) return true;
  }
  return false;
}
