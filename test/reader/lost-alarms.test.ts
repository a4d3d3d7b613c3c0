// Regression: "run deleted before it could be delivered" was logged for runs that had been
// delivered (11 in a 200-channel backlog, 6 in an admission backlog): a run delivered and
// deleted (by retention or consumption) was forgotten while a scan that had listed it just
// before was still running; that scan took it for a new run, could not open it, and the next
// scan reported it lost. Operators page on that line.
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/tmp.ts';
import { useWorkspace } from '../helpers/workspace.ts';
import { auditIdOf, runLines, writeCompletedRun } from '../helpers/runs.ts';
import { collectingSink, metricValue } from '../helpers/reader.ts';

describe('lost-run alarms', () => {
  const ws = useWorkspace();

  function start(over: Partial<Parameters<typeof ws.reader>[0]> = {}) {
    const c = collectingSink();
    const r = ws.reader({ sink: c.sink, ...over });
    return { ...r, c };
  }

  async function noFalseAlarm(r: ReturnType<typeof start>, expected: number) {
    const keys = r.c.violations().map((d) => d.key);
    expect(new Set(keys).size).toBe(expected);
    expect(r.telemetry.logs.filter((l) => l.level === 'error')).toEqual([]);
    expect(await metricValue(r.telemetry, 'gk_export_runs_lost_total')).toBe(0);
  }

  it('raises none for a 200-channel backlog of small runs deleted by retention', async () => {
    const channels = 200;
    const runs = 4;
    for (let c = 0; c < channels; c++) {
      for (let i = 0; i < runs; i++)
        await writeCompletedRun(ws.root, `c${c}`, auditIdOf(i), 1, 1000 + i);
    }
    const r = start({ maxAuditResults: 0 });
    await waitFor(
      () => new Set(r.c.violations().map((d) => d.key)).size === channels * runs,
      'the backlog',
      30_000,
    );
    // Every channel is empty, and later scans found nothing to report.
    await waitFor(async () => {
      for (let c = 0; c < channels; c++)
        if ((await readdir(join(ws.root, `c${c}`))).length) return false;
      return true;
    }, 'retention done');
    await writeCompletedRun(ws.root, 'later', auditIdOf(9), 1);
    await waitFor(() => r.c.violations().some((d) => d.channel === 'later'), 'a later run');
    await noFalseAlarm(r, channels * runs + 1);
  });

  it('raises none for an admission backlog consumed while its directory is rescanned', async () => {
    const dir = join(ws.root, 'admission');
    await mkdir(dir, { recursive: true });
    const segments = 200;
    const record = runLines('x', 1, false)[1]!.replace('violation_audited', 'violation_admission');
    for (let i = 0; i < segments; i++) {
      const ts = `20260101T00${String(Math.floor(i / 60)).padStart(2, '0')}${String(i % 60).padStart(2, '0')}.000000000Z`;
      await writeFile(join(dir, `admission-${ts}-${i.toString(16).padStart(16, '0')}.log`), record);
    }
    // Frequent full rescans, so scans that listed a segment finish after it was consumed.
    const r = start({ mode: 'admission', intervalMs: 10 });
    await waitFor(async () => (await readdir(dir)).length === 0, 'every segment consumed');
    await noFalseAlarm(r, segments);
  });
});
