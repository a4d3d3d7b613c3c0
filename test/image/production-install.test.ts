// No Docker engine runs here: this checks what the image runs instead. A clean copy of the
// package gets production dependencies only (`npm ci --omit=dev`, as the Dockerfile's deps
// stage), then the built reader runs from it as a non-root user with everything read-only
// except the export volume and the state dir (readOnlyRootFilesystem), and must deliver a run.
import { execFile, spawn } from 'node:child_process';
import { chmod, copyFile, cp, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO } from '../helpers/cli.ts';
import { auditIdOf, writeCompletedRun } from '../helpers/runs.ts';
import { makeTmpDir, waitFor } from '../helpers/tmp.ts';

const run = promisify(execFile);
const NOBODY = 65534;

/**
 * A Node binary user nobody can run: the tests' own, or a copy of it when a directory above
 * it is closed to others (a clone under a 0700 home or temp dir).
 */
async function nodeForNobody(dir: string): Promise<string> {
  for (let d = process.execPath; ; d = dirname(d)) {
    if (((await stat(d)).mode & 0o001) === 0) {
      const copy = join(dir, 'node');
      await copyFile(process.execPath, copy);
      await chmod(copy, 0o755);
      return copy;
    }
    if (d === dirname(d)) return process.execPath;
  }
}

describe('the production install (what the image contains)', () => {
  let tmp: Awaited<ReturnType<typeof makeTmpDir>>;
  let app: string;

  beforeAll(async () => {
    tmp = await makeTmpDir('gk-export-image-');
    await chmod(tmp.dir, 0o755);
    app = join(tmp.dir, 'app');
    await mkdir(app);
    for (const f of ['package.json', 'package-lock.json']) await cp(join(REPO, f), join(app, f));
    await run('npm', ['ci', '--omit=dev', '--no-audit', '--no-fund'], {
      cwd: app,
      timeout: 240_000,
    });
    await cp(join(REPO, 'dist'), join(app, 'dist'), { recursive: true });
  }, 300_000);
  afterAll(() => tmp.cleanup());

  it('holds the runtime dependencies and no development tool', async () => {
    const pkg = JSON.parse(await readFile(join(REPO, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
      devDependencies: Record<string, string>;
    };
    const installed = new Set([
      ...(await readdir(join(app, 'node_modules'))),
      ...(await readdir(join(app, 'node_modules', '@kubernetes')).catch(() => [])).map(
        (n) => `@kubernetes/${n}`,
      ),
    ]);
    for (const d of Object.keys(pkg.dependencies)) expect(installed.has(d), d).toBe(true);
    for (const d of ['vitest', 'typescript', 'eslint', 'prettier', 'node'])
      expect(installed.has(d), d).toBe(false);
  });

  it('runs the reader as a non-root user on a read-only app dir, writing only to the volume', async () => {
    const volume = join(tmp.dir, 'violations');
    const root = join(volume, 'topics');
    await writeCompletedRun(root, 'audit-channel', auditIdOf(1), 5);
    await run('chown', ['-R', `${NOBODY}:${NOBODY}`, volume]);
    await run('chmod', ['-R', 'a-w', app]);
    const node = await nodeForNobody(tmp.dir);
    const child = spawn(
      node,
      [join(app, 'dist', 'cli.js'), 'read', '--root', root, '--http-port', '0'],
      {
        cwd: app,
        uid: NOBODY,
        gid: NOBODY,
        env: { PATH: process.env.PATH, HOME: '/nonexistent' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
    try {
      await waitFor(
        () => out.split('\n').filter(Boolean).length === 5,
        `5 violations (stderr: ${err.slice(-500)})`,
      );
      // The default state dir sits on the volume beside the root. (The checkpoint is saved
      // just after stdout has the lines: wait for its rename.)
      await waitFor(
        async () => (await readdir(join(volume, '.gk-export-state'))).includes('checkpoints.json'),
        'the checkpoint on the volume',
      );
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.on('close', r));
      await run('chmod', ['-R', 'u+w', app]);
    }
    await writeFile(join(tmp.dir, 'done'), '');
  });
});
