// Regression: when retention could not delete a delivered run (read-only mount, a channel
// directory without write permission), the reader forgot the run and its checkpoint, so the
// next scan found it again and delivered it again — about once a second, forever.
import { execFile } from 'node:child_process';
import { chmod, mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { collectingSink, metricValue, startReader } from '../helpers/reader.ts';
import { auditIdOf, runLines, writeCompletedRun } from '../helpers/runs.ts';
import { makeTmpDir, waitFor } from '../helpers/tmp.ts';

const run = promisify(execFile);

/**
 * Makes nothing in `dir` deletable, for this process too: root ignores permission bits, so as
 * root the directory is made immutable (`chattr +i`), otherwise read-only. Returns the undo.
 */
async function freezeDir(dir: string): Promise<() => Promise<void>> {
  if (process.getuid?.() === 0) {
    await run('chattr', ['+i', dir]);
    return async () => void (await run('chattr', ['-i', dir]));
  }
  await chmod(dir, 0o555);
  return () => chmod(dir, 0o755);
}

describe('retention that cannot delete', () => {
  let tmp: Awaited<ReturnType<typeof makeTmpDir>>;
  let root: string;
  let state: string;
  let thaw: (() => Promise<void>) | undefined;
  beforeEach(async () => {
    tmp = await makeTmpDir();
    root = join(tmp.dir, 'topics');
    state = join(tmp.dir, 'state');
  });
  afterEach(async () => {
    await thaw?.();
    thaw = undefined;
    await tmp.cleanup();
  });

  it('keeps each run delivered once, logs once per file, counts, and deletes once it can', async () => {
    const dir = join(root, 'c');
    for (let i = 1; i <= 4; i++) await writeCompletedRun(root, 'c', auditIdOf(i), 3, 1000 + i);
    // An admission segment, consumed (deleted) after delivery.
    await writeFile(
      join(dir, 'admission-20260101T000001Z-aaaa.log'),
      runLines('x', 2, false)
        .slice(1)
        .map((l) => l.replace('violation_audited', 'violation_admission'))
        .join(''),
    );
    thaw = await freezeDir(dir);
    const c = collectingSink();
    const reader = startReader(root, state, { sink: c.sink, maxAuditResults: 1 });
    const { telemetry } = reader;
    try {
      await waitFor(() => c.violations().length === 14, 'every run and the segment');
      // Retried with backoff, across many rescans (poll interval 100 ms): never delivered again.
      await waitFor(
        async () =>
          (await metricValue(telemetry, 'gk_export_file_delete_failures_total', {
            reason: 'retention',
          })) >= 9 &&
          (await metricValue(telemetry, 'gk_export_file_delete_failures_total', {
            reason: 'admission_consumed',
          })) >= 3,
        'repeated delete attempts',
      );
      expect(c.violations()).toHaveLength(14);
      expect(new Set(c.violations().map((d) => d.key)).size).toBe(14);
      const errors = telemetry.logs.filter((l) => l.level === 'error');
      // Once per file: the three oldest runs and the segment.
      expect(errors).toHaveLength(4);
      expect(new Set(errors.map((e) => e.file)).size).toBe(4);

      await thaw();
      thaw = undefined;
      await waitFor(
        async () => (await readdir(dir)).length === 1,
        'the retention and the consume to succeed',
      );
      expect(await readdir(dir)).toEqual([`${auditIdOf(4).replaceAll(':', '_')}.log`]);
      expect(c.violations()).toHaveLength(14);
    } finally {
      await reader.stop();
    }
  });

  it('does not deliver a run again after a restart when it could not be deleted', async () => {
    for (let i = 1; i <= 2; i++) await writeCompletedRun(root, 'c', auditIdOf(i), 2, 1000 + i);
    await mkdir(join(root, 'c'), { recursive: true });
    thaw = await freezeDir(join(root, 'c'));
    const first = collectingSink();
    const a = startReader(root, state, { sink: first.sink, maxAuditResults: 0 });
    await waitFor(() => first.violations().length === 4, 'both runs');
    await waitFor(
      async () => (await metricValue(a.telemetry, 'gk_export_file_delete_failures_total')) >= 2,
      'the failed deletes',
    );
    await a.stop();
    const second = collectingSink();
    const b = startReader(root, state, { sink: second.sink, maxAuditResults: 0 });
    try {
      await waitFor(
        async () => (await metricValue(b.telemetry, 'gk_export_file_delete_failures_total')) >= 4,
        'the deletes retried after the restart',
      );
      expect(second.violations()).toHaveLength(0);
    } finally {
      await b.stop();
    }
  });
});
