import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { defaultLogFormat } from '../../src/telemetry/index.ts';
import { formatLogRecord } from '../../src/telemetry/text-format.ts';
import { CLI, readArgs, runCli } from '../helpers/cli.ts';
import { auditIdOf, runLines, writeCompletedRun } from '../helpers/runs.ts';
import { makeTmpDir, waitFor } from '../helpers/tmp.ts';

const TIME = '2026-01-01T10:00:00.123Z';
const ESC = '\x1b[';

// Reports on stderr when the text formatter's module is loaded: it must stay unloaded for JSON.
// (A load hook: the CLI resolves its own relative imports itself, before resolve hooks.)
const WATCH_TEXT_FORMAT = `data:text/javascript,${encodeURIComponent(`
import { registerHooks } from 'node:module';
registerHooks({ load(url, c, next) {
  if (url.includes('text-format')) process.stderr.write('LOADED text-format\\n');
  return next(url, c);
} });`)}`;

describe('the text log format', () => {
  it('puts time, level, message and key=value on one line', () => {
    const line = formatLogRecord(
      {
        level: 'warn',
        time: TIME,
        name: 'gk-export',
        msg: 'invalid line',
        file: '/data/c/run.log',
        line: 7,
        reason: 'not JSON: bad',
        ok: false,
        tags: ['a'],
      },
      false,
    );
    expect(line).toBe(
      '10:00:00.123Z WARN  invalid line file=/data/c/run.log line=7 reason="not JSON: bad" ok=false tags=["a"]',
    );
  });

  it('keeps one record on one line whatever its strings hold, and shows an error by its message', () => {
    const line = formatLogRecord(
      {
        level: 50,
        time: TIME,
        msg: 'two\nlines',
        path: 'a\nb',
        empty: '',
        err: { type: 'Error', message: 'boom', stack: 'Error: boom\n    at x' },
      },
      false,
    );
    expect(line).toBe('10:00:00.123Z ERROR two\\nlines path="a\\nb" empty="" err="boom"');
  });

  it('colours the level (and dims the rest) only when asked', () => {
    const rec = { level: 'error', time: TIME, msg: 'm', k: 'v' };
    expect(formatLogRecord(rec, false)).not.toContain(ESC);
    expect(formatLogRecord(rec, true)).toContain(`${ESC}31mERROR${ESC}0m`);
  });

  it('is the default on a terminal, JSON elsewhere', () => {
    expect(defaultLogFormat(true)).toBe('text');
    expect(defaultLogFormat(false)).toBe('json');
  });
});

describe('--log-format on the CLI', () => {
  let tmp: Awaited<ReturnType<typeof makeTmpDir>>;
  beforeEach(async () => {
    tmp = await makeTmpDir();
    await mkdir(join(tmp.dir, 'state'));
    await writeFile(join(tmp.dir, 'state', 'checkpoints.json'), 'not json');
  });
  afterEach(() => tmp.cleanup());

  /** A reader that logs one FATAL line and exits 1: its checkpoint file is not JSON. */
  const failing = (...more: string[]) =>
    readArgs(join(tmp.dir, 'topics'), join(tmp.dir, 'state'), ...more);

  /** Runs the CLI with the text formatter's loading watched; returns exit code and stderr. */
  async function run(args: string[], env: NodeJS.ProcessEnv = {}) {
    const child = spawn(process.execPath, ['--import', WATCH_TEXT_FORMAT, CLI, ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
    const code = await new Promise<number | null>((r) => child.on('close', r));
    return { code, err };
  }

  it('logs JSON lines by default when stderr is not a terminal, without loading the text formatter', async () => {
    const r = await run(failing());
    expect(r.code).toBe(1);
    expect(r.err).not.toContain('LOADED text-format');
    const lines = r.err.trim().split('\n');
    expect(lines.map((l) => JSON.parse(l) as unknown)).toContainEqual(
      expect.objectContaining({ level: 'fatal', msg: 'reader failed' }),
    );
  });

  it.each([
    ['--log-format text', ['--log-format', 'text'], {}],
    ['GK_EXPORT_LOG_FORMAT=text', [], { GK_EXPORT_LOG_FORMAT: 'text' }],
  ])('logs text lines with %s, plain in a pipe', async (_name, args, env) => {
    const r = await run(failing(...args), env);
    expect(r.code).toBe(1);
    expect(r.err).toContain('LOADED text-format');
    expect(r.err).toMatch(/^\d\d:\d\d:\d\d\.\d{3}Z FATAL reader failed err="checkpoint file /m);
    expect(r.err).not.toContain(ESC);
  });

  it('refuses an unknown format with one line naming the setting and exit code 2', async () => {
    const r = await run(failing(), { GK_EXPORT_LOG_FORMAT: 'yaml' });
    expect(r.code).toBe(2);
    expect(r.err.trim().split('\n')).toHaveLength(1);
    expect(r.err).toContain('GK_EXPORT_LOG_FORMAT');
  });

  it.skipIf(!existsSync('/usr/bin/script'))(
    'logs coloured text by default on a terminal',
    async () => {
      // util-linux script(1) gives the reader a pseudo-terminal as stdout and stderr.
      const cmd = [process.execPath, CLI, ...failing()].map((a) => `'${a}'`).join(' ');
      const child = spawn('/usr/bin/script', ['-qec', cmd, '/dev/null'], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
      const code = await new Promise<number | null>((r) => child.on('close', r));
      expect(code).toBe(1);
      expect(out).toContain(`FATAL${ESC}0m reader failed`);
      expect(out).not.toContain('"level"');
    },
  );

  it('leaves stdout, the records, exactly as in JSON mode', async () => {
    const root = join(tmp.dir, 'topics');
    await mkdir(root);
    await writeCompletedRun(root, 'audit-channel', auditIdOf(1), 3);
    const records = runLines(auditIdOf(1), 3).slice(1, -1).join('');
    for (const format of ['text', 'json']) {
      const p = runCli(readArgs(root, join(tmp.dir, `state-${format}`), '--log-format', format));
      try {
        await waitFor(() => p.lines().length === 3, `3 records on stdout (${format})`);
      } finally {
        p.child.kill('SIGTERM');
        await p.exited;
      }
      expect(p.stdout()).toBe(records);
    }
  });
});
