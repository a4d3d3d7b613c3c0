import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { HTTP, type CloudEvent } from 'cloudevents';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createDeadLetter } from '../../../src/dead-letter.ts';
import { runReader } from '../../../src/reader/index.ts';
import { resolveReaderConfig } from '../../../src/reader/options.ts';
import type { Delivery } from '../../../src/sinks/sink.ts';
import { resolveWebhookConfig } from '../../../src/sinks/webhook/options.ts';
import { createWebhookSink } from '../../../src/sinks/webhook/webhook-sink.ts';
import { makeCerts } from '../../helpers/certs.ts';
import { capturingTelemetry, metricValue } from '../../helpers/reader.ts';
import { startReceiver } from '../../helpers/receiver.ts';
import { deliveries, writeCompletedRun } from '../../helpers/runs.ts';
import { makeTmpDir, waitFor } from '../../helpers/tmp.ts';
import { readFile } from 'node:fs/promises';

const ID = '2026-01-01T00:00:00Z';

describe('webhook sink', () => {
  let tmp: Awaited<ReturnType<typeof makeTmpDir>>;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  const closers: (() => Promise<void>)[] = [];
  beforeEach(async () => {
    tmp = await makeTmpDir();
  });
  afterEach(async () => {
    for (const c of closers.splice(0)) await c();
    await receiver?.close();
    await tmp.cleanup();
  });

  function sink(extra: Record<string, unknown> = {}) {
    const telemetry = capturingTelemetry();
    const config = resolveWebhookConfig({
      webhookUrl: receiver.url + '/ingest',
      webhookMaxBackoff: 50,
      webhookTimeout: 2000,
      webhookBatchMaxRecords: 10,
      ...extra,
    });
    const s = createWebhookSink(config, {
      telemetry,
      deadLetter: createDeadLetter(join(tmp.dir, 'state')),
    });
    closers.push(() => s.close());
    return { s, telemetry };
  }
  const bodies = () =>
    receiver.received.flatMap((r) =>
      r.body
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l).resourceName as string),
    );

  it('delivers every record in order, in requests of at most the batch size', async () => {
    receiver = await startReceiver();
    const { s, telemetry } = sink();
    await s.write(deliveries(25));
    expect(receiver.received.map((r) => r.body.split('\n').filter(Boolean).length)).toEqual([
      10, 10, 5,
    ]);
    expect(bodies()).toEqual(Array.from({ length: 25 }, (_, i) => `pod-${i}`));
    expect(receiver.received[0]!.headers['content-type']).toBe('application/x-ndjson');
    expect(
      await metricValue(telemetry, 'gk_export_records_delivered_total', { sink: 'webhook' }),
    ).toBe(25);
  });

  it('retries 503 (honouring Retry-After), 429, 500, resets and stalls with the same Idempotency-Key', async () => {
    receiver = await startReceiver();
    receiver.answers.push(
      { status: 503, headers: { 'retry-after': '0' } },
      { status: 429 },
      { status: 500 },
      'reset',
      'stall',
    );
    const { s, telemetry } = sink({ webhookTimeout: 300 });
    await s.write(deliveries(3));
    expect(receiver.received).toHaveLength(6);
    const keys = new Set(receiver.received.map((r) => r.headers['idempotency-key']));
    expect(keys.size).toBe(1);
    expect(await metricValue(telemetry, 'gk_export_sink_retries_total')).toBe(5);
    expect(
      await metricValue(telemetry, 'gk_export_records_delivered_total', { sink: 'webhook' }),
    ).toBe(3);
  });

  it('sets a permanently refused request aside in the dead letter and goes on', async () => {
    receiver = await startReceiver();
    receiver.answers.push({ status: 400, body: 'bad schema' });
    const { s, telemetry } = sink();
    await s.write(deliveries(12));
    const dead = (await readFile(join(tmp.dir, 'state', 'dead-letter.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(dead).toHaveLength(1);
    expect(dead[0]).toMatchObject({
      kind: 'batch',
      sink: 'webhook',
      status: 400,
      responseExcerpt: 'bad schema',
    });
    expect(dead[0].keys).toHaveLength(10);
    expect(
      await metricValue(telemetry, 'gk_export_records_dead_lettered_total', { stage: 'sink' }),
    ).toBe(10);
    expect(receiver.received).toHaveLength(2);
    expect(telemetry.logs.some((l) => l.level === 'error')).toBe(true);
  });

  it('stops on a permanent error with --on-permanent-error stop', async () => {
    receiver = await startReceiver();
    receiver.answers.push({ status: 401 });
    const { s, telemetry } = sink({ onPermanentError: 'stop' });
    await expect(s.write(deliveries(2))).rejects.toMatchObject({ code: 'ERR_SINK_PERMANENT' });
    expect(
      await metricValue(telemetry, 'gk_export_sink_failing_permanently', { sink: 'webhook' }),
    ).toBe(1);
  });

  it('halves a request on 413 and dead-letters a single record that is still too large', async () => {
    receiver = await startReceiver();
    receiver.setDecider((r) => {
      const n = r.body.split('\n').filter(Boolean).length;
      if (r.body.includes('pod-3"')) return { status: 413 };
      return n > 2 ? { status: 413 } : { status: 200 };
    });
    const { s } = sink();
    await s.write(deliveries(8));
    const ok = receiver.received.filter(
      (r) => !r.body.includes('pod-3"') && r.body.split('\n').filter(Boolean).length <= 2,
    );
    expect(
      ok.flatMap((r) =>
        r.body
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l).resourceName),
      ),
    ).toEqual(['pod-0', 'pod-1', 'pod-2', 'pod-4', 'pod-5', 'pod-6', 'pod-7']);
    const dead = JSON.parse(
      (await readFile(join(tmp.dir, 'state', 'dead-letter.jsonl'), 'utf8')).trim(),
    );
    expect(dead).toMatchObject({ status: 413, keys: ['c/r/5'] });
  });

  it('holds the batch while the receiver is down: the write does not resolve, nothing else is read', async () => {
    receiver = await startReceiver({ fallback: { status: 503 } });
    const { s } = sink();
    let done = false;
    const w = s.write(deliveries(5)).then(() => (done = true));
    await new Promise((r) => setTimeout(r, 300));
    expect(done).toBe(false);
    expect(new Set(receiver.received.map((r) => r.headers['idempotency-key'])).size).toBe(1);
    receiver.setDecider(() => ({ status: 200 }));
    await w;
    expect(done).toBe(true);
  });

  it('holds a request that is not full for more records, at most the flush interval', async () => {
    receiver = await startReceiver();
    const { s } = sink({ webhookFlushInterval: 400 });
    const t0 = Date.now();
    // Two writes with more to come fill one request; the tail leaves when the interval ends.
    const a = s.write(deliveries(3), { more: true });
    const b = s.write(deliveries(4, 3), { more: true });
    await new Promise((r) => setTimeout(r, 150));
    expect(receiver.received).toHaveLength(0);
    await Promise.all([a, b]);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(390);
    expect(receiver.received.map((r) => r.body.split('\n').filter(Boolean).length)).toEqual([7]);
    // A full request leaves at once; flush() sends a held tail now; no hint means send now.
    const c = s.write(deliveries(12, 7), { more: true });
    await waitFor(() => receiver.received.length === 2, 'the full request');
    s.flush!();
    await c;
    await s.write(deliveries(1, 19));
    expect(receiver.received.map((r) => r.body.split('\n').filter(Boolean).length)).toEqual([
      7, 10, 2, 1,
    ]);
    expect(bodies()).toEqual(Array.from({ length: 20 }, (_, i) => `pod-${i}`));
  });

  it('keeps --webhook-concurrency requests in flight, sent in order', async () => {
    receiver = await startReceiver();
    receiver.setDecider(() => ({ status: 200, delayMs: 100 }));
    const { s } = sink({ webhookConcurrency: 3 });
    expect(s.window).toBe(5);
    await s.write(deliveries(60));
    expect(receiver.received).toHaveLength(6);
    expect(receiver.maxConcurrent()).toBe(3);
    expect(bodies()).toEqual(Array.from({ length: 60 }, (_, i) => `pod-${i}`));
  });

  it('sends nothing after a request given up on (--on-permanent-error stop)', async () => {
    receiver = await startReceiver();
    receiver.setDecider((r) => (r.body.includes('"pod-0"') ? { status: 400 } : { status: 200 }));
    const { s } = sink({ webhookConcurrency: 1, onPermanentError: 'stop' });
    const first = s.write(deliveries(10), { more: true });
    const second = s.write(deliveries(10, 10));
    await expect(first).rejects.toMatchObject({ code: 'ERR_SINK_PERMANENT' });
    await expect(second).rejects.toMatchObject({ code: 'ERR_SINK_PERMANENT' });
    expect(receiver.received).toHaveLength(1);
  });

  it('can be interrupted while retrying (shutdown during an outage)', async () => {
    receiver = await startReceiver({ fallback: 'reset' });
    const { s } = sink();
    const w = s.write(deliveries(1));
    await new Promise((r) => setTimeout(r, 100));
    s.interrupt();
    await expect(w).rejects.toMatchObject({ code: 'ERR_SINK_INTERRUPTED' });
  });

  it('re-reads the token file and never logs a secret', async () => {
    receiver = await startReceiver();
    receiver.answers.push({ status: 500 });
    const tokenFile = join(tmp.dir, 'token');
    await writeFile(tokenFile, 'first-secret-token\n');
    const { s, telemetry } = sink({
      webhookTokenFile: tokenFile,
      webhookUrl: receiver.url.replace('//', '//user:hunter2@'),
    });
    await s.write(deliveries(1));
    expect(receiver.received.map((r) => r.headers.authorization)).toEqual([
      'Bearer first-secret-token',
      'Bearer first-secret-token',
    ]);
    await writeFile(tokenFile, 'second-secret-token-longer\n');
    await s.write(deliveries(1, 1));
    expect(receiver.received.at(-1)!.headers.authorization).toBe(
      'Bearer second-secret-token-longer',
    );
    const logged = JSON.stringify(telemetry.logs);
    expect(logged).not.toContain('secret-token');
    expect(logged).not.toContain('hunter2');
  });

  it('speaks HTTPS with a CA file and mutual TLS, and refuses an unknown CA', async () => {
    const certs = makeCerts(tmp.dir);
    receiver = await startReceiver({
      tls: { key: certs.serverKey, cert: certs.serverCert, ca: certs.ca, requestCert: true },
    });
    const { s } = sink({
      webhookCaFile: certs.caFile,
      webhookCertFile: certs.clientCertFile,
      webhookKeyFile: certs.clientKeyFile,
    });
    await s.write(deliveries(2));
    expect(receiver.received).toHaveLength(1);
    const { s: untrusted } = sink({ webhookMaxRetries: 1 });
    await untrusted.write(deliveries(1));
    expect(receiver.received).toHaveLength(1);
  });

  it('sends gzip bodies when asked', async () => {
    receiver = await startReceiver();
    const { s } = sink({ webhookGzip: true });
    await s.write(deliveries(3));
    expect(receiver.received[0]!.headers['content-encoding']).toBe('gzip');
    expect(bodies()).toEqual(['pod-0', 'pod-1', 'pod-2']);
  });

  it('emits CloudEvents that the CloudEvents SDK decodes (structured and batch)', async () => {
    receiver = await startReceiver();
    const { s } = sink({ webhookFormat: 'cloudevents', clusterName: 'prod' });
    await s.write(deliveries(2));
    expect(receiver.received).toHaveLength(2);
    const ev = HTTP.toEvent({
      headers: receiver.received[0]!.headers as Record<string, string>,
      body: receiver.received[0]!.body,
    });
    const one = (Array.isArray(ev) ? ev[0]! : ev) as CloudEvent<unknown>;
    expect(one).toMatchObject({
      specversion: '1.0',
      id: 'c/r/2',
      type: 'sh.gatekeeper.violation.audited',
      source: '/clusters/prod/gatekeeper/audit',
      subject: 'v1/Pod/ns-0/pod-0',
      constraintkind: 'K8sRequiredLabels',
      auditid: ID,
    });
    expect(one.validate()).toBe(true);
    receiver.received.length = 0;
    const { s: batch } = sink({ webhookFormat: 'cloudevents-batch' });
    await batch.write(deliveries(3));
    const evs = HTTP.toEvent({
      headers: receiver.received[0]!.headers as Record<string, string>,
      body: receiver.received[0]!.body,
    });
    expect(Array.isArray(evs) ? evs.map((e) => e.id) : []).toEqual(['c/r/2', 'c/r/3', 'c/r/4']);
  });

  it('posts OTLP/HTTP JSON logs to /v1/logs and retries only OTLP-retryable codes', async () => {
    receiver = await startReceiver();
    receiver.answers.push({ status: 502 }, { status: 500 });
    const { s } = sink({ webhookFormat: 'otlp', clusterName: 'prod' });
    await s.write(deliveries(2));
    expect(receiver.received[0]!.url).toBe('/ingest/v1/logs');
    // 502 retried; 500 is final for OTLP: dead-lettered.
    expect(receiver.received).toHaveLength(2);
    receiver.received.length = 0;
    await s.write(deliveries(1));
    const body = JSON.parse(receiver.received[0]!.body);
    const rec = body.resourceLogs[0].scopeLogs[0].logRecords[0];
    expect(body.resourceLogs[0].resource.attributes).toContainEqual({
      key: 'k8s.cluster.name',
      value: { stringValue: 'prod' },
    });
    expect(rec).toMatchObject({
      severityNumber: 13,
      severityText: 'WARN',
      body: { stringValue: expect.stringContaining('violation number 0') },
    });
    expect(typeof rec.timeUnixNano).toBe('string');
    expect(rec.attributes).toContainEqual({ key: 'k8s.pod.name', value: { stringValue: 'pod-0' } });
  });

  it('publishes to Dapr one message per request with markers, and Splunk HEC events with its auth scheme', async () => {
    receiver = await startReceiver();
    const { s } = sink({ webhookFormat: 'dapr' });
    const marker: Delivery = {
      key: 'c/r/1',
      source: 'audit',
      channel: 'c',
      run: 'r',
      line: 1,
      raw: `{"id":"${ID}","message":"audit is started"}`,
      msg: { id: ID, message: 'audit is started' },
      marker: 'started',
    };
    await s.write([marker, ...deliveries(1)]);
    expect(receiver.received.map((r) => r.headers['content-type'])).toEqual([
      'text/plain',
      'text/plain',
    ]);
    expect(receiver.received[0]!.body).toBe(marker.raw);
    receiver.received.length = 0;
    const tokenFile = join(tmp.dir, 'hec');
    await writeFile(tokenFile, 'hec-token');
    const { s: hec } = sink({ webhookFormat: 'splunk-hec', webhookTokenFile: tokenFile });
    await hec.write(deliveries(2));
    expect(receiver.received[0]!.headers.authorization).toBe('Splunk hec-token');
    const events = receiver.received[0]!.body.split('}{"time"');
    expect(events).toHaveLength(2);
  });

  // Bug: gk_export_sink_request_duration_seconds{sink="webhook"} was observed twice, once per
  // HTTP request by the sink and once per batch by the pipeline: two meanings in one series.
  it('observes the request histogram once per HTTP request; the pipeline times batches apart', async () => {
    receiver = await startReceiver();
    const telemetry = capturingTelemetry();
    const s = createWebhookSink(
      resolveWebhookConfig({ webhookUrl: receiver.url + '/ingest', webhookFlushInterval: 10 }),
      { telemetry, deadLetter: createDeadLetter(join(tmp.dir, 'state')) },
    );
    const root = join(tmp.dir, 'topics');
    await writeCompletedRun(root, 'audit-channel', ID, 3);
    const ac = new AbortController();
    const done = runReader(
      resolveReaderConfig({ root, stateDir: join(tmp.dir, 'state') }),
      { sink: s, telemetry },
      ac.signal,
    );
    try {
      await waitFor(() => bodies().length === 3, 'the run at the receiver');
    } finally {
      ac.abort();
      await done;
    }
    expect(receiver.received).toHaveLength(1);
    const count = async (name: string) => {
      const m = await telemetry.metrics.find(name)!.get();
      const c = m.values.find(
        (v) =>
          (v as { metricName?: string }).metricName === `${name}_count` &&
          v.labels.sink === 'webhook',
      );
      return c?.value ?? 0;
    };
    expect(await count('gk_export_sink_request_duration_seconds')).toBe(1);
    expect(await count('gk_export_batch_delivery_seconds')).toBeGreaterThanOrEqual(1);
  });
});
