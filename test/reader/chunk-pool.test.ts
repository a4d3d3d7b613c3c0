// Read buffers are reused only once every batch with lines in them has let go: before the
// pool, spent 1 MiB chunks piled up until a full GC (peak RSS through a backlog); a pool that
// reused a chunk too early would hand out lines whose bytes changed under them.
import { open, writeFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { freeChunks } from '../../src/reader/chunk-pool.ts';
import { createLineReader, type RawLine } from '../../src/reader/line-reader.ts';
import { useWorkspace } from '../helpers/workspace.ts';

const HEADROOM = 64 * 1024;
const CHUNK = 4096;
const SIZE = HEADROOM + CHUNK;

// 200 lines of 100 bytes: about 5 chunks of 4 KiB.
const TEXT = Array.from({ length: 200 }, (_, i) => String(i).padStart(4, '0').padEnd(99, 'x'))
  .map((l) => l + '\n')
  .join('');

describe('chunk pool', () => {
  const ws = useWorkspace({ createRoot: false });

  /** A line reader on a new file holding `text`, closed after the test. */
  async function readerOf(text: string, opts: { recycleBuffers?: boolean; maxLineBytes?: number }) {
    const file = ws.path(`f${Math.random()}`);
    await writeFile(file, text);
    const fh = await open(file, 'r');
    ws.defer(() => fh.close());
    return createLineReader(
      fh,
      { offset: 0, line: 0 },
      { maxLineBytes: opts.maxLineBytes ?? 1000, chunkBytes: CHUNK, ...opts },
    );
  }

  it('keeps every held chunk intact while the reader reads on, and reuses it once released', async () => {
    const r = await readerOf(TEXT, { recycleBuffers: true });
    const held: { lines: RawLine[]; release: () => void }[] = [];
    for (;;) {
      const lines = await r.read(30);
      if (lines.length === 0) break;
      held.push({ lines, release: r.lease() });
    }
    // Nothing released: no chunk is free, and every line still reads as written.
    expect(freeChunks(SIZE)).toBe(0);
    const all = held.flatMap((h) => h.lines.map((l) => l.bytes.toString()));
    expect(all.join('\n') + '\n').toBe(TEXT);
    // Released in order (as batches are acknowledged): chunks come free, and the lines of the
    // batches still held keep their bytes while the released chunks are read into again.
    for (const h of held.slice(0, -2)) h.release();
    expect(freeChunks(SIZE)).toBeGreaterThan(0);
    const kept = held.slice(-2).flatMap((h) => h.lines);
    const before = kept.map((l) => l.bytes.toString());
    const other = await readerOf('y'.repeat(3 * CHUNK) + '\n', {
      recycleBuffers: true,
      maxLineBytes: 1 << 20,
    });
    expect((await other.read(10)).map((l) => l.length)).toEqual([3 * CHUNK]);
    other.dispose();
    expect(kept.map((l) => l.bytes.toString())).toEqual(before);
  });

  it('does not reuse a chunk whose lines were handed out but not yet leased', async () => {
    const r = await readerOf(TEXT, { recycleBuffers: true });
    // One read that spans several chunks (a fill after lines were split out of a chunk).
    const lines = await r.read(150);
    expect(lines).toHaveLength(150);
    r.dispose();
    expect(lines.map((l) => l.bytes.toString() + '\n').join('')).toBe(TEXT.slice(0, 150 * 100));
    const release = r.lease();
    release();
    release(); // twice is once
    expect(freeChunks(SIZE)).toBeGreaterThan(0);
  });

  it('leaves buffers to the garbage collector without recycleBuffers', async () => {
    const before = freeChunks(SIZE);
    const r = await readerOf(TEXT, {});
    while ((await r.read(30)).length > 0) r.lease()();
    r.dispose();
    expect(freeChunks(SIZE)).toBe(before);
  });
});
