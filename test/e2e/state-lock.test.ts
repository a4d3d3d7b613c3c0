// Regression: two readers on one state dir both delivered everything (900–4,500 duplicates per
// trial) until one died with a misleading ENOENT; and a state dir that is not writable made
// every restart deliver its first batch again (the checkpoint could never be saved).
import { execFile, spawn } from 'node:child_process';
import { chmod, mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readArgs, runCli } from '../helpers/cli.ts';
import { auditIdOf, writeCompletedRun } from '../helpers/runs.ts';
import { makeTmpDir, waitFor } from '../helpers/tmp.ts';

const run = promisify(execFile);

/** util-linux flock(1), an independent process: can it take the lock file without waiting? */
async function flockFree(path: string): Promise<boolean> {
  try {
    await run('flock', ['-n', path, 'true']);
    return true;
  } catch {
    return false;
  }
}

describe('the state dir', () => {
  let tmp: Awaited<ReturnType<typeof makeTmpDir>>;
  let root: string;
  let state: string;
  let thaw: (() => Promise<void>) | undefined;
  beforeEach(async () => {
    tmp = await makeTmpDir();
    root = join(tmp.dir, 'topics');
    state = join(tmp.dir, 'state');
    for (let i = 0; i < 3; i++) await writeCompletedRun(root, 'c', auditIdOf(i), 20, 1000 + i);
  });
  afterEach(async () => {
    await thaw?.();
    thaw = undefined;
    await tmp.cleanup();
  });

  it('serves one reader: a second one exits 2 at once naming the holder, flock(1) sees the lock', async () => {
    const a = runCli(readArgs(root, state));
    try {
      await waitFor(() => a.lines().length === 60, 'the first reader to deliver everything');
      const lockFile = join(state, 'reader.lock');
      expect(await flockFree(lockFile)).toBe(false);

      const b = runCli(readArgs(root, state));
      const { code } = await b.exited;
      expect(code).toBe(2);
      expect(b.stdout()).toBe('');
      expect(b.stderr().trim().split('\n')).toEqual([
        expect.stringContaining(`another reader holds ${state} (pid ${a.child.pid})`),
      ]);
    } finally {
      a.child.kill('SIGTERM');
      await a.exited;
    }
    expect(await flockFree(join(state, 'reader.lock'))).toBe(true);
    // A lock held by another program counts the same.
    // (Its own process group: `sleep` inherits the locked descriptor and must go too.)
    const holder = spawn('flock', [join(state, 'reader.lock'), 'sleep', '30'], {
      detached: true,
      stdio: 'ignore',
    });
    try {
      await waitFor(
        async () => !(await flockFree(join(state, 'reader.lock'))),
        'flock(1) to hold it',
      );
      const b = runCli(readArgs(root, state));
      expect((await b.exited).code).toBe(2);
      expect(b.stderr()).toContain(`another reader holds ${state} (pid unknown)`);
    } finally {
      process.kill(-holder.pid!, 'SIGKILL');
    }
    await waitFor(() => flockFree(join(state, 'reader.lock')), 'flock(1) to let go');
    // Once the first is gone, the next one starts and has nothing left to deliver.
    const c = runCli(readArgs(root, state));
    await waitFor(() => c.stderr().includes('reader started'), 'the next reader to start');
    c.child.kill('SIGTERM');
    expect((await c.exited).code).toBe(0);
    expect(c.stdout()).toBe('');
  });

  it('refuses to start when the state dir is not writable, delivering nothing', async () => {
    await mkdir(state);
    await writeFile(join(state, 'reader.lock'), '');
    if (process.getuid?.() === 0) {
      // Root ignores permission bits; an immutable directory takes no new file even from root.
      await run('chattr', ['+i', state]);
      thaw = async () => void (await run('chattr', ['-i', state]));
    } else {
      await chmod(state, 0o555);
      thaw = () => chmod(state, 0o755);
    }
    const p = runCli(readArgs(root, state));
    const { code } = await p.exited;
    expect(code).toBe(2);
    expect(p.stdout()).toBe('');
    const lines = p.stderr().trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`state dir ${state} is not writable`);
    expect(await readdir(state)).toEqual(['reader.lock']);
  });
});
