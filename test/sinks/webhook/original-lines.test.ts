// Pins the ndjson contract now that bodies are built from the bytes read, not from decoded
// text: a request's body is the run's original lines, byte for byte, each followed by `\n`.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createDeadLetter } from '../../../src/dead-letter.ts';
import { encodeExportMsg } from '../../../src/protocol/encode.ts';
import type { ReaderConfig } from '../../../src/reader/options.ts';
import { resolveWebhookConfig } from '../../../src/sinks/webhook/options.ts';
import { createWebhookSink } from '../../../src/sinks/webhook/webhook-sink.ts';
import { capturingTelemetry } from '../../helpers/reader.ts';
import { violation } from '../../helpers/runs.ts';
import { waitFor } from '../../helpers/tmp.ts';
import { useWorkspace } from '../../helpers/workspace.ts';

const ID = '2026-01-01T00:00:00Z';
const started = encodeExportMsg({ id: ID, message: 'audit is started' });
const completed = encodeExportMsg({ id: ID, message: 'audit is completed' });
/** Valid lines that a decode and re-encode would change (spacing, escapes, key order, 1.50). */
const unusual = [
  `{"id":"${ID}" , "eventType" : "violation_audited","message":"caf\\u00e9 \\/ <b> & \u00e9 \u2713","kind":"K","name":"n"}`,
  `{ "resourceName":"pod-\\u0041","id":"${ID}","eventType":"violation_audited","details":{"z":1,"a":1.50,"big":12345678901234567890} }`,
  encodeExportMsg(violation(ID, 7)),
];

describe('webhook bodies carry the original lines', () => {
  const ws = useWorkspace();

  let runs = 0;
  /** Delivers a run file of `text` to a fresh receiver (own root and state dir each call). */
  async function deliver(
    text: string,
    over: Record<string, unknown>,
    reader: Partial<ReaderConfig> = {},
  ) {
    runs += 1;
    const root = ws.path(`topics-${runs}`);
    await mkdir(join(root, 'c'), { recursive: true });
    await writeFile(join(root, 'c', `${ID.replaceAll(':', '_')}.log`), text);
    const receiver = await ws.receiver();
    const telemetry = capturingTelemetry();
    const sink = createWebhookSink(
      resolveWebhookConfig({ webhookUrl: receiver.url, webhookTimeout: 2000, ...over }),
      { telemetry, deadLetter: createDeadLetter(ws.state, { telemetry }) },
    );
    const r = ws.reader({ sink, root, stateDir: ws.path(`state-${runs}`), ...reader });
    await waitFor(
      () => r.telemetry.logs.some((l) => l.msg === 'run delivered'),
      'the run delivered',
    );
    return receiver.received;
  }

  it('sends each line of a run exactly as it is in the file, in ndjson', async () => {
    const lines = [started, ...unusual, completed];
    const received = await deliver(lines.join('\n') + '\n', {});
    expect(received.map((r) => r.body).join('')).toBe(unusual.map((l) => l + '\n').join(''));
    // The same across requests that split the run (batches of two lines, the start marker
    // read with the first but not sent).
    const split = await deliver(lines.join('\n') + '\n', { webhookBatchMaxRecords: 2 });
    expect(split.map((r) => r.body)).toEqual([
      unusual[0] + '\n',
      unusual[1] + '\n' + unusual[2] + '\n',
    ]);
  });

  it('ends a CRLF line with \\n alone, as before', async () => {
    const text = `${started}\n${unusual[0]}\r\n${unusual[1]}\n${completed}\n`;
    const received = await deliver(text, {});
    expect(received.map((r) => r.body).join('')).toBe(`${unusual[0]}\n${unusual[1]}\n`);
  });

  it('sends the original lines in json and dapr bodies too', async () => {
    const text = [started, ...unusual, completed].join('\n') + '\n';
    const json = await deliver(text, { webhookFormat: 'json' });
    expect(json.map((r) => r.body)).toEqual([`[${unusual.join(',')}]`]);
    const dapr = await deliver(text, { webhookFormat: 'dapr' });
    expect(dapr.map((r) => r.body)).toEqual([started, ...unusual, completed]);
  });

  it('sends a redacted record as re-encoded, never its original line (--drop-field)', async () => {
    const text = [started, ...unusual, completed].join('\n') + '\n';
    const filters = {
      eventTypes: [],
      enforcementActions: [],
      constraintKinds: [],
      namespaces: [],
      dropFields: ['details' as const],
    };
    const received = await deliver(text, {}, { filters });
    const body = received.map((r) => r.body).join('');
    const [first, second, third] = body.split('\n');
    expect(first).toBe(unusual[0]); // nothing to drop: the original line
    expect(second).toBe(
      encodeExportMsg({ id: ID, eventType: 'violation_audited', resourceName: 'pod-A' }),
    );
    expect(third).toBe(encodeExportMsg({ ...violation(ID, 7), details: undefined }));
  });
});
