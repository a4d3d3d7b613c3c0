// Regression: with --drop-field resourceLabels, one line with "details":{"n":1e999} failed the
// whole reader ("cannot encode Infinity", exit 1 on every restart, on every channel); a record
// a transform cannot handle failed its batch instead of going to the dead letter. And 1e999
// silently became null in the cloudevents, splunk-hec and gatekeeper-log outputs.
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createDeadLetter } from '../../src/dead-letter.ts';
import { encodeExportMsg } from '../../src/protocol/encode.ts';
import { checkpointKey, openCheckpointStore } from '../../src/pipeline/checkpoint.ts';
import { createRecordFilter } from '../../src/reader/filters.ts';
import { createPipeline } from '../../src/pipeline/pipeline.ts';
import { gatekeeperLogFormat } from '../../src/sinks/gatekeeper-log-format.ts';
import type { Delivery } from '../../src/sinks/sink.ts';
import { formatSpec } from '../../src/sinks/webhook/formats.ts';
import { capturingTelemetry, collectingSink, metricValue, startReader } from '../helpers/reader.ts';
import { auditIdOf, deliveries, runLines, violation } from '../helpers/runs.ts';
import { makeTmpDir, waitFor } from '../helpers/tmp.ts';

/** A violation line whose details hold numbers a float64 cannot: out of range, too long. */
function hugeNumbersLine(id: string): string {
  const base = encodeExportMsg(violation(id, 7, { details: { n: 1 } }));
  return base.replace('"details":{"n":1}', '"details":{"big":12345678901234567890,"n":1e999}');
}

describe('records a transform cannot handle', () => {
  let tmp: Awaited<ReturnType<typeof makeTmpDir>>;
  let root: string;
  let state: string;
  beforeEach(async () => {
    tmp = await makeTmpDir();
    root = join(tmp.dir, 'topics');
    state = join(tmp.dir, 'state');
  });
  afterEach(() => tmp.cleanup());

  async function runWithHugeNumbers(): Promise<string> {
    const id = auditIdOf(1);
    const lines = runLines(id, 4);
    lines[2] = hugeNumbersLine(id) + '\n';
    await mkdir(join(root, 'c'), { recursive: true });
    await writeFile(join(root, 'c', `${id.replaceAll(':', '_')}.log`), lines.join(''));
    return id;
  }

  it('redacts a record with 1e999 keeping the number text, and goes on', async () => {
    await runWithHugeNumbers();
    const c = collectingSink();
    const reader = startReader(root, state, {
      sink: c.sink,
      filters: {
        eventTypes: [],
        enforcementActions: [],
        constraintKinds: [],
        namespaces: [],
        dropFields: ['resourceLabels'],
      },
    });
    try {
      await waitFor(() => c.violations().length === 4, 'all four violations');
      const raw = c.violations()[1]!.raw;
      expect(raw).toContain('"details":{"big":12345678901234567890,"n":1e999}');
      expect(raw).not.toContain('resourceLabels');
    } finally {
      await reader.stop();
    }
  });

  it('keeps numbers a float64 cannot hold as their text in cloudevents, splunk-hec, otlp and gatekeeper-log', async () => {
    await runWithHugeNumbers();
    const c = collectingSink();
    const reader = startReader(root, state, { sink: c.sink });
    await waitFor(() => c.violations().length === 4, 'all four violations');
    await reader.stop();
    const huge = [c.violations()[1]!];
    const ctx = { clusterName: 'k', host: 'h' };
    for (const format of ['cloudevents', 'cloudevents-batch', 'splunk-hec'] as const) {
      const body = formatSpec(format, ctx).encode(huge).body;
      expect(body, format).toContain('{"big":12345678901234567890,"n":1e999}');
    }
    const otlp = formatSpec('otlp', ctx).encode(huge).body;
    expect(otlp).toContain('{"key":"n","value":{"stringValue":"1e999"}}');
    expect(otlp).toContain('{"key":"big","value":{"stringValue":"12345678901234567890"}}');
    const gk = String(gatekeeperLogFormat()(huge));
    expect(gk).toContain('"details":{"big":12345678901234567890,"n":1e999}');
    expect(gk).not.toContain('null');
  });

  it('sets aside a record whose transform fails and delivers the rest of its batch', async () => {
    const telemetry = capturingTelemetry();
    const store = await openCheckpointStore(state);
    const deadLetter = createDeadLetter(state, { telemetry });
    const c = collectingSink();
    const filter = createRecordFilter(
      {
        eventTypes: [],
        enforcementActions: [],
        constraintKinds: [],
        namespaces: [],
        dropFields: ['resourceLabels'],
      },
      telemetry.metrics,
    );
    const deliver = createPipeline({ sink: c.sink, store, filter, telemetry, deadLetter });
    const batch: Delivery[] = deliveries(3);
    // A record that cannot even be read (its lazily parsed body is broken).
    const broken = batch[1]!;
    batch[1] = {
      ...broken,
      raw: '{"id":',
      get msg(): never {
        throw new Error('Unexpected end of JSON input');
      },
    };
    const RUN = { source: 'audit', channel: 'c', run: 'r', ino: '1' } as const;
    await deliver(batch, { ...RUN, offset: 300, line: 4, done: false });
    expect(c.got.map((d) => d.key)).toEqual(['c/r/2', 'c/r/4']);
    expect(store.get(checkpointKey(RUN))?.line).toBe(4);
    const dead = JSON.parse(await readFile(join(state, 'dead-letter.jsonl'), 'utf8')) as Record<
      string,
      unknown
    >;
    expect(dead).toMatchObject({ file: 'c/r', line: 3, code: 'transform_failed', raw: '{"id":' });
    expect(
      await metricValue(telemetry, 'gk_export_records_dead_lettered_total', { stage: 'transform' }),
    ).toBe(1);

    // While the dead letter cannot be written, the batch waits (nothing written, nothing
    // acknowledged) until the reader stops.
    await rm(join(state, 'dead-letter.jsonl'));
    await mkdir(join(state, 'dead-letter.jsonl'));
    const ac = new AbortController();
    const blocked = createPipeline({
      sink: c.sink,
      store,
      filter,
      telemetry,
      deadLetter,
      signal: ac.signal,
    });
    const later = blocked(batch, { ...RUN, offset: 600, line: 7, done: false });
    later.catch(() => undefined);
    await waitFor(
      async () => (await metricValue(telemetry, 'gk_export_dead_letter_write_failures_total')) >= 3,
      'retries of the dead-letter write',
    );
    expect(c.got).toHaveLength(2);
    ac.abort();
    await expect(later).rejects.toMatchObject({ code: 'ERR_DEAD_LETTER_INTERRUPTED' });
    expect(c.got).toHaveLength(2);
    expect(store.get(checkpointKey(RUN))?.line).toBe(4);
  });
});
