// Pins: every reader loaded prom-client, and an ES import of node:http loaded Node's bundled
// undici, whether or not metrics were served (tens of MiB resident in every sidecar); every
// `read` loaded the other commands' code (demo, writer, inspect), pino and perf_hooks; a
// reader serving metrics loaded prom-client (~10 MiB more idle), then Node's HTTP server (1 MiB).
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CLI } from '../helpers/cli.ts';
import { freePort } from '../helpers/ports.ts';
import { auditIdOf, writeCompletedRun } from '../helpers/runs.ts';
import { makeTmpDir, waitFor } from '../helpers/tmp.ts';

// Printed on SIGUSR2: the Node modules, the CommonJS files and every module URL the process has
// loaded.
const PRELOAD = `import { createRequire, registerHooks } from 'node:module';
const req = createRequire(import.meta.url);
const urls = [];
registerHooks({ load(url, context, next) { urls.push(url); return next(url, context); } });
process.on('SIGUSR2', () => process.stderr.write('LOADED ' + JSON.stringify({
  builtins: process.moduleLoadList.filter((m) => m.startsWith('NativeModule ')).map((m) => m.slice(13)),
  files: Object.keys(req.cache),
  urls,
}) + '\\n'));
`;

describe('what a reader loads', () => {
  let tmp: Awaited<ReturnType<typeof makeTmpDir>>;
  beforeEach(async () => {
    tmp = await makeTmpDir();
  });
  afterEach(() => tmp.cleanup());

  async function loadedBy(httpPort: number) {
    const root = join(tmp.dir, 'topics');
    await writeCompletedRun(root, 'c', auditIdOf(0), 3);
    const preload = join(tmp.dir, 'preload.mjs');
    await writeFile(preload, PRELOAD);
    const child = spawn(
      process.execPath,
      [
        '--import',
        preload,
        CLI,
        'read',
        '--http-port',
        String(httpPort),
        '--root',
        root,
        '--state-dir',
        join(tmp.dir, `st-${httpPort}`),
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let err = '';
    child.stderr!.setEncoding('utf8').on('data', (s: string) => (err += s));
    try {
      await waitFor(() => err.includes('"msg":"run delivered"'), 'the run to be delivered');
      child.kill('SIGUSR2');
      const line = await waitFor(
        () => err.split('\n').find((l) => l.startsWith('LOADED ')),
        'the list of loaded modules',
      );
      return JSON.parse(line.slice(7)) as { builtins: string[]; files: string[]; urls: string[] };
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.on('close', r));
    }
  }

  it('loads no prom-client, HTTP or undici when it serves no metrics', async () => {
    const { builtins, files } = await loadedBy(0);
    expect(files.filter((f) => f.includes('prom-client'))).toEqual([]);
    expect(builtins).not.toContain('http');
    expect(builtins).not.toContain('https');
    expect(builtins).not.toContain('internal/deps/undici/undici');
  });

  it('loads neither the other commands’ code, nor pino, perf_hooks or crypto', async () => {
    const { builtins, files, urls } = await loadedBy(0);
    // The CLI runs from src/ (type stripping) here, from dist/ in the image.
    const ours = urls.flatMap((u) => /\/(?:src|dist)\/(.+)\.[jt]s$/.exec(u)?.[1] ?? []);
    expect(ours).toContain('reader/index');
    expect(
      ours.filter((f) => /^(demo\/|writer\/|reader\/inspect|commands\/(demo|write)-run)/.test(f)),
    ).toEqual([]);
    expect([...files, ...urls].filter((f) => f.includes('/node_modules/pino'))).toEqual([]);
    expect(builtins).not.toContain('perf_hooks');
    // (Only a webhook sink's Idempotency-Key hashes: the webhook options' module used to load it.)
    expect(builtins).not.toContain('crypto');
  });

  it('serves metrics on node:net, loading neither node:http, prom-client nor undici', async () => {
    const { builtins, files, urls } = await loadedBy(await freePort());
    expect([...files, ...urls].filter((f) => f.includes('prom-client'))).toEqual([]);
    expect(builtins).toContain('net');
    expect(builtins).not.toContain('http');
    expect(builtins).not.toContain('_http_server');
    expect(builtins).not.toContain('internal/deps/undici/undici');
  });
});
