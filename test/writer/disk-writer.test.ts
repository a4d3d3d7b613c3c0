import { execFile } from 'node:child_process';
import { readdir, readFile, stat, utimes, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createDiskWriter } from '../../src/writer/disk-writer.ts';
import { pruneCompletedRuns } from '../../src/writer/retention.ts';
import { makeTmpDir } from '../helpers/tmp.ts';
import { violation } from '../helpers/runs.ts';

const run = promisify(execFile);
const ID = '2023-07-18T21:21:52Z';

async function sharedLockFree(path: string): Promise<boolean> {
  try {
    await run('flock', ['-n', '-s', path, 'true']);
    return true;
  } catch {
    return false;
  }
}

describe('disk writer', () => {
  let tmp: Awaited<ReturnType<typeof makeTmpDir>>;
  let root: string;
  beforeEach(async () => {
    tmp = await makeTmpDir();
    root = join(tmp.dir, 'topics');
  });
  afterEach(() => tmp.cleanup());

  it('follows Publish semantics: started opens, violations append, completed closes', async () => {
    const w = createDiskWriter({ root, maxAuditResults: 3 });
    await w.publish('audit-channel', { id: ID, message: 'audit is started' });
    await w.publish('audit-channel', violation(ID, 1));
    const txt = join(root, 'audit-channel', '2023-07-18T21_21_52Z.txt');
    // While the run is open the .txt is locked: an independent flock(1) cannot share it.
    expect(await sharedLockFree(txt)).toBe(false);
    await w.publish('audit-channel', { id: ID, message: 'audit is completed' });
    const log = txt.replace(/\.txt$/, '.log');
    expect(await sharedLockFree(log)).toBe(true);
    const lines = (await readFile(log, 'utf8')).split('\n');
    expect(lines[0]).toBe('{"id":"2023-07-18T21:21:52Z","message":"audit is started"}');
    expect(JSON.parse(lines[1]!).resourceName).toBe('pod-1');
    expect(lines[2]).toBe('{"id":"2023-07-18T21:21:52Z","message":"audit is completed"}');
    expect(lines[3]).toBe('');
    expect((await stat(log)).mode & 0o777).toBe(0o666);
    expect((await stat(join(root, 'audit-channel'))).mode & 0o777).toBe(0o770);
  });

  it('refuses a second start on a channel and violations with no open run', async () => {
    const w = createDiskWriter({ root });
    await expect(w.publish('c', violation(ID, 1))).rejects.toMatchObject({
      code: 'ERR_NO_OPEN_RUN',
    });
    await w.publish('c', { id: ID, message: 'audit is started' });
    await expect(
      w.publish('c', { id: '2023-07-18T21:21:53Z', message: 'audit is started' }),
    ).rejects.toMatchObject({
      code: 'ERR_RUN_ALREADY_OPEN',
    });
    await w.close();
    expect(await readdir(join(root, 'c'))).toEqual([]);
  });

  it('aborts a run: no .log appears and the .txt is removed', async () => {
    const w = createDiskWriter({ root });
    const r = await w.startRun('c', ID);
    await r.write(violation(ID, 1));
    await r.abort();
    expect(await readdir(join(root, 'c'))).toEqual([]);
    await expect(r.write(violation(ID, 2))).rejects.toMatchObject({ code: 'ERR_RUN_CLOSED' });
  });

  it.each([
    [{ root: '/' }, 'ERR_INVALID_CONFIG'],
    [{ root: '/tmp/../etc' }, 'ERR_INVALID_CONFIG'],
    [{ root: '/tmp/x', maxAuditResults: 6 }, 'ERR_INVALID_CONFIG'],
    [{ root: '/tmp/x', maxAuditResults: 1.5 }, 'ERR_INVALID_CONFIG'],
  ])('refuses config %j with %s', (opts, code) => {
    expect(() => createDiskWriter(opts)).toThrow(expect.objectContaining({ code }));
  });

  it.each(['', '..', 'a/b', 'a\\b'])('refuses the channel %j', async (channel) => {
    const w = createDiskWriter({ root });
    await expect(w.startRun(channel, ID)).rejects.toMatchObject({ code: 'ERR_INVALID_NAME' });
  });

  it('keeps maxAuditResults completed runs by mtime (ties by name), never admission segments', async () => {
    const dir = join(root, 'c');
    await mkdir(dir, { recursive: true });
    const names = ['b.log', 'a.log', 'c.log', 'd.log', 'admission-x-1.log', 'e.txt'];
    for (const n of names) await writeFile(join(dir, n), '');
    const t = (s: number) => utimes(join(dir, names[s]!), 1000 + s, 1000 + s);
    await t(0);
    await utimes(join(dir, 'a.log'), 1000, 1000); // same mtime as b.log: a before b
    await t(2);
    await t(3);
    await utimes(join(dir, 'admission-x-1.log'), 1, 1);
    expect(await pruneCompletedRuns(dir, 2)).toEqual(['a.log', 'b.log']);
    expect((await readdir(dir)).sort()).toEqual(['admission-x-1.log', 'c.log', 'd.log', 'e.txt']);
  });

  it('applies retention after each completed run', async () => {
    const w = createDiskWriter({ root, maxAuditResults: 1 });
    for (let i = 0; i < 3; i++) {
      const id = `2023-07-18T21:21:5${i}Z`;
      const r = await w.startRun('c', id);
      await r.complete();
      await utimes(join(root, 'c', `${id.replaceAll(':', '_')}.log`), 1000 + i, 1000 + i);
    }
    expect(await readdir(join(root, 'c'))).toEqual(['2023-07-18T21_21_52Z.log']);
  });
});
