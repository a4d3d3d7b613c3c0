import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createDeadLetter } from '../../src/dead-letter.ts';
import { checkpointKey, openCheckpointStore } from '../../src/pipeline/checkpoint.ts';
import { createPipeline } from '../../src/pipeline/pipeline.ts';
import { resolveWebhookConfig } from '../../src/sinks/webhook/options.ts';
import { createWebhookSink } from '../../src/sinks/webhook/webhook-sink.ts';
import { capturingTelemetry } from '../helpers/reader.ts';
import { startReceiver } from '../helpers/receiver.ts';
import { deliveries } from '../helpers/runs.ts';
import { makeTmpDir } from '../helpers/tmp.ts';

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
    expect(deliver.window).toBe(4);
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
    // On disk too, after a reopen.
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
