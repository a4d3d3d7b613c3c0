import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openCheckpointStore } from '../../src/pipeline/checkpoint.ts';
import { makeTmpDir } from '../helpers/tmp.ts';

const entry = {
  source: 'audit',
  channel: 'c',
  run: 'r',
  ino: '42',
  offset: 10,
  line: 2,
  done: false,
};

describe('checkpoint store', () => {
  let tmp: Awaited<ReturnType<typeof makeTmpDir>>;
  beforeEach(async () => {
    tmp = await makeTmpDir();
  });
  afterEach(() => tmp.cleanup());

  it('persists entries as versioned JSON and reads them back', async () => {
    const s = await openCheckpointStore(tmp.dir);
    s.set(entry);
    await s.flush();
    const file = JSON.parse(await readFile(join(tmp.dir, 'checkpoints.json'), 'utf8'));
    expect(file).toEqual({ version: 1, checkpoints: [entry] });
    const again = await openCheckpointStore(tmp.dir);
    expect([...again.entries()]).toEqual([entry]);
  });

  it('prefers a complete temp file left by a crash between write and rename', async () => {
    await writeFile(
      join(tmp.dir, 'checkpoints.json'),
      JSON.stringify({ version: 1, checkpoints: [entry] }),
    );
    const newer = { ...entry, offset: 99, line: 9 };
    await writeFile(
      join(tmp.dir, 'checkpoints.json.tmp'),
      JSON.stringify({ version: 1, checkpoints: [newer] }),
    );
    const s = await openCheckpointStore(tmp.dir);
    expect([...s.entries()]).toEqual([newer]);
  });

  it('ignores a torn temp file and uses the real one', async () => {
    await writeFile(
      join(tmp.dir, 'checkpoints.json'),
      JSON.stringify({ version: 1, checkpoints: [entry] }),
    );
    await writeFile(join(tmp.dir, 'checkpoints.json.tmp'), '{"version":1,"checkp');
    const s = await openCheckpointStore(tmp.dir);
    expect([...s.entries()]).toEqual([entry]);
  });

  it('refuses a corrupt checkpoint file with a stable code', async () => {
    await writeFile(join(tmp.dir, 'checkpoints.json'), '{"version":2}');
    await expect(openCheckpointStore(tmp.dir)).rejects.toMatchObject({
      code: 'ERR_CHECKPOINT_CORRUPT',
    });
  });

  it('refuses a checkpoint with a negative offset at load', async () => {
    // Regression: the entry was loaded, and its run failed to read ("read failed") every second.
    await writeFile(
      join(tmp.dir, 'checkpoints.json'),
      JSON.stringify({ version: 1, checkpoints: [entry, { ...entry, run: 's', offset: -5 }] }),
    );
    const err = await openCheckpointStore(tmp.dir).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_CHECKPOINT_CORRUPT' });
    expect((err as Error).message).toContain('entry 1: offset -5');
  });

  it('skips the write when nothing changed', async () => {
    const s = await openCheckpointStore(tmp.dir);
    s.set(entry);
    await s.flush();
    await writeFile(join(tmp.dir, 'checkpoints.json'), 'sentinel');
    s.set({ ...entry });
    await s.flush();
    expect(await readFile(join(tmp.dir, 'checkpoints.json'), 'utf8')).toBe('sentinel');
  });

  it('group commit: flushes in one tick share one write, taken when it starts', async () => {
    const s = await openCheckpointStore(tmp.dir);
    s.set(entry);
    const first = s.flush();
    s.set({ ...entry, offset: 20, line: 3 });
    expect(s.flush()).toBe(first);
    expect(await first).toBe(true);
    const file = JSON.parse(await readFile(join(tmp.dir, 'checkpoints.json'), 'utf8'));
    expect(file.checkpoints[0]).toMatchObject({ offset: 20, line: 3 });
    // Nothing changed since: the next flush writes nothing.
    expect(await s.flush()).toBe(false);
  });

  it('flushSoon writes within the interval; a flush meanwhile writes at once for both', async () => {
    const s = await openCheckpointStore(tmp.dir, { intervalMs: 60_000 });
    s.set(entry);
    // The first write is due at once.
    expect(await s.flushSoon()).toBe(true);
    s.set({ ...entry, offset: 20, line: 3 });
    const soon = s.flushSoon();
    expect(s.flushSoon()).toBe(soon);
    s.set({ ...entry, offset: 30, line: 4 });
    // Not a minute later: a flush (a run's end) writes now, and the scheduled write with it.
    expect(s.flush()).toBe(soon);
    expect(await soon).toBe(true);
    const file = JSON.parse(await readFile(join(tmp.dir, 'checkpoints.json'), 'utf8'));
    expect(file.checkpoints[0]).toMatchObject({ offset: 30, line: 4 });
  });
});
