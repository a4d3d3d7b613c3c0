import { describe, expect, it } from 'vitest';
import { createVolumeTally, MAX_FILES } from '../../../src/reader/lanes/volume-tally.ts';

/** Lines of `bytes` bytes each, from line `from` (0-based) to `to` (exclusive). */
const lines = (from: number, to: number, bytes = 10) =>
  Array.from({ length: to - from }, (_, k) => ({
    start: (from + k) * bytes,
    end: (from + k + 1) * bytes,
  }));

describe('volume tally (what several lanes read, counted once)', () => {
  it('counts each line once, whichever lane reads it first and wherever the others are', () => {
    const t = createVolumeTally();
    let counted = 0;
    const read = (file: string, from: number, to: number) => {
      const batch = lines(from, to);
      counted += batch.length - t.fresh(file, batch);
    };
    read('a', 0, 10); // lane 1
    read('a', 0, 5); // lane 2, behind
    read('a', 5, 15); // lane 2 overtakes lane 1
    read('a', 10, 12); // lane 1, behind now
    read('b', 0, 3); // another file
    read('a', 0, 15); // a lane started again from its checkpoint
    expect(counted).toBe(18);
    expect(t.fresh('a', [])).toBe(0);
  });

  it('says where the new lines of a batch begin', () => {
    const t = createVolumeTally();
    expect(t.fresh('a', lines(0, 4))).toBe(0);
    expect(t.fresh('a', lines(2, 6))).toBe(2);
    expect(t.fresh('a', lines(0, 6))).toBe(6);
  });

  it('counts a run found and finished once, and again once it grew after it was finished', () => {
    const t = createVolumeTally();
    expect([t.found('r'), t.found('r')]).toEqual([true, false]);
    expect([t.finished('r'), t.finished('r')]).toEqual([true, false]);
    // Found again (a lane that starts later, or restarts): already counted.
    expect(t.found('r')).toBe(false);
    expect([t.grew('r'), t.grew('r')]).toEqual([true, false]);
    expect(t.finished('r')).toBe(true);
    // Lost by one lane, finished by the other: one finish.
    expect([t.found('s'), t.finished('s'), t.finished('s')]).toEqual([true, true, false]);
  });

  it('counts a file that replaced a run under its name and inode from its start', () => {
    const t = createVolumeTally();
    t.fresh('r', lines(0, 10));
    t.found('r');
    t.finished('r');
    t.replaced('r');
    expect(t.fresh('r', lines(0, 3))).toBe(0);
    expect(t.found('r')).toBe(true);
  });

  it('reports a bad entry once, and again after it went away and came back', () => {
    const t = createVolumeTally();
    expect([t.once('c/x'), t.once('c/x'), t.once('d/x')]).toEqual([true, false, true]);
    t.forget('c/x');
    expect(t.once('c/x')).toBe(true);
  });

  it('keeps the files most recently read, up to its bound', () => {
    const t = createVolumeTally();
    t.fresh('first', lines(0, 5));
    for (let i = 0; i < MAX_FILES - 1; i++) t.fresh(`f${i}`, lines(0, 1));
    // Still kept (the bound is not reached): read again, nothing is new.
    expect(t.fresh('first', lines(0, 5))).toBe(5);
    for (let i = 0; i < MAX_FILES; i++) t.fresh(`g${i}`, lines(0, 1));
    // Pushed out by as many newer files: counted as new again.
    expect(t.fresh('first', lines(0, 5))).toBe(0);
  });
});
