import { appendFile, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BULK_BYTES } from '../../src/pipeline/optimizing-compilers.ts';
import { BUILT_CLI, readArgs, runCli, type CliProcess } from '../helpers/cli.ts';
import { auditIdOf, runLines, writeCompletedRun } from '../helpers/runs.ts';
import { makeTmpDir, waitFor } from '../helpers/tmp.ts';

// V8 traces each optimized compile (`--trace-opt`), here to a file of its own.
const OPTIMIZED = /^\[compiling method .*\(target (MAGLEV|TURBOFAN)\)/;

/** The reader's "bulk input" log lines, parsed. */
const bulkInputLogs = (stderr: string): Record<string, unknown>[] =>
  stderr
    .split('\n')
    .filter((l) => l.includes('bulk input'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe("read and V8's optimizing compilers", () => {
  let tmp: Awaited<ReturnType<typeof makeTmpDir>>;
  let p: CliProcess | undefined;

  beforeEach(async () => {
    tmp = await makeTmpDir();
  });
  afterEach(async () => {
    p?.child.kill('SIGKILL');
    await p?.exited;
    p = undefined;
    await tmp.cleanup();
  });

  async function readOneRun(violations: number) {
    const root = join(tmp.dir, 'root');
    await writeCompletedRun(root, 'c', '2026-01-01T00:00:00Z', violations);
    const traces = join(tmp.dir, 'traces.txt');
    // The built CLI: from src/cli.ts, Node's TypeScript stripper would run (and be optimized)
    // before the CLI's first line.
    p = runCli(readArgs(root, join(tmp.dir, 'state')), {
      entry: BUILT_CLI,
      nodeArgs: ['--trace-opt', '--redirect-code-traces', `--redirect-code-traces-to=${traces}`],
    });
    await waitFor(() => p!.stderr().includes('"msg":"run delivered"'), 'the run delivered', 20_000);
    p.child.kill('SIGTERM');
    await p.exited;
    // Every violation, as written, whichever check (TypeScript or WebAssembly) took it.
    expect(p.stdout()).toBe(runLines('2026-01-01T00:00:00Z', violations).slice(1, -1).join(''));
    const traced = await readFile(traces, 'utf8').catch(() => '');
    return { optimized: traced.split('\n').filter((l) => OPTIMIZED.test(l)), stderr: p.stderr() };
  }

  it('keeps them off through a small run', async () => {
    const { optimized, stderr } = await readOneRun(500);
    expect(optimized).toEqual([]);
    expect(stderr).not.toContain('bulk input');
  });

  it('turns them on for a run of bulk size, and logs it once', async () => {
    const violations = 8000;
    expect(runLines('x', violations).join('').length).toBeGreaterThan(BULK_BYTES);
    const { optimized, stderr } = await readOneRun(violations);
    expect(optimized.length).toBeGreaterThan(0);
    const logs = bulkInputLogs(stderr);
    expect(logs).toHaveLength(1);
    expect(logs[0]).toMatchObject({ level: 'info', reason: 'backlog' });
    expect(logs[0]!.bytes).toBeGreaterThanOrEqual(BULK_BYTES);
  });

  it('turns them on for a backlog of many small runs', async () => {
    const root = join(tmp.dir, 'root');
    const runs = 400;
    for (let i = 0; i < runs; i++) await writeCompletedRun(root, 'c', auditIdOf(i), 3, 1_000 + i);
    p = runCli(readArgs(root, join(tmp.dir, 'state')), { entry: BUILT_CLI });
    await waitFor(
      () => p!.stderr().split('"msg":"run delivered"').length > runs,
      'every run delivered',
      60_000,
    );
    const logs = bulkInputLogs(p.stderr());
    expect(logs).toHaveLength(1);
    expect(logs[0]).toMatchObject({ level: 'info', reason: 'backlog' });
    expect(p.lines()).toHaveLength(runs * 3);
  });

  it('turns them on when a run being written grows by bulk (--follow-open)', async () => {
    const root = join(tmp.dir, 'root');
    const id = '2026-01-01T00:00:00Z';
    const lines = runLines(id, 8000);
    const txt = join(root, 'c', `${id.replaceAll(':', '_')}.txt`);
    await mkdir(join(root, 'c'), { recursive: true });
    await writeFile(txt, lines.slice(0, 11).join(''));
    p = runCli(readArgs(root, join(tmp.dir, 'state'), '--follow-open'), { entry: BUILT_CLI });
    // Its reader is open on a small run: no backlog.
    await waitFor(() => p!.lines().length === 10, 'the first lines', 20_000);
    for (let i = 11; i < lines.length - 1; i += 1000) {
      await appendFile(txt, lines.slice(i, Math.min(i + 1000, lines.length - 1)).join(''));
    }
    await appendFile(txt, lines.at(-1)!);
    await rename(txt, txt.replace(/\.txt$/, '.log'));
    await waitFor(() => p!.stderr().includes('"msg":"run delivered"'), 'the run delivered', 20_000);
    expect(p.stdout()).toBe(lines.slice(1, -1).join(''));
    const logs = bulkInputLogs(p.stderr());
    expect(logs).toHaveLength(1);
    // (Read, as a rule: a machine loaded enough may find it busy first.)
    expect(['read', 'busy']).toContain(logs[0]!.reason);
  });
});
