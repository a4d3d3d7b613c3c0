import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createAdmissionWriter } from '../../src/writer/admission-writer.ts';
import { makeTmpDir, waitFor } from '../helpers/tmp.ts';
import { violation } from '../helpers/runs.ts';

const rec = (i: number) => ({ ...violation('x', i), eventType: 'violation_admission' });

describe('admission segment writer', () => {
  let tmp: Awaited<ReturnType<typeof makeTmpDir>>;
  let dir: string;
  beforeEach(async () => {
    tmp = await makeTmpDir();
    dir = join(tmp.dir, 'topics', 'admission');
  });
  afterEach(() => tmp.cleanup());

  it('rotates .open → .log every maxRecords records, names sorting oldest first', async () => {
    const w = createAdmissionWriter({
      root: join(tmp.dir, 'topics'),
      channel: 'admission',
      maxRecords: 3,
    });
    for (let i = 0; i < 7; i++) await w.write(rec(i));
    const files = (await readdir(dir)).sort();
    expect(files.filter((f) => f.endsWith('.log'))).toHaveLength(2);
    expect(files.filter((f) => f.endsWith('.open'))).toHaveLength(1);
    expect(
      files.every((f) =>
        /^admission-\d{4}-\d\d-\d\dT\d\d_\d\d_\d\d\.\d{3}Z-[0-9a-f]{8}\.(log|open)$/.test(f),
      ),
    ).toBe(true);
    await w.close();
    const all = (await readdir(dir)).sort();
    expect(all.every((f) => f.endsWith('.log'))).toBe(true);
    const lines = (await Promise.all(all.map((f) => readFile(join(dir, f), 'utf8'))))
      .join('')
      .split('\n')
      .filter(Boolean);
    expect(lines.map((l) => JSON.parse(l).resourceName)).toEqual(
      [0, 1, 2, 3, 4, 5, 6].map((i) => `pod-${i}`),
    );
  });

  it('rotates by size and by age', async () => {
    const w = createAdmissionWriter({
      root: join(tmp.dir, 'topics'),
      channel: 'admission',
      maxBytes: 600,
      maxAgeMs: 150,
    });
    await w.write(rec(0));
    await w.write(rec(1));
    await w.write(rec(2));
    expect((await readdir(dir)).filter((f) => f.endsWith('.log')).length).toBeGreaterThanOrEqual(1);
    await w.write(rec(3));
    await waitFor(
      async () => (await readdir(dir)).every((f) => f.endsWith('.log')),
      'the age rotation',
    );
    await w.close();
  });
});
