// Regression: each run file must have one owner, one open and one close. A scan and the
// delivery loop could open the same file at once (one descriptor leaked: 23 → 110 open files
// after catching up 200 channels × 11 runs, and at --max-open-files new runs were no longer
// held open), and a scan closed an admission segment while its consumption still held the
// descriptor (`flock … errno 9`, use after close).
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/tmp.ts';
import { useWorkspace } from '../helpers/workspace.ts';
import { auditIdOf, runLines, writeCompletedRun } from '../helpers/runs.ts';
import { collectingSink, metricValue } from '../helpers/reader.ts';

const openFds = async () => (await readdir('/proc/self/fd')).length;

describe('run file descriptors', () => {
  const ws = useWorkspace();

  async function backToBaseline(r: ReturnType<typeof ws.reader>, baseline: number) {
    // The watcher holds a descriptor or two; no run file stays open.
    await waitFor(async () => (await openFds()) <= baseline + 3, 'descriptors back to baseline');
    // The last delivery closes its file just after its ack; a leak keeps the gauge up for good.
    await waitFor(
      async () => (await metricValue(r.telemetry, 'gk_export_run_files_open')) === 0,
      'no run file held open',
    );
  }

  it('are closed once, after consumption, for a backlog of admission segments', async () => {
    const dir = join(ws.root, 'admission');
    await mkdir(dir, { recursive: true });
    const segments = 300;
    const record = runLines('x', 1, false)[1]!.replace('violation_audited', 'violation_admission');
    for (let i = 0; i < segments; i++) {
      const ts = `20260101T00${String(Math.floor(i / 60)).padStart(2, '0')}${String(i % 60).padStart(2, '0')}.000000000Z`;
      await writeFile(join(dir, `admission-${ts}-${i.toString(16).padStart(16, '0')}.log`), record);
    }
    const baseline = await openFds();
    const sink = collectingSink();
    const r = ws.reader({ sink: sink.sink, mode: 'admission' });
    await waitFor(() => sink.violations().length === segments, 'every segment delivered');
    await waitFor(async () => (await readdir(dir)).length === 0, 'every segment consumed');
    expect(r.telemetry.logs.filter((l) => l.level === 'warn' || l.level === 'error')).toEqual([]);
    await backToBaseline(r, baseline);
  });

  it('are opened once and closed once when many channels catch up', async () => {
    const channels = 150;
    const runs = 4;
    for (let c = 0; c < channels; c++) {
      for (let i = 0; i < runs; i++) {
        await writeCompletedRun(ws.root, `c${c}`, auditIdOf(i), 1, 1000 + i);
      }
    }
    const baseline = await openFds();
    const sink = collectingSink();
    // Retention deletes each delivered run, so scans run while runs are opened for delivery.
    const r = ws.reader({
      sink: sink.sink,
      maxAuditResults: 1,
      intervalMs: 10,
    });
    await waitFor(() => sink.violations().length === channels * runs, 'the backlog', 30_000);
    await backToBaseline(r, baseline);
    expect(await metricValue(r.telemetry, 'gk_export_runs_lost_total')).toBe(0);
  });
});
