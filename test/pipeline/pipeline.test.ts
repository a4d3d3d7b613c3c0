import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createDeadLetter } from '../../src/dead-letter.ts';
import {
  CHECKPOINT_INTERVAL_MS,
  checkpointKey,
  openCheckpointStore,
} from '../../src/pipeline/checkpoint.ts';
import { createPipeline } from '../../src/pipeline/pipeline.ts';
import { resolveWebhookConfig } from '../../src/sinks/webhook/options.ts';
import { createWebhookSink } from '../../src/sinks/webhook/webhook-sink.ts';
import type { Sink } from '../../src/sinks/sink.ts';
import { capturingTelemetry, collectingSink, metricValue } from '../helpers/reader.ts';
import { startReceiver } from '../helpers/receiver.ts';
import { deliveries } from '../helpers/runs.ts';
import { makeTmpDir, waitFor } from '../helpers/tmp.ts';

const RUN = { source: 'audit', channel: 'c', run: 'r', ino: '7' } as const;
const batch = (from: number, n: number) => deliveries(n, from);
const entry = (line: number) => ({ ...RUN, offset: line * 100, line, done: false });

describe('pipeline with several batches in flight', () => {
  let tmp: Awaited<ReturnType<typeof makeTmpDir>>;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  beforeEach(async () => {
    tmp = await makeTmpDir();
  });
  afterEach(async () => {
    await receiver?.close();
    await tmp.cleanup();
  });

  async function setup(extra: Record<string, unknown>) {
    const telemetry = capturingTelemetry();
    const sink = createWebhookSink(
      resolveWebhookConfig({
        webhookUrl: receiver.url,
        webhookBatchMaxRecords: 10,
        webhookMaxBackoff: 20,
        ...extra,
      }),
      { telemetry, deadLetter: createDeadLetter(join(tmp.dir, 'state')) },
    );
    const store = await openCheckpointStore(join(tmp.dir, 'state'));
    const deliver = createPipeline({ sink, store, filter: (b) => [...b], telemetry });
    return { sink, store, deliver };
  }

  it('acknowledges in call order: a slow first request holds back the later checkpoints', async () => {
    receiver = await startReceiver();
    // The first request is answered last.
    receiver.setDecider((r) => ({ status: 200, delayMs: r.body.includes('"pod-0"') ? 300 : 100 }));
    const { sink, store, deliver } = await setup({ webhookConcurrency: 3 });
    expect(deliver.window).toBe(5);
    const order: number[] = [];
    const seen: (number | undefined)[] = [];
    const calls = [0, 1, 2].map((i) =>
      deliver(batch(i * 10, 10), entry((i + 1) * 10), { more: i < 2 }).then(() => {
        order.push(i);
        // What was saved when this batch was acknowledged.
        seen.push(store.get(checkpointKey(RUN))?.line);
      }),
    );
    await Promise.all(calls);
    expect(receiver.maxConcurrent()).toBe(3);
    expect(order).toEqual([0, 1, 2]);
    expect(seen).toEqual([10, 20, 30]);
    // On disk too, after a reopen, once the group commit has written it.
    await store.flushSoon();
    expect((await openCheckpointStore(join(tmp.dir, 'state'))).get(checkpointKey(RUN))?.line).toBe(
      30,
    );
    await sink.close();
  });

  it('applies no checkpoint after a batch that failed for good (failures are sticky)', async () => {
    receiver = await startReceiver();
    receiver.setDecider((r) =>
      r.body.includes('"pod-0"') ? { status: 400, delayMs: 100 } : { status: 200 },
    );
    const { sink, store, deliver } = await setup({
      webhookConcurrency: 2,
      onPermanentError: 'stop',
    });
    const first = deliver(batch(0, 10), entry(10), { more: true });
    const second = deliver(batch(10, 10), entry(20));
    await expect(first).rejects.toMatchObject({ code: 'ERR_SINK_PERMANENT' });
    await expect(second).rejects.toMatchObject({ code: 'ERR_SINK_PERMANENT' });
    await expect(deliver(batch(20, 10), entry(30))).rejects.toMatchObject({
      code: 'ERR_SINK_PERMANENT',
    });
    expect(store.get(checkpointKey(RUN))).toBeUndefined();
    await sink.close();
  });
});

