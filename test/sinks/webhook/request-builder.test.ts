import { writeFile } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { formatSpec, idempotencyKey } from '../../../src/sinks/webhook/formats.ts';
import { resolveWebhookConfig } from '../../../src/sinks/webhook/options.ts';
import { createRequestBuilder } from '../../../src/sinks/webhook/request-builder.ts';
import { deliveries } from '../../helpers/runs.ts';
import { useWorkspace } from '../../helpers/workspace.ts';

function builderFor(o: Record<string, unknown>) {
  const config = resolveWebhookConfig(o);
  return createRequestBuilder(config, formatSpec(config.format, config));
}

describe('webhook request builder', () => {
  const ws = useWorkspace();

  it('builds the body, content type, Idempotency-Key and configured headers of a request', () => {
    const build = builderFor({
      webhookUrl: 'http://receiver.test/in',
      webhookHeader: { 'x-tenant': 'a' },
    });
    const records = deliveries(2);
    const req = build(records);
    expect(req.url.href).toBe('http://receiver.test/in');
    expect(Buffer.concat(req.body).toString()).toBe(records.map((d) => d.raw + '\n').join(''));
    expect(req.headers).toMatchObject({
      'content-type': 'application/x-ndjson',
      'idempotency-key': idempotencyKey(records),
      'user-agent': 'gk-export',
      'x-tenant': 'a',
    });
    expect(build(records).headers['idempotency-key']).toBe(req.headers['idempotency-key']);
  });

  it('gzips with --webhook-gzip and appends the format path (OTLP /v1/logs)', () => {
    const req = builderFor({
      webhookUrl: 'http://receiver.test/base/',
      webhookFormat: 'otlp',
      webhookGzip: true,
    })(deliveries(1));
    expect(req.url.href).toBe('http://receiver.test/base/v1/logs');
    expect(req.headers['content-encoding']).toBe('gzip');
    expect(JSON.parse(gunzipSync(Buffer.concat(req.body)).toString())).toHaveProperty(
      'resourceLogs',
    );
  });

  it('reads the token file at each build, so a rotated secret is used at once', async () => {
    const tokenFile = ws.path('token');
    await writeFile(tokenFile, 'one\n');
    const build = builderFor({ webhookUrl: 'http://receiver.test', webhookTokenFile: tokenFile });
    expect(build(deliveries(1)).headers.authorization).toBe('Bearer one');
    await writeFile(tokenFile, 'two-longer\n');
    expect(build(deliveries(1)).headers.authorization).toBe('Bearer two-longer');
  });
});
