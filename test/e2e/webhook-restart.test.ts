import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { auditIdOf, writeCompletedRun } from '../helpers/runs.ts';
import { waitFor } from '../helpers/tmp.ts';
import { useWorkspace } from '../helpers/workspace.ts';

describe('reader → webhook across an outage and a SIGKILL', () => {
  const ws = useWorkspace();

  it('delivers every record at least once, in order; after SIGKILL only the in-flight request repeats, with the same ids', async () => {
    const receiver = await ws.receiver();
    for (let i = 0; i < 3; i++) await writeCompletedRun(ws.root, 'c', auditIdOf(i), 100, 1000 + i);
    const args = [
      '--sink',
      'webhook',
      '--webhook-url',
      `${receiver.url}/in`,
      '--webhook-batch-max-records',
      '40',
      '--batch-max-records',
      '40',
      '--webhook-max-backoff',
      '50ms',
    ];
    // The receiver is down (503) after the first two requests: the reader must wait.
    let served = 0;
    receiver.setDecider(() => (served++ < 2 ? { status: 200 } : { status: 503 }));
    const first = ws.readerProcess(args);
    await waitFor(() => receiver.received.length >= 6, 'retries during the outage');
    // The group commit writes what the two answered requests covered within its interval.
    await waitFor(async () => {
      const text = await readFile(join(ws.state, 'checkpoints.json'), 'utf8');
      const file = JSON.parse(text) as { checkpoints: { line: number }[] };
      return file.checkpoints.some((c) => c.line >= 80);
    }, 'the answered requests to be checkpointed');
    first.child.kill('SIGKILL');
    await first.exited;
    const inFlight = receiver.received.at(-1)!.headers['idempotency-key'];
    receiver.setDecider(() => ({ status: 200 }));
    const before = receiver.received.length;
    const second = ws.readerProcess(args);
    const ids = () =>
      receiver.received
        .filter((_, i) => i < 2 || i >= before)
        .flatMap((r) => r.body.split('\n').filter(Boolean))
        .map((l) => `${JSON.parse(l).id}/${JSON.parse(l).resourceName}`);
    await waitFor(() => new Set(ids()).size === 300, 'all 300 records');
    second.child.kill('SIGTERM');
    expect((await second.exited).code).toBe(0);
    // The first request after restart is the one that was in flight: same key, same records.
    expect(receiver.received[before]!.headers['idempotency-key']).toBe(inFlight);
    expect(ids()).toHaveLength(300);
    const order = ids();
    expect(order).toEqual(
      [...order].sort((a, b) => {
        const [ia, na] = a.split('/');
        const [ib, nb] = b.split('/');
        return ia! < ib! ? -1 : ia! > ib! ? 1 : Number(na!.slice(4)) - Number(nb!.slice(4));
      }),
    );
  });

  it('with --webhook-concurrency, delivers every record once while requests overlap', async () => {
    const receiver = await ws.receiver();
    let n = 0;
    // Answers come back out of order: every third request is slow.
    receiver.setDecider(() => ({ status: 200, delayMs: n++ % 3 === 0 ? 80 : 5 }));
    for (let i = 0; i < 2; i++) await writeCompletedRun(ws.root, 'c', auditIdOf(i), 500, 1000 + i);
    const p = ws.readerProcess(
      ['--sink', 'webhook', '--webhook-url', receiver.url]
        .concat(['--webhook-batch-max-records', '25', '--batch-max-records', '100'])
        .concat(['--webhook-concurrency', '4']),
    );
    await waitFor(() => p.stderr().split('"msg":"run delivered"').length === 3, 'both runs');
    p.child.kill('SIGTERM');
    expect((await p.exited).code).toBe(0);
    const ids = receiver.received.flatMap((r) => r.body.split('\n').filter(Boolean));
    expect(ids).toHaveLength(1000);
    expect(new Set(ids).size).toBe(1000);
    expect(receiver.maxConcurrent()).toBeGreaterThan(1);
    expect(receiver.maxConcurrent()).toBeLessThanOrEqual(4);
  });
});
