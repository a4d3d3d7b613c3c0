import { execFileSync } from 'node:child_process';
import { mkdir, readFile, rename, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { encodeExportMsg } from '../../src/protocol/encode.ts';
import { makeTmpDir, waitFor } from '../helpers/tmp.ts';
import { auditIdOf, runLines, violation, writeCompletedRun } from '../helpers/runs.ts';
import { collectingSink, metricValue, startReader } from '../helpers/reader.ts';

interface DeadEntry {
  file: string;
  line: number;
  code: string;
  reason: string;
  raw?: string;
  rawBase64?: string;
}

describe('reader with bad input', () => {
  let tmp: Awaited<ReturnType<typeof makeTmpDir>>;
  let root: string;
  let state: string;
  let dir: string;
  const stops: (() => Promise<void>)[] = [];

  beforeEach(async () => {
    tmp = await makeTmpDir();
    root = join(tmp.dir, 'topics');
    state = join(tmp.dir, 'state');
    dir = join(root, 'c');
    await mkdir(dir, { recursive: true });
  });
  afterEach(async () => {
    for (const s of stops.splice(0)) await s();
    await tmp.cleanup();
  });

  function start(over: Partial<Parameters<typeof startReader>[2]> = {}) {
    const c = collectingSink();
    const r = startReader(root, state, { sink: c.sink, ...over });
    stops.push(r.stop);
    return { ...r, c };
  }

  async function deadLetters(): Promise<DeadEntry[]> {
    const text = await readFile(join(state, 'dead-letter.jsonl'), 'utf8').catch(() => '');
    return text
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as DeadEntry);
  }

  /** A completed run whose line 3 (after the marker and one good line) is `bad`. */
  async function runWithBadLine(bad: string | Buffer, i = 1, mtime = 1000): Promise<string> {
    const id = auditIdOf(i);
    const good = runLines(id, 2);
    const bytes = Buffer.concat([
      Buffer.from(good[0]! + good[1]!),
      Buffer.isBuffer(bad) ? bad : Buffer.from(bad),
      Buffer.from(good[2]! + good[3]!),
    ]);
    const file = join(dir, `${id.replaceAll(':', '_')}.log`);
    await writeFile(file, bytes);
    execFileSync('touch', ['-d', `@${mtime}`, file]);
    return file;
  }

  const cases: { name: string; bad: string | Buffer; code: string }[] = [
    { name: 'a line that is not JSON', bad: '{"id": oops\n', code: 'invalid_json' },
    { name: 'JSON that is not an object', bad: '[1,2,3]\n', code: 'not_an_object' },
    {
      name: 'a field of the wrong type',
      bad: '{"id":"x","name":5,"dryRun":"yes"}\n',
      code: 'wrong_field_type',
    },
    {
      name: 'invalid UTF-8',
      bad: Buffer.from([0x7b, 0xff, 0xfe, 0x7d, 0x0a]),
      code: 'invalid_utf8',
    },
    { name: 'a NUL byte', bad: Buffer.from('{"id":"a\u0000b"}\n'), code: 'nul_byte' },
  ];

  for (const tc of cases) {
    it(`sets aside ${tc.name} and delivers the rest of the run and later runs`, async () => {
      await runWithBadLine(tc.bad, 1, 1000);
      await writeCompletedRun(root, 'c', auditIdOf(2), 2, 2000);
      const r = start();
      await waitFor(() => r.c.violations().length === 4, 'the good lines of both runs');
      expect(r.c.violations().map((d) => [d.msg.id, d.line])).toEqual([
        [auditIdOf(1), 2],
        [auditIdOf(1), 4],
        [auditIdOf(2), 2],
        [auditIdOf(2), 3],
      ]);
      const dead = await waitFor(async () => (await deadLetters())[0], 'a dead letter');
      expect(dead).toMatchObject({
        file: `c/${auditIdOf(1).replaceAll(':', '_')}.log`,
        line: 3,
        code: tc.code,
      });
      const raw =
        dead.raw !== undefined ? Buffer.from(dead.raw) : Buffer.from(dead.rawBase64!, 'base64');
      const expected = Buffer.isBuffer(tc.bad) ? tc.bad : Buffer.from(tc.bad);
      expect(raw.equals(expected.subarray(0, expected.length - 1))).toBe(true);
      expect(
        await metricValue(r.telemetry, 'gk_export_records_invalid_total', { error_code: tc.code }),
      ).toBe(1);
      expect(
        r.telemetry.logs.some(
          (l) => l.level === 'warn' && l.line === 3 && l.error_code === tc.code,
        ),
      ).toBe(true);
    });
  }

  it('delivers a CRLF line without its CR', async () => {
    const id = auditIdOf(1);
    const good = runLines(id, 1);
    await writeFile(
      join(dir, `${id.replaceAll(':', '_')}.log`),
      good[0] + good[1]!.replace('\n', '\r\n') + good[2],
    );
    const r = start();
    await waitFor(() => r.c.got.some((d) => d.marker === 'completed'), 'the run');
    expect(r.c.violations()[0]!.raw).toBe(good[1]!.trimEnd());
  });

  it('sets aside a truncated last line of a completed run', async () => {
    const id = auditIdOf(1);
    const lines = runLines(id, 2, false);
    await writeFile(join(dir, `${id.replaceAll(':', '_')}.log`), lines.join('') + '{"id":"trunc');
    const r = start();
    const dead = await waitFor(async () => (await deadLetters())[0], 'dead letter');
    expect(dead).toMatchObject({ line: 4, code: 'truncated_line', raw: '{"id":"trunc' });
    // The bad line is set aside before the batch holding the good ones is sent.
    await waitFor(() => r.c.violations().length === 2, 'the two violations');
  });

  it('skips a line over --max-record-bytes without buffering it and goes on', async () => {
    const huge =
      encodeExportMsg(violation(auditIdOf(1), 0, { message: 'x'.repeat(300_000) })) + '\n';
    await runWithBadLine(huge, 1, 1000);
    const r = start({ maxRecordBytes: 64 * 1024 });
    await waitFor(() => r.c.got.some((d) => d.marker === 'completed'), 'the run');
    expect(r.c.violations().map((d) => d.line)).toEqual([2, 4]);
    const dead = (await deadLetters())[0]!;
    expect(dead).toMatchObject({ line: 3, code: 'line_too_long' });
    expect(dead.raw!.length).toBeLessThanOrEqual(4096);
  });

  it('treats an empty file and a run without completion marker as delivered-but-incomplete', async () => {
    await writeFile(join(dir, `${auditIdOf(1).replaceAll(':', '_')}.log`), '');
    await writeFile(
      join(dir, `${auditIdOf(2).replaceAll(':', '_')}.log`),
      runLines(auditIdOf(2), 2, false).join(''),
    );
    const r = start();
    await waitFor(() => r.c.violations().length === 2, 'the violations');
    await waitFor(
      () =>
        r.telemetry.logs.filter((l) => l.msg === 'run delivered without its completion marker')
          .length === 2,
      'two incomplete-run warnings',
    );
  });

  it('never follows a symlink, and ignores a directory or FIFO named like a run', async () => {
    const outside = join(tmp.dir, 'secret.log');
    await writeFile(outside, runLines(auditIdOf(9), 3).join(''));
    await symlink(outside, join(dir, `${auditIdOf(1).replaceAll(':', '_')}.log`));
    await mkdir(join(dir, `${auditIdOf(2).replaceAll(':', '_')}.log`));
    execFileSync('mkfifo', [join(dir, `${auditIdOf(3).replaceAll(':', '_')}.log`)]);
    await writeCompletedRun(root, 'c', auditIdOf(4), 1);
    const r = start();
    await waitFor(() => r.c.violations().length === 1, 'the one real run');
    await waitFor(
      async () => (await metricValue(r.telemetry, 'gk_export_records_invalid_total')) === 3,
      'three bad files counted',
    );
    expect(
      await metricValue(r.telemetry, 'gk_export_records_invalid_total', { error_code: 'symlink' }),
    ).toBe(1);
    expect(r.c.violations()[0]!.msg.id).toBe(auditIdOf(4));
  });

  it('keeps reading a file that is replaced during the read, then reads the new one', async () => {
    const id = auditIdOf(1);
    const file = join(dir, `${id.replaceAll(':', '_')}.log`);
    await writeFile(file, runLines(id, 2000).join(''));
    const r = start({ batchMaxRecords: 10 });
    await waitFor(() => r.c.violations().length > 0, 'reading started');
    const replacement = join(tmp.dir, 'new.log');
    await writeFile(replacement, runLines(id, 3).join(''));
    await rename(replacement, file);
    await waitFor(() => r.c.violations().length === 2003, 'old and new file');
    expect(r.c.got.filter((d) => d.marker === 'completed')).toHaveLength(2);
  });

  it('handles odd channel names and ignores plain files in the root', async () => {
    await writeFile(join(root, 'not-a-channel.log'), 'junk\n');
    await writeCompletedRun(root, 'chännel with spaces', auditIdOf(1), 2);
    const r = start();
    await waitFor(() => r.c.violations().length === 2, 'the run');
    expect(r.c.violations()[0]!.key).toBe(
      `chännel with spaces/${auditIdOf(1).replaceAll(':', '_')}/2`,
    );
  });
});
