// Regression: a file name that is not valid UTF-8 (`bad\xff.log`) starved its channel: it was
// read as `bad\ufffd.log`, which lstat never finds, so every scan asked for another (100% CPU)
// and the runs beside it trickled out; the name was never reported.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeTmpDir, waitFor } from '../helpers/tmp.ts';
import { auditIdOf, runLines, writeCompletedRun } from '../helpers/runs.ts';
import { collectingSink, metricValue, startReader } from '../helpers/reader.ts';

const bytes = (...parts: (string | number[])[]) =>
  Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : Buffer.from(p))));

describe('names that are not UTF-8', () => {
  let tmp: Awaited<ReturnType<typeof makeTmpDir>>;
  let root: string;
  const stops: (() => Promise<void>)[] = [];

  beforeEach(async () => {
    tmp = await makeTmpDir();
    root = join(tmp.dir, 'topics');
    await mkdir(join(root, 'c'), { recursive: true });
  });
  afterEach(async () => {
    for (const s of stops.splice(0)) await s();
    await tmp.cleanup();
  });

  it('reports a bad file name once, skips it, and delivers the 100 runs beside it', async () => {
    await writeFile(bytes(join(root, 'c', 'bad'), [0xff], '.log'), runLines('x', 1).join(''));
    // A channel directory with a bad name, too.
    await mkdir(bytes(join(root, 'chan'), [0xfe]));
    for (let i = 0; i < 100; i++) await writeCompletedRun(root, 'c', auditIdOf(i), 1, 1000 + i);
    const c = collectingSink();
    const r = startReader(root, join(tmp.dir, 'state'), { sink: c.sink });
    stops.push(r.stop);
    await waitFor(() => c.violations().length === 100, 'the 100 runs', 10_000);
    // Later rescans (a run found in another channel after several periodic ones) report nothing again.
    await writeCompletedRun(root, 'other', auditIdOf(200), 1);
    await waitFor(() => c.violations().length === 101, 'a later run');
    const bad = r.telemetry.logs.filter((l) => l.error_code === 'invalid_name');
    expect(bad.map((l) => l.file).sort()).toEqual(['c/bad\\xff.log', 'chan\\xfe']);
    expect(
      await metricValue(r.telemetry, 'gk_export_records_invalid_total', {
        error_code: 'invalid_name',
      }),
    ).toBe(2);
  });
});
