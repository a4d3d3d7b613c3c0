// Regression: when the export root could not be listed (EACCES, EMFILE), at start or while
// running, the reader died of an unhandled rejection with a raw stack trace. It must log one
// ERROR, report not ready on /readyz, and retry with backoff until the root can be read.
import { spawn } from 'node:child_process';
import { chmod, chown, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CLI, runCli } from '../helpers/cli.ts';
import { freePort } from '../helpers/ports.ts';
import { auditIdOf, writeCompletedRun } from '../helpers/runs.ts';
import { makeTmpDir, waitFor } from '../helpers/tmp.ts';

// Root bypasses permission checks: the reader runs as nobody when the tests run as root.
const NOBODY = 65534;
const asRoot = process.getuid?.() === 0;

describe('an export root that is not there', () => {
  let tmp: Awaited<ReturnType<typeof makeTmpDir>>;
  beforeEach(async () => {
    tmp = await makeTmpDir();
  });
  afterEach(() => tmp.cleanup());

  it('is waited for with the HTTP server off, instead of exiting', async () => {
    // Regression: with --http-port 0 nothing but an unref'd timer was left while waiting, and
    // the process exited (code 13, "unsettled top-level await").
    const root = join(tmp.dir, 'topics');
    const p = runCli([
      'read',
      '--root',
      root,
      '--state-dir',
      join(tmp.dir, 'st'),
      '--http-port',
      '0',
      '--poll-interval',
      '50ms',
    ]);
    try {
      await waitFor(() => p.stderr().includes('does not exist yet'), 'the waiting line');
      await writeCompletedRun(root, 'c', auditIdOf(1), 2);
      await waitFor(() => p.lines().length === 2, `the run (stderr: ${p.stderr().slice(-300)})`);
    } finally {
      p.child.kill('SIGTERM');
      expect((await p.exited).code).toBe(0);
    }
  });
});

describe('an export root that cannot be listed', () => {
  let tmp: Awaited<ReturnType<typeof makeTmpDir>>;
  beforeEach(async () => {
    tmp = await makeTmpDir();
    await chmod(tmp.dir, 0o755);
  });
  afterEach(async () => {
    await chmod(join(tmp.dir, 'topics'), 0o755).catch(() => undefined);
    await tmp.cleanup();
  });

  it('logs one ERROR, is not ready, and recovers when the root becomes readable', async () => {
    const root = join(tmp.dir, 'topics');
    const state = join(tmp.dir, 'state');
    await writeCompletedRun(root, 'c', auditIdOf(1), 3);
    await mkdir(state);
    if (asRoot) await chown(state, NOBODY, NOBODY);
    await chmod(root, 0o000);
    const port = await freePort();
    const child = spawn(
      process.execPath,
      [
        CLI,
        'read',
        '--root',
        root,
        '--state-dir',
        state,
        '--http-port',
        String(port),
        '--poll-interval',
        '50ms',
        '--log-level',
        'debug',
      ],
      {
        ...(asRoot ? { uid: NOBODY, gid: NOBODY } : {}),
        env: { PATH: process.env.PATH, HOME: '/nonexistent' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
    const exited = new Promise<number | null>((r) => child.on('close', r));
    const logs = () =>
      err
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as { level: string; msg: string; reasons?: string[] });
    const readyz = async () => {
      const res = await fetch(`http://127.0.0.1:${port}/readyz`);
      return { status: res.status, body: (await res.json()) as { reasons: string[] } };
    };
    try {
      await waitFor(
        () => logs().some((l) => l.level === 'error'),
        `an ERROR line (stderr: ${err.slice(-400)})`,
      );
      const notReady = await waitFor(async () => {
        const r = await readyz();
        return r.status === 503 ? r : undefined;
      }, 'not ready');
      expect(notReady.body.reasons.join(' ')).toContain(root);
      // Retried with backoff (50, 100, 200 ms …), without another ERROR.
      await waitFor(
        () => logs().filter((l) => l.msg === 'export root still cannot be listed').length >= 2,
        'two more attempts',
      );
      await chmod(root, 0o755);
      await waitFor(
        () => out.split('\n').filter(Boolean).length === 3,
        'the run delivered',
        20_000,
      );
      await waitFor(async () => (await readyz()).status === 200, 'ready again');
      expect(logs().filter((l) => l.level === 'error')).toHaveLength(1);
      expect(logs().some((l) => l.msg === 'export root can be listed again')).toBe(true);
      expect(err).not.toMatch(/\n\s+at /);
      expect(child.exitCode).toBe(null);
    } finally {
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    }
  });
});
