import { appendFile, mkdir, readdir, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeTmpDir, waitFor } from '../helpers/tmp.ts';
import { auditIdOf, runLines, violation, writeCompletedRun } from '../helpers/runs.ts';
import { encodeExportMsg } from '../../src/protocol/encode.ts';
import { collectingSink, startReader } from '../helpers/reader.ts';

const file = (i: number, ext = 'log') => `${auditIdOf(i).replaceAll(':', '_')}.${ext}`;

describe('retention and delivered runs, edge cases', () => {
  let tmp: Awaited<ReturnType<typeof makeTmpDir>>;
  let root: string;
  let dir: string;
  const stops: (() => Promise<void>)[] = [];

  beforeEach(async () => {
    tmp = await makeTmpDir();
    root = join(tmp.dir, 'topics');
    dir = join(root, 'c');
    await mkdir(dir, { recursive: true });
  });
  afterEach(async () => {
    for (const s of stops.splice(0)) await s();
    await tmp.cleanup();
  });

  function start(over: Partial<Parameters<typeof startReader>[2]> = {}) {
    const c = collectingSink();
    const r = startReader(root, join(tmp.dir, 'state'), { sink: c.sink, ...over });
    stops.push(r.stop);
    return { ...r, c };
  }

  it('delivers a line appended to a run after the run was delivered', async () => {
    // Regression: such a line was never sent.
    const path = await writeCompletedRun(root, 'c', auditIdOf(1), 2);
    const r = start();
    await waitFor(() => r.c.violations().length === 2, 'the run');
    await appendFile(path, encodeExportMsg(violation(auditIdOf(1), 99)) + '\n');
    await waitFor(() => r.c.violations().length === 3, 'the appended line');
    expect(r.c.violations()[2]).toMatchObject({ line: 5, msg: { resourceName: 'pod-99' } });
  });

  it('lets a run whose mtime is in the future age like the others', async () => {
    // Regression: retention sorted it newest forever, and deleted every later run instead.
    const future = Date.UTC(2100, 0, 1) / 1000;
    await writeCompletedRun(root, 'c', auditIdOf(1), 1, future);
    const r = start({ maxAuditResults: 1 });
    await waitFor(() => r.c.violations().length === 1, 'the future run');
    await writeCompletedRun(root, 'c', auditIdOf(2), 1);
    await waitFor(() => r.c.violations().length === 2, 'a later run');
    await waitFor(async () => (await readdir(dir)).length === 1, 'retention');
    expect(await readdir(dir)).toEqual([file(2)]);
  });

  it('removes a delivered abandoned .txt like a completed run', async () => {
    // Regression: abandoned runs were delivered but never removed.
    const txt = join(dir, file(1, 'txt'));
    await writeFile(txt, runLines(auditIdOf(1), 2, false).join(''));
    const old = Date.now() / 1000 - 60;
    await utimes(txt, old, old);
    const r = start({ maxAuditResults: 0, abandonAfterMs: 100 });
    await waitFor(() => r.c.violations().length === 2, 'the abandoned run');
    await waitFor(async () => (await readdir(dir)).length === 0, 'the abandoned run removed');
  });
});
