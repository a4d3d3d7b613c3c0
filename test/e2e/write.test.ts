import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CLI, runCli } from '../helpers/cli.ts';
import { makeTmpDir, waitFor } from '../helpers/tmp.ts';

const run = promisify(execFile);
const ID = '2026-01-01T00:00:00Z';
const good = (i: number) =>
  JSON.stringify({ eventType: 'violation_audited', name: `c${i}`, message: `m ${i}` });
const admission = (i: number) =>
  JSON.stringify({ id: `uid-${i}`, eventType: 'violation_admission', name: `c${i}` });

describe('gk-export write', () => {
  let tmp: Awaited<ReturnType<typeof makeTmpDir>>;
  let root: string;
  beforeEach(async () => {
    tmp = await makeTmpDir();
    root = join(tmp.dir, 'topics');
  });
  afterEach(() => tmp.cleanup());

  const args = (...more: string[]) => [
    'write',
    '--root',
    root,
    '--channel',
    'c',
    '--audit-id',
    ID,
    ...more,
  ];

  it('writes one complete run with markers and exits 0', async () => {
    const p = runCli(args(), { input: `${good(1)}\n${good(2)}\n` });
    expect((await p.exited).code).toBe(0);
    const lines = (await readFile(join(root, 'c', '2026-01-01T00_00_00Z.log'), 'utf8'))
      .trim()
      .split('\n');
    expect(lines).toHaveLength(4);
    expect(JSON.parse(lines[1]!)).toMatchObject({ id: ID, name: 'c1' });
  });

  it('aborts the run on a bad line: exit 1, "line N: reason", no .log and no .txt left', async () => {
    const p = runCli(args(), { input: `${good(1)}\n{"name":5}\n${good(3)}\n` });
    expect((await p.exited).code).toBe(1);
    expect(p.stderr()).toMatch(/^line 2: name: expected string, got number/m);
    expect(await readdir(join(root, 'c'))).toEqual([]);
  });

  it('skips and counts bad lines with --skip-invalid', async () => {
    const p = runCli(args('--skip-invalid'), { input: `${good(1)}\nnot json\n${good(3)}\n` });
    expect((await p.exited).code).toBe(0);
    expect(p.stderr()).toContain('skipped 1 invalid lines');
    const text = await readFile(join(root, 'c', '2026-01-01T00_00_00Z.log'), 'utf8');
    expect(text.trim().split('\n')).toHaveLength(4);
  });

  it.each([[['--max-audit-results', '9']], [['--bogus']]])(
    'exits 2 with one line on bad flags %j',
    async (extra) => {
      const p = runCli(args(...extra), { input: '' });
      expect((await p.exited).code).toBe(2);
      expect(p.stderr().trim().split('\n')).toHaveLength(1);
    },
  );

  it('exits 2 on an invalid channel name', async () => {
    const p = runCli(['write', '--root', root, '--channel', '..', '--audit-id', ID], { input: '' });
    expect((await p.exited).code).toBe(2);
    expect(p.stderr()).toContain('invalid channel name');
  });

  it('keeps the run .txt and locked while stdin is open', async () => {
    const child = spawn(process.execPath, [CLI, ...args()], { stdio: ['pipe', 'ignore', 'pipe'] });
    child.stdin.write(`${good(1)}\n`);
    const txt = join(root, 'c', '2026-01-01T00_00_00Z.txt');
    await waitFor(
      async () => (await readdir(join(root, 'c')).catch(() => [])).length === 1,
      'the .txt',
    );
    // The writer creates the file, then takes the lock (the contract's order): wait for both.
    await waitFor(
      () =>
        run('flock', ['-n', '-s', txt, 'true']).then(
          () => false,
          () => true,
        ),
      'the writer to hold LOCK_EX on the .txt',
    );
    child.stdin.end();
    await new Promise((r) => child.on('close', r));
    expect(await readdir(join(root, 'c'))).toEqual(['2026-01-01T00_00_00Z.log']);
  });

  it('leaves only whole, valid lines when SIGKILLed mid-run', async () => {
    const child = spawn(process.execPath, [CLI, ...args()], {
      stdio: ['pipe', 'ignore', 'ignore'],
    });
    // Writes after the kill fail with EPIPE: expected.
    child.stdin.on('error', () => undefined);
    const txt = join(root, 'c', '2026-01-01T00_00_00Z.txt');
    // Feed lines of varied length in odd-sized chunks until the file holds a good amount.
    const big = Array.from({ length: 20000 }, (_, i) =>
      JSON.stringify({
        eventType: 'violation_audited',
        name: `c${i}`,
        message: 'x'.repeat(i % 997),
      }),
    ).join('\n');
    let off = 0;
    const pump = setInterval(() => {
      if (off < big.length) {
        child.stdin.write(big.slice(off, off + 7777));
        off += 7777;
      }
    }, 1);
    await waitFor(async () => {
      const t = await readFile(txt, 'utf8').catch(() => '');
      return t.length > 300_000;
    }, 'some flushed output');
    child.kill('SIGKILL');
    clearInterval(pump);
    await new Promise((r) => child.on('close', r));
    const data = await readFile(txt);
    // The writer only ever writes whole lines. A fatal signal can still cut one write(2) short,
    // but only where the kernel copies page by page: at a page boundary of the file.
    if (data.at(-1) !== 0x0a) expect(data.length % 4096).toBe(0);
    const whole = data.subarray(0, data.lastIndexOf(0x0a)).toString('utf8');
    for (const line of whole.split('\n')) expect(() => JSON.parse(line)).not.toThrow();
  });

  // Bug: stdin went through readline, which holds a line however long it grows: a runaway
  // line (no newline, endless input) was read into memory whole before anything was said.
  // Bug (--admission): admission stdin went through readline, which holds a runaway line whole.
  it.each([
    ['an audit run', [] as string[], good],
    ['admission segments', ['--admission'], admission],
  ])(
    'stops a runaway line at --max-record-bytes writing %s: "line N:", exit 1, input not read on',
    async (_what, extra, line) => {
      const child = spawn(
        process.execPath,
        [CLI, ...args('--max-record-bytes', '64KiB', ...extra)],
        {
          stdio: ['pipe', 'ignore', 'pipe'],
        },
      );
      let err = '';
      child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
      child.stdin.on('error', () => undefined);
      let code: number | null | undefined;
      const closed = once(child, 'close').then(([c]) => (code = c as number | null));
      child.stdin.write(`${line(1)}\n${line(2)}\n`);
      // Feed one endless line, as fast as the reader takes it, up to 64 MiB.
      const chunk = Buffer.alloc(64 * 1024, 'x');
      let accepted = 0;
      try {
        while (code === undefined && accepted < 64 * 1024 * 1024) {
          accepted += chunk.length;
          if (!child.stdin.write(chunk)) {
            // A closed pipe (EPIPE) ends the wait as well as 'drain' does.
            await Promise.race([once(child.stdin, 'drain').catch(() => undefined), closed]);
          }
        }
        await waitFor(() => code !== undefined, `the writer to give up (stderr: ${err})`);
      } finally {
        child.kill('SIGKILL');
        await closed;
      }
      expect(code).toBe(1);
      expect(err).toMatch(/^line 3: longer than --max-record-bytes \(65536 bytes\)$/m);
      // What it took from the pipe is bounded by the limit, not by the input.
      expect(accepted).toBeLessThan(4 * 1024 * 1024);
      // An audit run is aborted whole; admission segments keep the records before the line.
      if (extra.length === 0) expect(await readdir(join(root, 'c'))).toEqual([]);
    },
  );

  it('measures --max-record-bytes in UTF-8 bytes, and a line at the limit passes', async () => {
    const at = JSON.stringify({ name: 'x'.repeat(100 - 11) });
    expect(Buffer.byteLength(at)).toBe(100);
    const ok = runCli(args('--max-record-bytes', '100'), { input: `${at}\n` });
    expect((await ok.exited).code).toBe(0);
    // 60 characters, 110 bytes: under the limit in characters, over it in bytes.
    const wide = JSON.stringify({ name: 'é'.repeat(49) });
    const p = runCli(args('--max-record-bytes', '100', '--skip-invalid'), {
      input: `${at}\n${wide}\n`,
    });
    expect((await p.exited).code).toBe(1);
    expect(p.stderr()).toMatch(/^line 2: longer than --max-record-bytes \(100 bytes\)$/m);
  });
});
