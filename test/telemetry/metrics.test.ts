import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createMetrics } from '../../src/telemetry/index.ts';
import { createPromRegistry } from '../../src/telemetry/prometheus.ts';

type Events = (
  metric: (name: string) => {
    inc?(labels?: object, v?: number): void;
    set?(labels: object | number, v?: number): void;
    observe?(labels: object, v: number): void;
  },
) => void;

const events: Events = (m) => {
  m('gk_export_records_read_total').inc!({ source: 'audit' }, 3);
  m('gk_export_records_read_total').inc!({ source: 'admission' });
  m('gk_export_records_delivered_total').inc!({ sink: 'stdout' }, 5);
  m('gk_export_records_invalid_total').inc!({ error_code: 'a "quoted"\\ label\n' });
  m('gk_export_checkpoint_writes_total').inc!();
  m('gk_export_oldest_undelivered_age_seconds').set!(2.5);
  m('gk_export_sink_failing_permanently').set!({ sink: 'webhook' }, 1);
  m('gk_export_sink_request_duration_seconds').observe!({ sink: 'stdout' }, 0.003);
  m('gk_export_sink_request_duration_seconds').observe!({ sink: 'stdout' }, 7);
  m('gk_export_sink_request_duration_seconds').observe!({ sink: 'webhook' }, 100);
};

describe('metrics without a metrics library', () => {
  it('are served as prom-client serves the same metrics after the same events', async () => {
    const ours = createMetrics();
    // The same definitions, as prom-client metrics.
    const theirs = new Registry();
    for (const m of ours.all) {
      const cfg = { name: m.name, help: m.help, labelNames: m.labelNames, registers: [theirs] };
      if (m.type === 'histogram') new Histogram({ ...cfg, buckets: [...m.buckets] });
      else if (m.type === 'gauge') new Gauge(cfg);
      else new Counter(cfg);
    }
    events((n) => ours.find(n) as never);
    events((n) => theirs.getSingleMetric(n) as never);
    const served = await (await createPromRegistry(ours)).metrics();
    expect(served).toBe(await theirs.metrics());
    expect(served).toContain('gk_export_records_read_total{source="audit"} 3');
    expect(served).toContain('gk_export_checkpoint_failures_total 0');
  });
});
