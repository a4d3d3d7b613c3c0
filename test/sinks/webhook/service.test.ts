import { mkdir, readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { createDeadLetter } from '../../../src/dead-letter.ts';
import { formatSpec } from '../../../src/sinks/webhook/formats.ts';
import { resolveWebhookConfig } from '../../../src/sinks/webhook/options.ts';
import { createWebhookService } from '../../../src/sinks/webhook/service.ts';
import { capturingTelemetry, metricValue } from '../../helpers/reader.ts';
import type { Received } from '../../helpers/receiver.ts';
import { deliveries } from '../../helpers/runs.ts';
import { waitFor } from '../../helpers/tmp.ts';
import { useWorkspace } from '../../helpers/workspace.ts';

const names = (r: Received) =>
  r.body
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l).resourceName as string);

describe('webhook service (send, retry, 413, dead letter, partial success)', () => {
  const ws = useWorkspace();

  async function serviceFor(url: string, extra: Record<string, unknown> = {}) {
    const telemetry = capturingTelemetry();
    const config = resolveWebhookConfig({
      webhookUrl: url,
      webhookMaxBackoff: 20,
      webhookTimeout: 2000,
      ...extra,
    });
    const service = createWebhookService(config, formatSpec(config.format, config), {
      telemetry,
      deadLetter: createDeadLetter(ws.state, { telemetry, retryBaseMs: 10, retryMaxMs: 50 }),
    });
    ws.defer(() => service.close());
    return { service, telemetry };
  }
  const deadLetter = async () =>
    (await readFile(ws.path('state', 'dead-letter.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);

  it('delivers one request and counts its records', async () => {
    const receiver = await ws.receiver();
    const { service, telemetry } = await serviceFor(receiver.url + '/in');
    await service.send(deliveries(3));
    expect(receiver.received).toHaveLength(1);
    expect(receiver.received[0]!.url).toBe('/in');
    expect(names(receiver.received[0]!)).toEqual(['pod-0', 'pod-1', 'pod-2']);
    expect(await metricValue(telemetry, 'gk_export_records_delivered_total')).toBe(3);
  });

  it('retries a retryable answer with the same request, honouring Retry-After', async () => {
    const receiver = await ws.receiver();
    receiver.answers.push({ status: 503, headers: { 'retry-after': '0' } }, 'reset');
    const { service, telemetry } = await serviceFor(receiver.url);
    await service.send(deliveries(2));
    expect(receiver.received).toHaveLength(3);
    expect(new Set(receiver.received.map((r) => r.body)).size).toBe(1);
    expect(new Set(receiver.received.map((r) => r.headers['idempotency-key'])).size).toBe(1);
    expect(await metricValue(telemetry, 'gk_export_sink_retries_total')).toBe(2);
  });

  it('gives up after --webhook-max-retries and sets the records aside', async () => {
    const receiver = await ws.receiver({ fallback: { status: 500, body: 'down' } });
    const { service } = await serviceFor(receiver.url, { webhookMaxRetries: 2 });
    await service.send(deliveries(2));
    expect(receiver.received).toHaveLength(3);
    expect(await deadLetter()).toEqual([
      expect.objectContaining({ status: 500, reason: 'HTTP 500 after 3 attempts' }),
    ]);
  });

  it('halves a request on 413 down to the record that is too large, which is set aside', async () => {
    const receiver = await ws.receiver();
    receiver.setDecider((r) =>
      r.body.includes('"pod-2"') || names(r).length > 2 ? { status: 413 } : { status: 200 },
    );
    const { service } = await serviceFor(receiver.url);
    await service.send(deliveries(5));
    const delivered = receiver.received.filter((r) => !r.body.includes('"pod-2"'));
    expect(delivered.filter((r) => names(r).length <= 2).flatMap(names)).toEqual([
      'pod-0',
      'pod-1',
      'pod-3',
      'pod-4',
    ]);
    expect(await deadLetter()).toEqual([expect.objectContaining({ status: 413, keys: ['c/r/4'] })]);
  });

  it('resolves a refused request only once it is in the dead letter; stops after it with `stop`', async () => {
    const receiver = await ws.receiver({ fallback: { status: 400, body: 'bad schema' } });
    const { service, telemetry } = await serviceFor(receiver.url, { onPermanentError: 'stop' });
    await expect(service.send(deliveries(2))).rejects.toMatchObject({ code: 'ERR_SINK_PERMANENT' });
    expect(await deadLetter()).toEqual([
      expect.objectContaining({ kind: 'batch', status: 400, responseExcerpt: 'bad schema' }),
    ]);
    expect(await metricValue(telemetry, 'gk_export_records_dead_lettered_total')).toBe(2);
  });

  it('holds a refused request while the dead letter cannot be written; a shutdown rejects it', async () => {
    const receiver = await ws.receiver({ fallback: { status: 400 } });
    await mkdir(ws.path('state', 'dead-letter.jsonl'), { recursive: true });
    const { service, telemetry } = await serviceFor(receiver.url);
    let settled = false;
    const sent = service.send(deliveries(2)).finally(() => (settled = true));
    sent.catch(() => undefined);
    await waitFor(
      async () => (await metricValue(telemetry, 'gk_export_dead_letter_write_failures_total')) >= 2,
      'retries of the dead-letter write',
    );
    expect(settled).toBe(false);
    service.interrupt();
    await expect(sent).rejects.toMatchObject({ code: 'ERR_SINK_INTERRUPTED' });
    expect(await metricValue(telemetry, 'gk_export_records_dead_lettered_total')).toBe(0);
  });

  it('counts an OTLP partial success as delivered, its rejected records apart, without a retry', async () => {
    const receiver = await ws.receiver({
      fallback: { status: 200, body: '{"partialSuccess":{"rejectedLogRecords":"2"}}' },
    });
    const { service, telemetry } = await serviceFor(receiver.url, { webhookFormat: 'otlp' });
    await service.send(deliveries(3));
    expect(receiver.received.map((r) => r.url)).toEqual(['/v1/logs']);
    expect(
      await metricValue(telemetry, 'gk_export_records_dead_lettered_total', {
        stage: 'otlp_partial',
      }),
    ).toBe(2);
    expect(telemetry.logs.some((l) => String(l.msg).includes('partial success'))).toBe(true);
  });

  it('rejects a send that is retrying when interrupted', async () => {
    const receiver = await ws.receiver({ fallback: 'reset' });
    const { service, telemetry } = await serviceFor(receiver.url);
    const sent = service.send(deliveries(1));
    await waitFor(
      async () => (await metricValue(telemetry, 'gk_export_sink_retries_total')) >= 1,
      'a retry',
    );
    service.interrupt();
    await expect(sent).rejects.toMatchObject({ code: 'ERR_SINK_INTERRUPTED' });
  });

  // Bug: interrupt() woke only the send that went to sleep last; with --webhook-concurrency > 1
  // the other sends slept out their backoff (up to --webhook-max-backoff, or a Retry-After),
  // holding the shutdown until the grace period gave them up.
  it('wakes every send sleeping before a retry when interrupted', async () => {
    const receiver = await ws.receiver({
      fallback: { status: 503, headers: { 'retry-after': '3600' } },
    });
    const { service, telemetry } = await serviceFor(receiver.url, {
      webhookMaxBackoff: 3_600_000,
      webhookConcurrency: 2,
    });
    const settled: string[] = [];
    const sends = [deliveries(1), deliveries(1, 1)].map((records, i) => {
      const p = service.send(records);
      p.catch((err: { code?: string }) => settled.push(`${i}:${err.code}`));
      return p;
    });
    await waitFor(
      async () => (await metricValue(telemetry, 'gk_export_sink_retries_total')) === 2,
      'both sends to wait for their retry',
    );
    service.interrupt();
    await waitFor(
      () => settled.length === 2,
      'both sends to end after interrupt() (one still sleeps out its Retry-After)',
      10_000,
    );
    await Promise.allSettled(sends);
    expect(settled.sort()).toEqual(['0:ERR_SINK_INTERRUPTED', '1:ERR_SINK_INTERRUPTED']);
  });
});