describe('pipeline group commit', () => {
  let tmp: Awaited<ReturnType<typeof makeTmpDir>>;
  beforeEach(async () => {
    tmp = await makeTmpDir();
  });
  afterEach(() => tmp.cleanup());

  async function setup(sink: Sink = collectingSink().sink) {
    const telemetry = capturingTelemetry();
    const dir = join(tmp.dir, 'state');
    const store = await openCheckpointStore(dir);
    const deliver = createPipeline({ sink, store, filter: (b) => [...b], telemetry });
    const onDisk = async () => (await openCheckpointStore(dir)).get(checkpointKey(RUN));
    return { telemetry, store, deliver, onDisk };
  }

  it('writes at most once per interval while batches stream, and a run end at once', async () => {
    const { telemetry, store, deliver, onDisk } = await setup();
    const t0 = performance.now();
    let line = 0;
    // Acknowledged batches for a few intervals, yielding to timers between them.
    while (performance.now() - t0 < 3.5 * CHECKPOINT_INTERVAL_MS) {
      line += 10;
      await deliver(batch(line - 10, 10), entry(line));
      await new Promise((r) => setImmediate(r));
    }
    // The write that covers the last batches (maybe still scheduled) settles.
    await store.flushSoon();
    const elapsed = performance.now() - t0;
    const writes = await metricValue(telemetry, 'gk_export_checkpoint_writes_total');
    // The first at once, then one per interval at most: far fewer than the batches.
    expect(writes).toBeGreaterThanOrEqual(2);
    expect(writes).toBeLessThanOrEqual(1 + Math.ceil(elapsed / CHECKPOINT_INTERVAL_MS));
    expect(await onDisk()).toMatchObject({ line });
    // The end of a run is on disk when its call resolves.
    await deliver([], { ...entry(line), done: true });
    expect(await onDisk()).toMatchObject({ line, done: true });
  });

  it('catches up within the interval once batches stop, never past an unacknowledged one', async () => {
    const release: (() => void)[] = [];
    const sink: Sink = {
      name: 'held',
      write: () => new Promise<void>((resolve) => release.push(resolve)),
      close: async () => undefined,
    };
    const { store, deliver, onDisk } = await setup(sink);
    const first = deliver(batch(0, 10), entry(10));
    const second = deliver(batch(10, 10), entry(20));
    await waitFor(() => release.length === 1, 'the first write');
    release.shift()!();
    await first;
    await waitFor(async () => (await onDisk())?.line === 10, 'the first checkpoint on disk');
    // The second batch is not acknowledged: a write now still stops at the first.
    await waitFor(() => release.length === 1, 'the second write');
    await store.flush();
    expect((await onDisk())?.line).toBe(10);
    release.shift()!();
    await second;
    // No later batch comes: the scheduled write alone brings the file up to date.
    await waitFor(async () => (await onDisk())?.line === 20, 'the second checkpoint on disk');
  });

  it('stops acknowledging after a checkpoint write failed: logged once, counted', async () => {
    const { telemetry, deliver } = await setup();
    // The state dir disappears under the reader: every write fails.
    await rm(join(tmp.dir, 'state'), { recursive: true });
    await deliver(batch(0, 10), entry(10));
    await waitFor(
      async () => (await metricValue(telemetry, 'gk_export_checkpoint_failures_total')) === 1,
      'the failure to be counted',
    );
    await expect(deliver(batch(10, 10), entry(20))).rejects.toMatchObject({
      code: 'ERR_CHECKPOINT_WRITE',
    });
    await expect(deliver(batch(20, 10), { ...entry(30), done: true })).rejects.toMatchObject({
      code: 'ERR_CHECKPOINT_WRITE',
    });
    const errors = telemetry.logs.filter(
      (l) => l.msg === 'checkpoint write failed: no later batch is acknowledged',
    );
    expect(errors).toHaveLength(1);
  });

  it('shrinks the heap once idle after any delivery, once per idle period', async () => {
    // Pins: after a backlog the reader kept its peak RSS while idle (no full GC ever ran), and
    // after one small run the young generation kept the size its burst grew it to (a GC was
    // asked for only after 64 batches, and a regular one does not shrink it).
    const calls: object[] = [];
    const g = globalThis as { gc?: (opts: object) => void };
    const saved = g.gc;
    g.gc = (opts) => void calls.push(opts);
    try {
      const { deliver } = await setup();
      await deliver(batch(0, 10), entry(10));
      await waitFor(() => calls.length === 1, 'a GC once idle after one batch', 5000);
      expect(calls[0]).toEqual({ type: 'major', execution: 'async', flavor: 'last-resort' });
      // Idle without deliveries: no further GC (its 2 s delay would have passed).
      await new Promise((r) => setTimeout(r, 2500));
      expect(calls).toHaveLength(1);
      await deliver(batch(10, 10), entry(20));
      await waitFor(() => calls.length === 2, 'a GC once idle after the next batch', 5000);
    } finally {
      g.gc = saved;
    }
  });
});
