// Pins that a webhook lane reads batches of its request size: with reader batches smaller than
// a request, a completed run's requests held one reader batch each (never the configured
// --webhook-batch-max-records), so a run went out in many more requests than asked for.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createDeadLetter } from '../../../src/dead-letter.ts';
import { resolveWebhookConfig } from '../../../src/sinks/webhook/options.ts';
import { createWebhookSink } from '../../../src/sinks/webhook/webhook-sink.ts';
import { capturingTelemetry } from '../../helpers/reader.ts';
import { runLines } from '../../helpers/runs.ts';
import { waitFor } from '../../helpers/tmp.ts';
import { useWorkspace } from '../../helpers/workspace.ts';

const ID = '2026-01-01T00:00:00Z';

describe('webhook lane batches', () => {
  const ws = useWorkspace();

  async function requestSizes(webhook: Record<string, unknown>) {
    await mkdir(join(ws.root, 'c'), { recursive: true });
    await writeFile(
      join(ws.root, 'c', `${ID.replaceAll(':', '_')}.log`),
      runLines(ID, 12).join(''),
    );
    const receiver = await ws.receiver();
    const telemetry = capturingTelemetry();
    const sink = createWebhookSink(
      resolveWebhookConfig({ webhookUrl: receiver.url, webhookTimeout: 2000, ...webhook }),
      { telemetry, deadLetter: createDeadLetter(ws.state, { telemetry }) },
    );
    // Reader batches of 2 records: smaller than a request.
    const r = ws.reader({ sink, batchMaxRecords: 2 });
    await waitFor(
      () => r.telemetry.logs.some((l) => l.msg === 'run delivered'),
      'the run delivered',
    );
    return receiver.received.map((q) => q.body.split('\n').filter(Boolean).length);
  }

  it('sends a completed run in requests of --webhook-batch-max-records, one batch each', async () => {
    // Batches of 5 lines; the run's markers are read with them but not sent.
    expect(await requestSizes({ webhookBatchMaxRecords: 5 })).toEqual([4, 5, 3]);
  });

  it('keeps formats of one event per request on the reader batches', async () => {
    expect(await requestSizes({ webhookFormat: 'cloudevents' })).toEqual(
      Array.from({ length: 12 }, () => 1),
    );
  });
});
