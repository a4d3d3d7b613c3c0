import { mkdir, rename, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { encodeExportMsg } from '../../src/protocol/encode.ts';
import type { ExportMsg } from '../../src/protocol/record.ts';
import { readArgs, runCli, type CliProcess } from '../helpers/cli.ts';
import { auditIdOf, violation } from '../helpers/runs.ts';
import { makeTmpDir, waitFor } from '../helpers/tmp.ts';

const CHANNEL = 'audit-channel';

/** Writes a completed run whose violations are numbers `from`..`to` (inclusive). */
async function writeRun(root: string, index: number, from: number, to: number): Promise<string> {
  const id = auditIdOf(index);
  const lines = [encodeExportMsg({ id, message: 'audit is started' })];
  for (let i = from; i <= to; i++) lines.push(encodeExportMsg(violation(id, i)));
  lines.push(encodeExportMsg({ id, message: 'audit is completed' }));
  const dir = join(root, CHANNEL);
  await mkdir(dir, { recursive: true });
  const run = id.replaceAll(':', '_');
  await writeFile(join(dir, `${run}.txt`), lines.join('\n') + '\n');
  await rename(join(dir, `${run}.txt`), join(dir, `${run}.log`));
  await utimes(join(dir, `${run}.log`), 1_000_000 + index, 1_000_000 + index);
  return id;
}

describe('read --changes-only', () => {
  let tmp: Awaited<ReturnType<typeof makeTmpDir>>;
  let root: string;
  let state: string;

  beforeEach(async () => {
    tmp = await makeTmpDir();
    root = join(tmp.dir, 'topics');
    state = join(tmp.dir, 'state');
    await mkdir(root);
  });
  afterEach(() => tmp.cleanup());

  const start = () =>
    runCli(
      readArgs(root, state, '--changes-only', '--include-markers', '--batch-max-records', '128'),
    );

  /** The violation records printed for run `id` (markers frame each run on stdout). */
  async function recordsOf(p: CliProcess, id: string): Promise<ExportMsg[]> {
    const completed = `{"id":"${id}","message":"audit is completed"}`;
    await waitFor(() => p.lines().includes(completed), `run ${id} on stdout`);
    const lines = p.lines();
    const begin = lines.indexOf(`{"id":"${id}","message":"audit is started"}`);
    return lines.slice(begin + 1, lines.indexOf(completed)).map((l) => JSON.parse(l) as ExportMsg);
  }

  const numbers = (records: ExportMsg[], eventType: string) =>
    records
      .filter((r) => r.eventType === eventType)
      .map((r) => Number(r.resourceName!.slice('pod-'.length)))
      .sort((a, b) => a - b);
  const range = (from: number, to: number) =>
    Array.from({ length: to - from + 1 }, (_, k) => from + k);

  it('sends the first run in full, then only new and resolved violations, also across a restart', async () => {
    let p = start();
    const first = await recordsOf(p, await writeRun(root, 1, 0, 999));
    expect(first).toHaveLength(1000);

    const secondId = await writeRun(root, 2, 100, 1099);
    const second = await recordsOf(p, secondId);
    expect(second).toHaveLength(200);
    expect(numbers(second, 'violation_audited')).toEqual(range(1000, 1099));
    expect(numbers(second, 'violation_resolved')).toEqual(range(0, 99));
    // A resolved record is the previous record, with the id of the run that no longer has it.
    const resolved = second.find((r) => r.eventType === 'violation_resolved')!;
    const n = Number(resolved.resourceName!.slice(4));
    expect(resolved).toEqual({
      ...violation(auditIdOf(1), n),
      id: secondId,
      eventType: 'violation_resolved',
    });

    expect(await recordsOf(p, await writeRun(root, 3, 100, 1099))).toEqual([]);

    await waitFor(() => p.stderr().includes('reader started'), 'the reader to start');
    p.child.kill('SIGTERM');
    expect((await p.exited).code).toBe(0);

    const fourthId = await writeRun(root, 4, 0, 1099);
    p = start();
    try {
      const fourth = await recordsOf(p, fourthId);
      expect(fourth).toHaveLength(100);
      expect(numbers(fourth, 'violation_audited')).toEqual(range(0, 99));
    } finally {
      p.child.kill('SIGTERM');
      await p.exited;
    }
  });
});
