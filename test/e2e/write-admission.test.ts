import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readArgs, runCli } from '../helpers/cli.ts';
import { makeTmpDir, waitFor } from '../helpers/tmp.ts';

const NAME = /^admission-\d{8}T\d{6}\.\d{9}Z-[0-9a-f]{16}\.log$/;
/** Request `i`'s violation of constraint `c`: every constraint a request violated shares its UID. */
const line = (i: number, c = 0, pad = 0) =>
  JSON.stringify({
    id: `req-${i}`,
    eventType: 'violation_admission',
    kind: 'K8sRequiredLabels',
    name: `c${c}`,
    message: `m ${i}${'x'.repeat(pad)}`,
  });

describe('gk-export write --admission', () => {
  let tmp: Awaited<ReturnType<typeof makeTmpDir>>;
  let root: string;
  let dir: string;
  beforeEach(async () => {
    tmp = await makeTmpDir();
    root = join(tmp.dir, 'topics');
    dir = join(root, 'audit-channel');
  });
  afterEach(() => tmp.cleanup());

  const write = (input: string, ...more: string[]) =>
    runCli(['write', '--admission', '--root', root, '--channel', 'audit-channel', ...more], {
      input,
    });

  it('writes stdin lines as completed admission segments of at most 1,000 records, 0660 in a 0770 directory', async () => {
    const input = Array.from({ length: 2100 }, (_, i) => line(i >> 1, i % 2)).join('\n') + '\n';
    const p = write(input);
    expect((await p.exited).code, p.stderr()).toBe(0);
    expect(p.stderr()).toContain('wrote 2100 admission records');
    const names = (await readdir(dir)).sort();
    expect(names).toHaveLength(3);
    expect(names.every((n) => NAME.test(n))).toBe(true);
    expect((await stat(dir)).mode & 0o777).toBe(0o770);
    const counts: number[] = [];
    const ids: string[] = [];
    for (const n of names) {
      expect((await stat(join(dir, n))).mode & 0o777).toBe(0o660);
      const lines = (await readFile(join(dir, n), 'utf8')).trim().split('\n');
      counts.push(lines.length);
      ids.push(...lines.map((l) => (JSON.parse(l) as { id: string }).id));
    }
    expect(counts).toEqual([1000, 1000, 100]);
    expect(ids).toEqual(Array.from({ length: 2100 }, (_, i) => `req-${i >> 1}`));
  });

  it('stops at a record over 64 KiB: exit 1, "line N:", the lines before it written', async () => {
    const p = write(`${line(1)}\n${line(2)}\n${line(3, 0, 70_000)}\n${line(4)}\n`);
    expect((await p.exited).code).toBe(1);
    expect(p.stderr()).toMatch(/^line 3: the record is \d+ bytes, over the 65536-byte limit/m);
    const names = await readdir(dir);
    const text = (await Promise.all(names.map((n) => readFile(join(dir, n), 'utf8')))).join('');
    expect(
      text
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { id: string }).id),
    ).toEqual(['req-1', 'req-2']);
  });

  it('refuses a record that is not violation_admission with its line number', async () => {
    const p = write(`${line(1)}\n${JSON.stringify({ eventType: 'violation_audited' })}\n`);
    expect((await p.exited).code).toBe(1);
    expect(p.stderr()).toMatch(/^line 2: eventType "violation_audited" is not allowed/m);
  });

  it('skips and counts bad lines with --skip-invalid', async () => {
    const p = write(`${line(1)}\n${line(2, 0, 70_000)}\nnot json\n${line(3)}\n`, '--skip-invalid');
    expect((await p.exited).code).toBe(0);
    expect(p.stderr()).toContain('wrote 2 admission records');
    expect(p.stderr()).toContain('skipped 2 invalid lines');
  });

  it('is consumed by `read` with DELETE_AFTER_READ=true and no --mode, as the chart runs it', async () => {
    const cfg = runCli(['read', '--check-config', '--root', root], {
      env: { DELETE_AFTER_READ: 'true' },
    });
    expect((await cfg.exited).code, cfg.stderr()).toBe(0);
    expect(JSON.parse(cfg.stdout()).config).toMatchObject({
      mode: 'admission',
      deleteAfterRead: true,
    });
    // Without DELETE_AFTER_READ (or with it false) the default stays "all".
    for (const env of [{}, { DELETE_AFTER_READ: 'false' }]) {
      const c = runCli(['read', '--check-config', '--root', root], { env });
      expect((await c.exited).code).toBe(0);
      expect(JSON.parse(c.stdout()).config.mode).toBe('all');
    }
    // An explicit --mode wins.
    const m = runCli(['read', '--check-config', '--root', root, '--mode', 'audit'], {
      env: { DELETE_AFTER_READ: 'true' },
    });
    expect((await m.exited).code).toBe(0);
    expect(JSON.parse(m.stdout()).config.mode).toBe('audit');

    const input = Array.from({ length: 30 }, (_, i) => line(i >> 1, i % 2)).join('\n') + '\n';
    expect((await write(input).exited).code).toBe(0);
    const reader = runCli(readArgs(root, join(tmp.dir, 'state'), '--poll-interval', '100ms'), {
      env: { DELETE_AFTER_READ: 'true' },
    });
    try {
      await waitFor(() => reader.lines().length === 30, '30 admission records on stdout');
      await waitFor(async () => (await readdir(dir)).length === 0, 'the segment deleted');
    } finally {
      reader.child.kill('SIGTERM');
      await reader.exited;
    }
    // Two constraints of one request share its UID: both are delivered.
    expect(reader.lines().filter((l) => l.includes('"id":"req-3"'))).toHaveLength(2);
  });
});
