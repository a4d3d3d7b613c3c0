import { describe, expect, it } from 'vitest';
import { encodeExportMsg } from '../../src/protocol/encode.ts';
import {
  createRecordFilter,
  DROPPABLE_FIELDS,
  type FilterConfig,
} from '../../src/reader/filters.ts';
import type { Delivery } from '../../src/sinks/sink.ts';
import { createMetrics } from '../../src/telemetry/index.ts';
import { deliveries, violation } from '../helpers/runs.ts';

const NONE: FilterConfig = {
  eventTypes: [],
  enforcementActions: [],
  constraintKinds: [],
  namespaces: [],
  dropFields: [],
};

function filterOf(over: Partial<FilterConfig>) {
  const metrics = createMetrics();
  const filter = createRecordFilter({ ...NONE, ...over }, metrics);
  const dropped = async (label: string) =>
    (await metrics.filtered.get()).values.find((v) => v.labels.filter === label)?.value ?? 0;
  return { filter, dropped };
}

const marker = (kind: 'started' | 'completed'): Delivery => {
  const msg = { id: '2026-01-01T00:00:00Z', message: `audit is ${kind}` };
  return {
    key: `c/r/${kind}`,
    source: 'audit',
    channel: 'c',
    run: 'r',
    line: 1,
    raw: encodeExportMsg(msg),
    msg,
    marker: kind,
  };
};

describe('record filters and redaction', () => {
  it('with nothing configured, passes the batch through untouched', () => {
    const batch = deliveries(5);
    expect(filterOf({}).filter(batch)).toBe(batch);
  });

  it('keeps only what every selector accepts, and counts each drop by the selector that made it', async () => {
    // deliveries(20): kinds cycle over 3 constraints, `warn` every 5th, namespace ns-(i % 4).
    const { filter, dropped } = filterOf({
      enforcementActions: ['deny'],
      constraintKinds: ['K8sRequiredLabels', 'K8sAllowedRepos'],
      namespaces: ['ns-0', 'ns-1'],
    });
    const batch = deliveries(20);
    const kept = filter(batch);
    const expected = batch.filter(
      (d) =>
        d.msg.enforcementAction === 'deny' &&
        ['K8sRequiredLabels', 'K8sAllowedRepos'].includes(d.msg.kind!) &&
        ['ns-0', 'ns-1'].includes(d.msg.resourceNamespace!),
    );
    expect(kept.map((d) => d.key)).toEqual(expected.map((d) => d.key));
    expect(kept.length).toBeGreaterThan(0);
    const counted =
      (await dropped('enforcement_action')) +
      (await dropped('constraint_kind')) +
      (await dropped('namespace'));
    expect(counted).toBe(batch.length - kept.length);
    // Selectors apply in a fixed order: a `warn` record is counted by enforcement_action.
    expect(await dropped('enforcement_action')).toBe(4);
  });

  it('selects by event type, and by namespace of the violating resource (not the constraint)', async () => {
    const admission: Delivery = {
      ...deliveries(1)[0]!,
      key: 'c/r/99',
      msg: { ...violation('x', 1), eventType: 'violation_admission', namespace: 'ns-0' },
    };
    const { filter, dropped } = filterOf({ eventTypes: ['violation_admission'] });
    expect(filter([...deliveries(3), admission]).map((d) => d.key)).toEqual(['c/r/99']);
    expect(await dropped('event_type')).toBe(3);
    // `namespace` is the constraint's; --namespace matches resourceNamespace (ns-1 here).
    expect(filterOf({ namespaces: ['ns-0'] }).filter([admission])).toEqual([]);
    expect(filterOf({ namespaces: ['ns-1'] }).filter([admission])).toHaveLength(1);
  });

  it('lets run markers through every selector: they frame runs for the sinks', () => {
    const batch = [marker('started'), ...deliveries(3), marker('completed')];
    const kept = filterOf({ eventTypes: ['nothing-matches'] }).filter(batch);
    expect(kept.map((d) => d.marker)).toEqual(['started', 'completed']);
  });

  it('redacts dropped fields from msg and re-encodes raw canonically, leaving other records as they are', () => {
    const [first, plain] = deliveries(2);
    // As the disk source hands it over: the original bytes, in a read buffer.
    const buf = Buffer.from(first!.raw + '\n');
    const withLabels: Delivery = {
      ...first!,
      bytes: buf.subarray(0, buf.length - 1),
      buf,
      at: 0,
      byteLength: buf.length - 1,
    };
    const bare: Delivery = {
      ...plain!,
      msg: { ...plain!.msg, resourceLabels: undefined },
      raw: encodeExportMsg({ ...plain!.msg, resourceLabels: undefined }),
    };
    const started = marker('started');
    const kept = filterOf({ dropFields: ['resourceLabels', 'details'] }).filter([
      started,
      withLabels,
      bare,
    ]);
    expect(kept[0]).toBe(started);
    const redacted = kept[1]!;
    expect(redacted.msg.resourceLabels).toBeUndefined();
    expect(redacted.msg.details).toBeUndefined();
    expect(redacted.raw).not.toContain('resourceLabels');
    expect(redacted.raw).not.toContain('"details"');
    expect(redacted.raw).toBe(encodeExportMsg(redacted.msg));
    // The original bytes are not offered to sinks any more: they still hold the fields.
    expect(redacted.bytes).toBeUndefined();
    expect(redacted.buf).toBeUndefined();
    expect({ key: redacted.key, line: redacted.line }).toEqual({
      key: withLabels.key,
      line: withLabels.line,
    });
    // Nothing to redact in `bare` but `details`: it is re-encoded too, and keeps its labels out.
    expect(kept[2]!.raw).toBe(encodeExportMsg({ ...bare.msg, details: undefined }));
    expect(withLabels.msg.resourceLabels).toBeDefined(); // the input is not changed
  });

  it('lets every field but the run id be dropped', () => {
    expect(DROPPABLE_FIELDS).not.toContain('id');
    expect(DROPPABLE_FIELDS).toContain('resourceLabels');
  });
});
