import { appendFile, mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FilterConfig } from '../../../src/reader/filters.ts';
import { inspectRoot } from '../../../src/reader/inspect.ts';
import { brokenSink, heldSink, startLanes, takingSink } from '../../helpers/lanes.ts';
import { metricValue } from '../../helpers/reader.ts';
import { runFiles, writeNamespacedRun } from '../../helpers/routing.ts';
import { auditIdOf, runLines } from '../../helpers/runs.ts';
import { makeTmpDir, waitFor } from '../../helpers/tmp.ts';

const route = (over: Partial<FilterConfig>): FilterConfig => ({
  eventTypes: [],
  enforcementActions: [],
  constraintKinds: [],
  namespaces: [],
  dropFields: [],
  ...over,
});

describe('reader lanes (one per sink)', () => {
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

  it('gives each sink its route and dropped fields, each with its own checkpoint file', async () => {
    for (let i = 0; i < 2; i++) await writeNamespacedRun(root, 'c', i, 48);
    const team = takingSink('team');
    const all = takingSink('all');
    const r = startLanes(root, state, [
      {
        name: 'team',
        open: team.open,
        route: route({ namespaces: ['ns-1*'], dropFields: ['resourceLabels'] }),
      },
      { name: 'all', open: all.open },
    ]);
    stops.push(r.stop);
    await waitFor(() => all.violations().length === 96, 'every record to the catch-all');
    await waitFor(() => team.violations().length === 24, 'the routed records');
    expect(new Set(team.violations().map((d) => d.msg.resourceNamespace))).toEqual(
      new Set(['ns-1', 'ns-10', 'ns-11']),
    );
    expect(team.violations().every((d) => !d.raw.includes('resourceLabels'))).toBe(true);
    expect(all.violations().every((d) => d.raw.includes('resourceLabels'))).toBe(true);
    expect(
      await metricValue(r.telemetry, 'gk_export_records_filtered_total', {
        filter: 'namespace',
        sink: 'team',
      }),
    ).toBe(72);
    await r.stop();
    stops.pop();
    expect((await readdir(join(state, 'checkpoints'))).sort()).toEqual(['all.json', 'team.json']);
  });

  it('counts the lines and runs it reads once, and reports bad input once, however many sinks read them', async () => {
    for (let i = 0; i < 2; i++) await writeNamespacedRun(root, 'c', i, 48);
    await appendFile(join(root, 'c', `${auditIdOf(1).replaceAll(':', '_')}.log`), '{"id": \n');
    await writeFile(join(tmp.dir, 'outside'), '');
    await symlink(
      join(tmp.dir, 'outside'),
      join(root, 'c', `${auditIdOf(2).replaceAll(':', '_')}.log`),
    );
    const sinks = ['a', 'b', 'c'].map((name) => ({ name, ...takingSink(name) }));
    const r = startLanes(
      root,
      state,
      sinks.map((s) => ({ name: s.name, open: s.open })),
    );
    stops.push(r.stop);
    for (const s of sinks) {
      await waitFor(() => s.violations().length === 96, `every record to ${s.name}`);
    }
    const m = (name: string, labels?: Record<string, string>) =>
      metricValue(r.telemetry, name, labels);
    await waitFor(
      async () => (await m('gk_export_runs_completed_total')) >= 2,
      'both runs delivered',
    );
    await r.stop();
    stops.pop();
    // Two runs of 48 violations and their two markers, and a bad line: 101 lines, read by each
    // of the sinks.
    expect(await m('gk_export_records_read_total', { source: 'audit' })).toBe(101);
    expect(await m('gk_export_runs_completed_total', { state: 'complete' })).toBe(2);
    expect(await m('gk_export_runs_pending_pushed_total')).toBe(2);
    expect(await m('gk_export_runs_pending_popped_total')).toBe(2);
    expect(await m('gk_export_records_invalid_total', { error_code: 'invalid_json' })).toBe(1);
    expect(await m('gk_export_records_invalid_total', { error_code: 'symlink' })).toBe(1);
    const dead = (await readFile(join(state, 'dead-letter.jsonl'), 'utf8')).trim().split('\n');
    expect(dead).toHaveLength(1);
  });

  it('counts the run files every lane holds open', async () => {
    await writeNamespacedRun(root, 'c', 0, 10);
    const sinks = ['a', 'b'].map((name) => ({ name, ...heldSink(name) }));
    const r = startLanes(
      root,
      state,
      sinks.map((s) => ({ name: s.name, open: s.open })),
    );
    stops.push(r.stop);
    const open = () => metricValue(r.telemetry, 'gk_export_run_files_open');
    // Both receivers are down: each lane holds the run's file while its batch waits.
    await waitFor(async () => (await open()) === 2, 'one open run file per lane');
    for (const s of sinks) s.release();
    for (const s of sinks) await waitFor(() => s.violations().length === 10, `${s.name}'s records`);
    await waitFor(async () => (await open()) === 0, 'every run file closed');
  });

  it('deletes a delivered run only once every sink has it; a sink down holds only its own lane', async () => {
    for (let i = 0; i < 3; i++) await writeNamespacedRun(root, 'c', i, 20);
    const up = takingSink('up');
    const down = heldSink('down');
    const r = startLanes(
      root,
      state,
      [
        { name: 'up', open: up.open },
        { name: 'down', open: down.open },
      ],
      { maxAuditResults: 0 },
    );
    stops.push(r.stop);
    await waitFor(() => up.violations().length === 60, 'the sink that is up');
    await waitFor(
      async () =>
        (await metricValue(r.telemetry, 'gk_export_sink_lag_records', { sink: 'down' })) > 0,
      'the lag of the sink that is down',
    );
    expect(await runFiles(root, 'c')).toHaveLength(3);
    // inspect shows each sink's progress, and the least of them.
    const runs = await inspectRoot(root, state);
    expect(runs.map((x) => [x.deliveredPct, x.deliveredPctBySink])).toEqual(
      Array(3).fill([0, { down: 0, up: 100 }]),
    );
    down.release();
    await waitFor(() => down.violations().length === 60, 'the sink that was down');
    await waitFor(async () => (await runFiles(root, 'c')).length === 0, 'retention');
  });

  it('stops only the lane of a sink that failed for good; the others go on, counting and reporting what they read', async () => {
    for (let i = 0; i < 2; i++) await writeNamespacedRun(root, 'c', i, 10);
    const up = takingSink('up');
    // The first sink's lane stops: what it counted and reported alone before, the others do.
    const r = startLanes(root, state, [brokenSink('broken'), { name: 'up', open: up.open }]);
    stops.push(r.stop);
    await waitFor(() => up.violations().length === 20, 'the other sink');
    await waitFor(
      () => r.telemetry.logs.some((l) => l.sink === 'broken' && l.level === 'error'),
      'the stopped sink said so',
    );
    const m = (name: string, labels?: Record<string, string>) =>
      metricValue(r.telemetry, name, labels);
    expect(await m('gk_export_sink_up', { sink: 'broken' })).toBe(0);
    // A later run, with a bad line, read only by the lane that is left.
    await appendFile(await writeNamespacedRun(root, 'c', 2, 10), '{"id": \n');
    await waitFor(() => up.violations().length === 30, 'a later run to the other sink');
    await waitFor(async () => (await m('gk_export_runs_completed_total')) >= 3, 'all 3 runs');
    await r.stop();
    stops.pop();
    // Twelve lines a run (ten violations and two markers), and the bad one: each counted once.
    expect(await m('gk_export_records_read_total', { source: 'audit' })).toBe(37);
    expect(await m('gk_export_runs_completed_total')).toBe(3);
    expect(await m('gk_export_runs_pending_pushed_total')).toBe(3);
    expect(await m('gk_export_runs_pending_popped_total')).toBe(3);
    expect(await m('gk_export_records_invalid_total', { error_code: 'invalid_json' })).toBe(1);
    const dead = (await readFile(join(state, 'dead-letter.jsonl'), 'utf8')).trim().split('\n');
    expect(dead.map((l) => JSON.parse(l) as { line: number; code: string })).toEqual([
      expect.objectContaining({ line: 13, code: 'invalid_json' }),
    ]);
  });

  it('consumes an admission segment only once every sink has it', async () => {
    const dir = join(root, 'c');
    await mkdir(dir);
    await writeFile(
      join(dir, 'admission-20260101T000001Z-aaaa.log'),
      runLines('x', 3, false)
        .slice(1)
        .map((l) => l.replace('violation_audited', 'violation_admission'))
        .join(''),
    );
    const up = takingSink('up');
    const down = heldSink('down');
    const r = startLanes(root, state, [
      { name: 'up', open: up.open },
      { name: 'down', open: down.open },
    ]);
    stops.push(r.stop);
    await waitFor(() => up.violations().length === 3, 'the sink that is up');
    expect(await readdir(dir)).toEqual(['admission-20260101T000001Z-aaaa.log']);
    down.release();
    await waitFor(async () => (await readdir(dir)).length === 0, 'the segment consumed');
    expect(down.violations()).toHaveLength(3);
  });

  it("past maxLag, sets the lagging sink's records of its oldest runs aside and releases the runs", async () => {
    for (let i = 0; i < 4; i++) await writeNamespacedRun(root, 'c', i, 24);
    const up = takingSink('up');
    const down = heldSink('down');
    const r = startLanes(
      root,
      state,
      [
        { name: 'up', open: up.open },
        {
          name: 'down',
          open: down.open,
          route: route({ namespaces: ['ns-1'] }),
          maxLag: { runs: 1 },
        },
      ],
      { maxAuditResults: 0 },
    );
    stops.push(r.stop);
    await waitFor(() => up.violations().length === 96, 'the sink that is up');
    // Three of the four runs are released for the others; the newest is still held for it.
    await waitFor(async () => (await runFiles(root, 'c')).length === 1, 'three runs released');
    expect(
      await metricValue(r.telemetry, 'gk_export_records_dead_lettered_total', {
        stage: 'max_lag',
        sink: 'down',
      }),
    ).toBe(6);
    const dead = (await readFile(join(state, 'dead-letter.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { sink: string; code: string; lines: string[] });
    expect(dead.every((d) => d.sink === 'down' && d.code === 'max_lag')).toBe(true);
    const lines = dead.flatMap((d) =>
      d.lines.map((l) => JSON.parse(l) as { resourceNamespace: string }),
    );
    expect(lines).toHaveLength(6);
    expect(lines.every((m) => m.resourceNamespace === 'ns-1')).toBe(true);
    expect(
      r.telemetry.logs.filter((l) => l.level === 'error' && String(l.msg).includes('maxLag')),
    ).toHaveLength(3);
    expect(down.opened()).toBeGreaterThan(1);
    down.release();
    await waitFor(() => down.violations().length === 2, "the newest run's routed records");
    await waitFor(async () => (await runFiles(root, 'c')).length === 0, 'the last run deleted');
  });
});
