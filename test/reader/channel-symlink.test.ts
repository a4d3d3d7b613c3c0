// Regression: a channel that appeared as a symlink while the reader ran (or a channel swapped
// for one) was followed: lines from outside the root went to the sink, and retention and
// admission consumption deleted files outside the root.
import { mkdir, readdir, rename, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeTmpDir, waitFor } from '../helpers/tmp.ts';
import { auditIdOf, runLines, writeCompletedRun } from '../helpers/runs.ts';
import { collectingSink, metricValue, startReader } from '../helpers/reader.ts';

describe('a symlinked channel', () => {
  let tmp: Awaited<ReturnType<typeof makeTmpDir>>;
  let root: string;
  let state: string;
  let outside: string;
  let outsideFiles: string[];
  const stops: (() => Promise<void>)[] = [];

  beforeEach(async () => {
    tmp = await makeTmpDir();
    root = join(tmp.dir, 'topics');
    state = join(tmp.dir, 'state');
    outside = join(tmp.dir, 'outside');
    await mkdir(root);
    // Outside the root: completed runs (retention would delete them) and an admission
    // segment (consumption would delete it).
    for (let i = 50; i < 53; i++) await writeCompletedRun(tmp.dir, 'outside', auditIdOf(i), 2);
    await writeFile(
      join(outside, 'admission-20260101T000001.000000000Z-00000000000000aa.log'),
      runLines('adm', 2, false)
        .slice(1)
        .map((l) => l.replace('violation_audited', 'violation_admission'))
        .join(''),
    );
    outsideFiles = (await readdir(outside)).sort();
  });
  afterEach(async () => {
    for (const s of stops.splice(0)) await s();
    await tmp.cleanup();
  });

  function start() {
    const c = collectingSink();
    // maxAuditResults 0: every delivered run would be deleted at once.
    const r = startReader(root, state, { sink: c.sink, maxAuditResults: 0 });
    stops.push(r.stop);
    return { ...r, c };
  }

  const fromOutside = (ids: (string | undefined)[]) =>
    ids.filter((id) => id !== undefined && (id === 'adm' || id >= auditIdOf(50))).length;
  type Started = ReturnType<typeof start>;
  const reported = (r: Started, channel: string) =>
    r.telemetry.logs.some((l) => l.file === `${channel}/` && l.error_code === 'symlink');
  const escaped = (r: Started) => fromOutside(r.c.got.map((d) => d.msg.id)) > 0;

  it('is reported once and never followed when it appears while the reader runs', async () => {
    const r = start();
    await writeCompletedRun(root, 'real', auditIdOf(1), 2);
    await waitFor(() => r.c.violations().length === 2, 'the run of the real channel');
    await symlink(outside, join(root, 'evil'));
    await waitFor(
      () => reported(r, 'evil') || escaped(r),
      'the symlinked channel reported (or followed)',
    );
    expect(fromOutside(r.c.got.map((d) => d.msg.id))).toBe(0);
    // Several rescans later (a new run in the real channel is found and delivered twice over).
    for (let i = 2; i <= 3; i++) {
      await writeCompletedRun(root, 'real', auditIdOf(i), 2);
      await waitFor(() => r.c.violations().length === 2 * i, `run ${i} of the real channel`);
    }
    expect(fromOutside(r.c.got.map((d) => d.msg.id))).toBe(0);
    expect(r.c.got.some((d) => d.channel === 'evil')).toBe(false);
    expect((await readdir(outside)).sort()).toEqual(outsideFiles);
    expect(
      await metricValue(r.telemetry, 'gk_export_records_invalid_total', { error_code: 'symlink' }),
    ).toBe(1);
  });

  it('is never followed when an existing channel is swapped for it', async () => {
    const r = start();
    await writeCompletedRun(root, 'c', auditIdOf(1), 2);
    await waitFor(() => r.c.violations().length === 2, 'the run of the channel');
    await rename(join(root, 'c'), join(tmp.dir, 'c.old'));
    await symlink(outside, join(root, 'c'));
    await waitFor(
      () => reported(r, 'c') || escaped(r),
      'the swapped channel reported (or followed)',
    );
    expect(fromOutside(r.c.got.map((d) => d.msg.id))).toBe(0);
    for (let i = 2; i <= 3; i++) {
      await writeCompletedRun(root, 'real', auditIdOf(i), 2);
      await waitFor(() => r.c.violations().length === 2 * i, `run ${i} of another channel`);
    }
    expect(fromOutside(r.c.got.map((d) => d.msg.id))).toBe(0);
    expect((await readdir(outside)).sort()).toEqual(outsideFiles);
  });
});
