import { watch } from 'node:fs';
import { mkdir, open, readdir, readFile, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { encodeExportMsg } from '../../src/protocol/encode.ts';
import { tryLock, unlock } from '../../src/protocol/flock.ts';
import type { ExportMsg } from '../../src/protocol/record.ts';
import {
  createAdmissionWriter,
  GATEKEEPER_ADMISSION_LIMITS,
  type AdmissionWriterOptions,
} from '../../src/writer/index.ts';
import { removeReadySegment } from '../../src/writer/admission-spool.ts';
import { makeTmpDir, waitFor } from '../helpers/tmp.ts';

const NAME = /^admission-(\d{8}T\d{6}\.\d{9}Z)-[0-9a-f]{16}\.(open|log)$/;

/** An admission record of request `uid`, padded to `bytes` bytes when given. */
function rec(i: number, bytes?: number): ExportMsg {
  const msg: ExportMsg = {
    id: `uid-${i}`,
    eventType: 'violation_admission',
    kind: 'K8sRequiredLabels',
    name: `c-${i}`,
    message: `m ${i}`,
  };
  if (bytes === undefined) return msg;
  const pad = bytes - Buffer.byteLength(encodeExportMsg(msg));
  return { ...msg, message: `m ${i}${'x'.repeat(pad)}` };
}

describe('admission segment writer (Gatekeeper 3.24 contract)', () => {
  let tmp: Awaited<ReturnType<typeof makeTmpDir>>;
  let root: string;
  let dir: string;
  const writers: { close(): Promise<void> }[] = [];
  beforeEach(async () => {
    tmp = await makeTmpDir();
    root = join(tmp.dir, 'topics');
    dir = join(root, 'audit-channel');
  });
  afterEach(async () => {
    for (const w of writers.splice(0)) await w.close();
    await tmp.cleanup();
  });

  function writer(over: Partial<AdmissionWriterOptions> = {}) {
    const w = createAdmissionWriter({ root, channel: 'audit-channel', ...over });
    writers.push(w);
    return w;
  }
  const files = async () => (await readdir(dir)).sort();
  const logs = async () => (await files()).filter((f) => f.endsWith('.log'));
  const linesOf = async (names: string[]) =>
    (await Promise.all(names.map((f) => readFile(join(dir, f), 'utf8'))))
      .join('')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as ExportMsg);

  it('uses Gatekeeper 3.24 limits by default', () => {
    expect(writer().limits).toEqual({
      maxBytes: 1 << 20,
      maxRecords: 1000,
      maxAgeMs: 60_000,
      maxSegments: 20,
      maxTotalBytes: 20 << 20,
      retainMs: 24 * 3600 * 1000,
      maxRecordBytes: 64 << 10,
      minFreeBytes: 16 << 20,
    });
    expect(GATEKEEPER_ADMISSION_LIMITS.maxRecordBytes).toBe(65536);
  });

  it('names segments admission-<UTC ns timestamp>-<16 hex>, .open 0660 under LOCK_EX in a 0770 directory', async () => {
    const before = Date.now();
    const w = writer();
    await w.write(rec(1));
    const [open1] = await files();
    const m = NAME.exec(open1!);
    expect(m?.[2]).toBe('open');
    // Go's 20060102T150405.000000000Z, in UTC, now.
    const ts = m![1]!;
    const ms = Date.UTC(
      +ts.slice(0, 4),
      +ts.slice(4, 6) - 1,
      +ts.slice(6, 8),
      +ts.slice(9, 11),
      +ts.slice(11, 13),
      +ts.slice(13, 15),
      +ts.slice(16, 19),
    );
    expect(ms).toBeGreaterThanOrEqual(before - 1);
    expect(ms).toBeLessThanOrEqual(Date.now());
    expect((await stat(dir)).mode & 0o777).toBe(0o770);
    expect((await stat(join(dir, open1!))).mode & 0o777).toBe(0o660 & ~process.umask());
    // The writer holds LOCK_EX: nobody else gets even a shared lock.
    const fh = await open(join(dir, open1!), 'r');
    try {
      expect(tryLock(fh.fd, 'sh')).toBe(false);
    } finally {
      await fh.close();
    }
    await w.close();
    const [done] = await files();
    expect(done).toBe(open1!.replace(/\.open$/, '.log'));
    expect((await stat(join(dir, done!))).mode & 0o777).toBe(0o660);
  });

  it('refuses a channel directory that is a symlink', async () => {
    await mkdir(join(tmp.dir, 'elsewhere'), { recursive: true });
    await mkdir(root, { recursive: true });
    await symlink(join(tmp.dir, 'elsewhere'), dir);
    await expect(writer().write(rec(1))).rejects.toMatchObject({ code: 'ERR_ADMISSION_DIR' });
  });

  it('completes a segment at 1,000 records, in record order across segments', async () => {
    const w = writer();
    await w.writeBatch(Array.from({ length: 2500 }, (_, i) => rec(i)));
    const names = await files();
    expect(names.map((f) => f.slice(-4))).toEqual(['.log', '.log', 'open']);
    expect(names.every((f) => NAME.test(f))).toBe(true);
    await w.close();
    const all = await files();
    const counts = await Promise.all(
      all.map(async (f) => (await readFile(join(dir, f), 'utf8')).split('\n').length - 1),
    );
    expect(counts).toEqual([1000, 1000, 500]);
    expect((await linesOf(all)).map((r) => r.id)).toEqual(
      Array.from({ length: 2500 }, (_, i) => `uid-${i}`),
    );
  });

  it('completes a segment before a record would take it past 1 MiB', async () => {
    const w = writer();
    // 60,000-byte records: 17 fit in 1 MiB (1,020,017 bytes), the 18th would not.
    for (let i = 0; i < 40; i++) await w.write(rec(i, 60_000));
    await w.close();
    const sizes = await Promise.all(
      (await files()).map(async (f) => (await stat(join(dir, f))).size),
    );
    expect(sizes).toEqual([17 * 60_001, 17 * 60_001, 6 * 60_001]);
  });

  it('completes a segment a minute (maxAgeMs) after it was opened, with no further write', async () => {
    const w = writer({ maxAgeMs: 200 });
    await w.write(rec(1));
    await w.write(rec(2));
    expect((await files())[0]).toMatch(/\.open$/);
    await waitFor(
      async () => (await logs()).length === 1 && (await files()).length === 1,
      'age rotation',
    );
    expect((await linesOf(await logs())).map((r) => r.id)).toEqual(['uid-1', 'uid-2']);
  });

  it('refuses a record over 64 KiB and accepts one of exactly 64 KiB', async () => {
    const w = writer();
    await expect(w.write(rec(1, 65_537))).rejects.toMatchObject({ code: 'ERR_RECORD_TOO_LARGE' });
    await expect(w.writeBatch([rec(2), rec(3, 70_000)])).rejects.toMatchObject({
      code: 'ERR_RECORD_TOO_LARGE',
    });
    await w.write(rec(4, 65_536));
    await w.close();
    expect((await linesOf(await files())).map((r) => r.id)).toEqual(['uid-4']);
  });

  it('refuses records that are not violation_admission', async () => {
    await expect(
      writer().write({ ...rec(1), eventType: 'violation_audited' }),
    ).rejects.toMatchObject({ code: 'ERR_NOT_ADMISSION_RECORD' });
  });

  it('keeps at most 20 completed segments, removing the oldest', async () => {
    const w = writer({ maxRecords: 1 });
    for (let i = 0; i < 25; i++) await w.write(rec(i));
    const left = await logs();
    expect(left).toHaveLength(20);
    expect((await linesOf(left)).map((r) => r.id)).toEqual(
      Array.from({ length: 20 }, (_, i) => `uid-${i + 5}`),
    );
  });

  it('keeps the completed segments and the open one within 20 MiB (maxTotalBytes)', async () => {
    // 1,000-byte records, one per segment, 5,000 bytes in all: at most 4 completed beside
    // the record being written.
    const w = writer({ maxRecords: 1, maxTotalBytes: 5_000 });
    for (let i = 0; i < 10; i++) await w.write(rec(i, 999));
    const left = await logs();
    const total = (
      await Promise.all(left.map(async (f) => (await stat(join(dir, f))).size))
    ).reduce((a, b) => a + b, 0);
    expect(total).toBeLessThanOrEqual(5_000);
    expect((await linesOf(left)).map((r) => r.id).at(-1)).toBe('uid-9');
  });

  it('removes completed segments older than 24 h before the next write', async () => {
    const w = writer({ maxRecords: 1 });
    for (let i = 0; i < 3; i++) await w.write(rec(i));
    const [oldest, ...rest] = await logs();
    const dayAgo = (Date.now() - 24 * 3600 * 1000 - 60_000) / 1000;
    await utimes(join(dir, oldest!), dayAgo, dayAgo);
    await w.write(rec(3));
    const left = await logs();
    expect(left).not.toContain(oldest);
    expect(left.slice(0, 2)).toEqual(rest);
    expect((await linesOf(left)).map((r) => r.id)).toEqual(['uid-1', 'uid-2', 'uid-3']);
  });

  it('refuses the write, deleting nothing, while a reader holds a lock on a segment the limits would remove', async () => {
    const w = writer({ maxRecords: 1, maxSegments: 2 });
    await w.write(rec(1));
    await w.write(rec(2));
    const [oldest] = await logs();
    const reader = await open(join(dir, oldest!), 'r');
    try {
      expect(tryLock(reader.fd, 'sh')).toBe(true);
      // The third record is written (its segment completes, and the cleanup after that
      // rotation is put off); the fourth finds the spool over its limit and is refused.
      await w.write(rec(3));
      await expect(w.write(rec(4))).rejects.toMatchObject({ code: 'ERR_ADMISSION_SPOOL_BUSY' });
      expect(await logs()).toContain(oldest);
      unlock(reader.fd);
      await w.write(rec(5));
      expect(await logs()).not.toContain(oldest);
      expect((await linesOf(await logs())).map((r) => r.id)).toEqual(['uid-3', 'uid-5']);
    } finally {
      await reader.close();
    }
  });

  it('deletes a completed segment by renaming it to <name>.log.deleting under LOCK_EX, then unlinking it', async () => {
    const w = writer();
    await w.write(rec(1));
    await w.close();
    const [name] = await logs();
    const seen: string[] = [];
    const watcher = watch(dir, (_e, f) => f && seen.push(String(f)));
    try {
      expect(await removeReadySegment(dir, name!)).toBe(true);
      await waitFor(() => seen.includes(`${name}.deleting`), 'the .deleting rename');
    } finally {
      watcher.close();
    }
    expect(await files()).toEqual([]);
  });

  it('keeps 16 MiB of disk free: a write that would eat into the reserve is refused', async () => {
    const w = writer({ minFreeBytes: Number.MAX_SAFE_INTEGER });
    await expect(w.write(rec(1))).rejects.toMatchObject({ code: 'ERR_ADMISSION_DISK_FULL' });
    expect((await readdir(dir)).length).toBe(0);
  });

  it("recovers a crashed writer's .open as <name>.recovered.log with whole lines only", async () => {
    await mkdir(dir, { recursive: true });
    const stem = 'admission-20260801T100000.000000000Z-0123456789abcdef';
    const whole = [rec(1), rec(2)].map((r) => encodeExportMsg(r) + '\n').join('');
    await writeFile(join(dir, `${stem}.open`), whole + '{"id":"uid-3","eventTy');
    await writeFile(
      join(dir, 'admission-20260801T100001.000000000Z-1111111111111111.open'),
      '{"id"',
    );
    await writeFile(
      join(dir, 'admission-20260801T100002.000000000Z-2222222222222222.log.deleting'),
      'x',
    );
    // A live writer's segment (locked) is left alone.
    const live = join(dir, 'admission-20260801T100003.000000000Z-3333333333333333.open');
    await writeFile(live, '{"id":"live"');
    const liveFh = await open(live, 'r');
    expect(tryLock(liveFh.fd, 'ex')).toBe(true);
    try {
      const w = writer();
      await w.write(rec(4));
      const names = await files();
      expect(names).toContain(`${stem}.recovered.log`);
      expect(names).toContain('admission-20260801T100003.000000000Z-3333333333333333.open');
      expect(
        names.filter((f) => f.includes('1111111111111111') || f.includes('.deleting')),
      ).toEqual([]);
      expect(await readFile(join(dir, `${stem}.recovered.log`), 'utf8')).toBe(whole);
    } finally {
      unlock(liveFh.fd);
      await liveFh.close();
    }
  });

  it('goes on writing after a refused write', async () => {
    // Regression: a failed operation left the writer's internal queue rejected, so every
    // later write failed with the same error.
    const w = writer({ maxRecords: 1, maxSegments: 1 });
    await w.write(rec(1));
    const [oldest] = await logs();
    const reader = await open(join(dir, oldest!), 'r');
    tryLock(reader.fd, 'sh');
    await w.write(rec(2)).catch(() => undefined);
    await expect(w.write(rec(3))).rejects.toMatchObject({ code: 'ERR_ADMISSION_SPOOL_BUSY' });
    unlock(reader.fd);
    await reader.close();
    await w.write(rec(4));
    expect((await linesOf(await logs())).map((r) => r.id)).toEqual(['uid-4']);
  });

  it('refuses writes after close; close is idempotent', async () => {
    const w = writer();
    await w.write(rec(1));
    const a = w.close();
    expect(w.close()).toBe(a);
    await a;
    await expect(w.write(rec(2))).rejects.toMatchObject({ code: 'ERR_WRITER_CLOSED' });
  });
});
