import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openCheckpointStore } from '../../src/pipeline/checkpoint.ts';
import { formatInspectTable, inspectRoot, type RunReport } from '../../src/reader/inspect.ts';
import { createAdmissionWriter, createDiskWriter } from '../../src/writer/index.ts';
import { auditIdOf, runLines, violation, writeCompletedRun } from '../helpers/runs.ts';
import { useWorkspace } from '../helpers/workspace.ts';

const runName = (i: number) => auditIdOf(i).replaceAll(':', '_');

describe('inspect', () => {
  const ws = useWorkspace();

  /** A volume with a run of each state, and checkpoints for two of them. */
  async function volume() {
    const done = await writeCompletedRun(ws.root, 'c', auditIdOf(0), 6, 1000);
    const half = await writeCompletedRun(ws.root, 'c', auditIdOf(1), 4, 1001);
    const store = await openCheckpointStore(ws.state);
    const entry = async (path: string, offset: number, isDone: boolean) => {
      const st = await stat(path, { bigint: true });
      const run = path.slice(path.lastIndexOf('/') + 1, -'.log'.length);
      store.set({
        source: 'audit',
        channel: 'c',
        run,
        ino: st.ino.toString(),
        offset,
        line: 0,
        done: isDone,
      });
    };
    await entry(done, (await stat(done)).size, true);
    await entry(half, Math.floor((await stat(half)).size / 2), false);
    await store.flush();
    // A run still being written (its writer holds the lock), and one whose writer is gone.
    const writer = createDiskWriter({ root: ws.root });
    ws.defer(() => writer.close());
    const writing = await writer.startRun('c', auditIdOf(2));
    await writing.write(violation(writing.auditId, 0));
    await writing.flush();
    await writeFile(
      join(ws.root, 'c', `${runName(3)}.txt`),
      runLines(auditIdOf(3), 2, false).join(''),
    );
    // A completed run whose writer never wrote the completion marker.
    await writeFile(
      join(ws.root, 'c', `${runName(4)}.log`),
      runLines(auditIdOf(4), 3, false).join(''),
    );
    const adm = createAdmissionWriter({ root: ws.root, channel: 'adm' });
    ws.defer(() => adm.close());
    await adm.writeBatch([{ ...violation('req-1', 1), eventType: 'violation_admission' }]);
    await adm.rotate();
  }

  it("reports each run: state (in the reader's words), lines, violations by constraint, and how much was delivered", async () => {
    await volume();
    const reports = await inspectRoot(ws.root, ws.state);
    const byRun = new Map(reports.map((r) => [r.run, r]));
    expect(byRun.get(runName(0))).toEqual({
      channel: 'c',
      run: runName(0),
      file: `${runName(0)}.log`,
      kind: 'audit',
      state: 'complete',
      lines: 8,
      violations: 6,
      byConstraint: { 'constraint-0': 2, 'constraint-1': 2, 'constraint-2': 2 },
      deliveredPct: 100,
    } satisfies RunReport);
    expect(byRun.get(runName(1))).toMatchObject({ state: 'complete', violations: 4 });
    expect(byRun.get(runName(1))!.deliveredPct).toBeGreaterThanOrEqual(49);
    expect(byRun.get(runName(1))!.deliveredPct).toBeLessThanOrEqual(50);
    expect(byRun.get(runName(2))).toMatchObject({
      state: 'open',
      file: `${runName(2)}.txt`,
      violations: 1,
      deliveredPct: 0,
    });
    expect(byRun.get(runName(3))).toMatchObject({ state: 'abandoned', lines: 3, violations: 2 });
    expect(byRun.get(runName(4))).toMatchObject({ state: 'incomplete', lines: 4, violations: 3 });
    const admission = reports.find((r) => r.channel === 'adm')!;
    expect(admission).toMatchObject({
      kind: 'admission',
      state: 'complete',
      lines: 1,
      violations: 1,
    });
    // Completed runs in completion order within their channel.
    const c = reports.filter((r) => r.channel === 'c').map((r) => r.run);
    expect(c.indexOf(runName(0))).toBeLessThan(c.indexOf(runName(1)));
  });

  it('changes nothing on the volume or in the state dir', async () => {
    await volume();
    const list = async () => ({
      c: (await readdir(join(ws.root, 'c'))).sort(),
      adm: (await readdir(join(ws.root, 'adm'))).sort(),
      state: (await readdir(ws.state)).sort(),
      checkpoints: await readFile(join(ws.state, 'checkpoints.json'), 'utf8'),
    });
    const before = await list();
    await inspectRoot(ws.root, ws.state);
    expect(await list()).toEqual(before);
  });

  it('`gk-export inspect` prints the same reports as JSON lines, or as a table', async () => {
    await writeCompletedRun(ws.root, 'c', auditIdOf(0), 6, 1000);
    const expected = await inspectRoot(ws.root, ws.state);
    const args = ['inspect', '--root', ws.root, '--state-dir', ws.state];
    const json = ws.cli([...args, '--json']);
    expect((await json.exited).code).toBe(0);
    expect(json.lines().map((l) => JSON.parse(l) as RunReport)).toEqual(expected);
    const table = ws.cli(args);
    expect((await table.exited).code).toBe(0);
    expect(table.stdout()).toBe(formatInspectTable(expected));
    const [header, row] = table.lines();
    expect(header).toMatch(
      /^CHANNEL\s+RUN\s+STATE\s+LINES\s+VIOLATIONS\s+DELIVERED\s+BY CONSTRAINT$/,
    );
    expect(row!.split(/\s+/)).toEqual([
      'c',
      runName(0),
      'complete',
      '8',
      '6',
      '0%',
      'constraint-0=2',
      'constraint-1=2',
      'constraint-2=2',
    ]);
  });

  it('prints only the header for a root with no runs', async () => {
    const p = ws.cli(['inspect', '--root', ws.path('empty'), '--state-dir', ws.state]);
    expect((await p.exited).code).toBe(0);
    expect(p.lines()).toHaveLength(1);
  });
});
