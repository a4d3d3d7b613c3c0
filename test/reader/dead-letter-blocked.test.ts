// Regression: a failed dead-letter write (STATE/dead-letter.jsonl a directory, a full volume, a
// file owned by someone else) silently dropped the rest of the batch holding the bad line: of a
// 10,000-line run only 5,906 lines were delivered and the checkpoint marked the run done. And a
// 4xx batch that could not be dead-lettered stopped the reader.
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createDeadLetter } from '../../src/dead-letter.ts';
import { checkpointKey, openCheckpointStore } from '../../src/pipeline/checkpoint.ts';
import { readinessCheck } from '../../src/server/health.ts';
import { resolveWebhookConfig } from '../../src/sinks/webhook/options.ts';
import { createWebhookSink } from '../../src/sinks/webhook/webhook-sink.ts';
import { capturingTelemetry, collectingSink, metricValue, startReader } from '../helpers/reader.ts';
import { startReceiver } from '../helpers/receiver.ts';
import { auditIdOf, deliveries, runLines } from '../helpers/runs.ts';
import { makeTmpDir, waitFor } from '../helpers/tmp.ts';

const VIOLATIONS = 10_000;
/** The bad line's index among the violations: in the second batch of 4,096 lines. */
const BAD = 5_000;

describe('a dead-letter file that cannot be written', () => {
  let tmp: Awaited<ReturnType<typeof makeTmpDir>>;
  let root: string;
  let state: string;
  beforeEach(async () => {
    tmp = await makeTmpDir();
    root = join(tmp.dir, 'topics');
    state = join(tmp.dir, 'state');
  });
  afterEach(() => tmp.cleanup());

  it('stops the run at the bad line (nothing past it acknowledged), then delivers the rest exactly once', async () => {
    const id = auditIdOf(1);
    const run = id.replaceAll(':', '_');
    const lines = runLines(id, VIOLATIONS);
    // Line 1 is the start marker: violation i is on line i + 2.
    const badLine = BAD + 2;
    lines[badLine - 1] = '{"id":"broken\n';
    await mkdir(join(root, 'c'), { recursive: true });
    await writeFile(join(root, 'c', `${run}.log`), lines.join(''));
    await mkdir(join(state, 'dead-letter.jsonl'), { recursive: true });

    const { sink, violations } = collectingSink();
    const reader = startReader(root, state, { sink, batchMaxRecords: 4096 });
    const { telemetry } = reader;
    try {
      // Every line before the bad one is delivered (the part of its batch before it too).
      await waitFor(() => violations().length === BAD, `the ${BAD} violations before the bad line`);
      // Several attempts later, still nothing past it.
      await waitFor(
        async () =>
          (await metricValue(telemetry, 'gk_export_dead_letter_write_failures_total')) >= 4,
        'retries of the dead-letter write',
      );
      expect(violations()).toHaveLength(BAD);
      const store = await openCheckpointStore(state);
      const ino = [...store.entries()][0]?.ino ?? '';
      const saved = store.get(checkpointKey({ source: 'audit', channel: 'c', run, ino }));
      expect(saved).toMatchObject({ line: badLine - 1, done: false });
      const errors = telemetry.logs.filter((l) => l.level === 'error');
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatchObject({ file: `c/${run}.log`, line: badLine });
      expect(await metricValue(telemetry, 'gk_export_dead_letter_blocked')).toBe(1);
      const ready = await readinessCheck({ root, stateDir: state, metrics: telemetry.metrics })();
      expect(ready.ready).toBe(false);
      expect(ready.reasons.join()).toContain('dead-letter');

      await rm(join(state, 'dead-letter.jsonl'), { recursive: true });
      await waitFor(() => violations().length >= VIOLATIONS - 1, 'the rest of the run', 30_000);
      await waitFor(
        () => telemetry.logs.some((l) => l.msg === 'run delivered'),
        'the run to be delivered',
      );
      const keys = violations().map((d) => d.key);
      expect(keys).toHaveLength(VIOLATIONS - 1);
      expect(new Set(keys).size).toBe(VIOLATIONS - 1);
      expect(keys).not.toContain(`c/${run}/${badLine}`);
      const dead = (await readFile(join(state, 'dead-letter.jsonl'), 'utf8')).trim().split('\n');
      expect(dead).toHaveLength(1);
      expect(JSON.parse(dead[0]!)).toMatchObject({ line: badLine, raw: '{"id":"broken' });
      expect(telemetry.logs.filter((l) => l.level === 'error')).toHaveLength(1);
      expect(await metricValue(telemetry, 'gk_export_dead_letter_blocked')).toBe(0);
      expect(
        (await readinessCheck({ root, stateDir: state, metrics: telemetry.metrics })()).ready,
      ).toBe(true);
    } finally {
      await reader.stop();
    }
  });

  it('keeps the checkpoint before the bad line when stopped while waiting', async () => {
    const id = auditIdOf(2);
    const run = id.replaceAll(':', '_');
    const lines = runLines(id, 20);
    lines[10] = 'not json\n';
    await mkdir(join(root, 'c'), { recursive: true });
    await writeFile(join(root, 'c', `${run}.log`), lines.join(''));
    await mkdir(join(state, 'dead-letter.jsonl'), { recursive: true });
    const { sink, violations } = collectingSink();
    const reader = startReader(root, state, { sink });
    await waitFor(() => violations().length === 9, 'the 9 violations before the bad line');
    await waitFor(
      async () =>
        (await metricValue(reader.telemetry, 'gk_export_dead_letter_write_failures_total')) >= 2,
      'a retry',
    );
    await reader.stop();
    const store = await openCheckpointStore(state);
    expect([...store.entries()]).toEqual([expect.objectContaining({ line: 10, done: false })]);
    expect(violations()).toHaveLength(9);
  });

  it('does not acknowledge a refused webhook request until it is set aside', async () => {
    const receiver = await startReceiver({ fallback: { status: 400, body: 'bad request' } });
    const telemetry = capturingTelemetry();
    await mkdir(join(state, 'dead-letter.jsonl'), { recursive: true });
    const sink = createWebhookSink(
      resolveWebhookConfig({ webhookUrl: receiver.url, webhookMaxBackoff: 20 }),
      { telemetry, deadLetter: createDeadLetter(state, { telemetry }) },
    );
    try {
      let acked = false;
      const written = sink.write(deliveries(3)).then(() => (acked = true));
      await waitFor(
        async () =>
          (await metricValue(telemetry, 'gk_export_dead_letter_write_failures_total')) >= 3,
        'retries of the dead-letter write',
      );
      expect(acked).toBe(false);
      expect(await metricValue(telemetry, 'gk_export_records_dead_lettered_total')).toBe(0);
      await rm(join(state, 'dead-letter.jsonl'), { recursive: true });
      await written;
      const dead = JSON.parse(await readFile(join(state, 'dead-letter.jsonl'), 'utf8')) as {
        keys: string[];
        status: number;
      };
      expect(dead).toMatchObject({ status: 400, keys: ['c/r/2', 'c/r/3', 'c/r/4'] });
      expect(await metricValue(telemetry, 'gk_export_records_dead_lettered_total')).toBe(3);

      // Interrupted (shutdown) while waiting: rejected, so not acknowledged.
      await rm(join(state, 'dead-letter.jsonl'));
      await mkdir(join(state, 'dead-letter.jsonl'));
      const again = sink.write(deliveries(2, 10));
      await waitFor(
        async () => (await metricValue(telemetry, 'gk_export_dead_letter_blocked')) === 1,
        'the second request to wait for the dead letter',
      );
      sink.interrupt();
      await expect(again).rejects.toMatchObject({ code: 'ERR_SINK_INTERRUPTED' });
    } finally {
      await sink.close();
      await receiver.close();
    }
  });
});
