import { open, writeFile, appendFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLineReader } from '../../src/reader/line-reader.ts';
import { makeTmpDir } from '../helpers/tmp.ts';

describe('line reader', () => {
  let tmp: Awaited<ReturnType<typeof makeTmpDir>>;
  let file: string;
  beforeEach(async () => {
    tmp = await makeTmpDir();
    file = join(tmp.dir, 'f');
  });
  afterEach(() => tmp.cleanup());

  async function readAll(text: string | Buffer, maxLineBytes = 1024, chunkBytes = 7) {
    await writeFile(file, text);
    const fh = await open(file, 'r');
    try {
      const r = createLineReader(fh, { offset: 0, line: 0 }, { maxLineBytes, chunkBytes });
      const out = [];
      for (;;) {
        const lines = await r.read(3);
        if (lines.length === 0) break;
        out.push(...lines);
      }
      return { out, rest: await r.takeRemainder(), pos: r.position() };
    } finally {
      await fh.close();
    }
  }

  it('returns whole lines with their byte offsets across small chunks', async () => {
    const { out, rest, pos } = await readAll('ab\ncdef\n\nxyz\n');
    expect(out.map((l) => [l.number, l.start, l.end, l.bytes.toString()])).toEqual([
      [1, 0, 3, 'ab'],
      [2, 3, 8, 'cdef'],
      [3, 8, 9, ''],
      [4, 9, 13, 'xyz'],
    ]);
    expect(rest).toBeUndefined();
    expect(pos).toEqual({ offset: 13, line: 4 });
  });

  // Bug: a batch bounded by bytes took every line of the read buffer (1 MiB), so where it ended
  // depended on where the read had started: the same batch read again after a restart, from
  // the same checkpoint, could hold other lines (and a webhook request another Idempotency-Key).
  it('ends a batch bounded by bytes at the same line whatever the read size', async () => {
    const text = Array.from({ length: 100 }, (_, i) => `line ${i}`.padEnd(49, '.') + '\n').join('');
    await writeFile(file, text);
    const batches = async (chunkBytes: number, offset: number, line: number) => {
      const fh = await open(file, 'r');
      try {
        const r = createLineReader(fh, { offset, line }, { maxLineBytes: 1000, chunkBytes });
        const sizes: number[] = [];
        for (let b = await r.read(1000, 500); b.length > 0; b = await r.read(1000, 500)) {
          sizes.push(b.length);
        }
        return sizes;
      } finally {
        await fh.close();
      }
    };
    expect(await batches(64, 0, 0)).toEqual(Array(10).fill(10));
    expect(await batches(1 << 20, 0, 0)).toEqual(Array(10).fill(10));
    // From a checkpoint at the end of the third batch: the rest in the same batches.
    expect(await batches(1 << 20, 1500, 30)).toEqual(Array(7).fill(10));
  });

  it('leaves a trailing partial line unread until it is completed', async () => {
    await writeFile(file, 'one\ntw');
    const fh = await open(file, 'r');
    const r = createLineReader(fh, { offset: 0, line: 0 }, { maxLineBytes: 100 });
    expect((await r.read(10)).map((l) => l.bytes.toString())).toEqual(['one']);
    expect(await r.read(10)).toEqual([]);
    expect(r.position()).toEqual({ offset: 4, line: 1 });
    await appendFile(file, 'o\nthree\n');
    expect((await r.read(10)).map((l) => l.bytes.toString())).toEqual(['two', 'three']);
    await fh.close();
  });

  it('resumes at a byte offset and line number', async () => {
    await writeFile(file, 'a\nb\nc\n');
    const fh = await open(file, 'r');
    const r = createLineReader(fh, { offset: 2, line: 1 }, { maxLineBytes: 100 });
    expect((await r.read(10)).map((l) => [l.number, l.bytes.toString()])).toEqual([
      [2, 'b'],
      [3, 'c'],
    ]);
    await fh.close();
  });

  it('skips an over-long line keeping only an excerpt, and goes on', async () => {
    const long = 'x'.repeat(10_000);
    const { out } = await readAll(`a\n${long}\nb\n`, 100, 64);
    expect(out.map((l) => [l.number, l.tooLong ?? false])).toEqual([
      [1, false],
      [2, true],
      [3, false],
    ]);
    // The excerpt is a bounded prefix of the line; the line's full extent is still known.
    const excerpt = out[1]!.bytes.toString();
    expect(excerpt.length).toBeGreaterThan(0);
    expect(excerpt.length).toBeLessThanOrEqual(4096);
    expect(long.startsWith(excerpt)).toBe(true);
    expect(out[1]!.end - out[1]!.start).toBe(10_001);
    expect(out[2]!.bytes.toString()).toBe('b');
  });

  it('flags CRLF lines and strips the CR', async () => {
    const { out } = await readAll('a\r\nb\n');
    expect(out.map((l) => [l.bytes.toString(), l.crlf ?? false])).toEqual([
      ['a', true],
      ['b', false],
    ]);
  });

  it('returns the unterminated tail of a finished file as a truncated line', async () => {
    const { out, rest } = await readAll('a\nbroken');
    expect(out).toHaveLength(1);
    expect(rest).toMatchObject({ number: 2, start: 2, end: 8, truncated: true });
    expect(rest!.bytes.toString()).toBe('broken');
  });

  it('keeps reading through the handle after the file is unlinked', async () => {
    await writeFile(file, 'a\nb\n');
    const fh = await open(file, 'r');
    await tmp.cleanup();
    const r = createLineReader(fh, { offset: 0, line: 0 }, { maxLineBytes: 100 });
    expect(await r.read(10)).toHaveLength(2);
    await fh.close();
  });
});
