import { readdir, readFile } from 'node:fs/promises';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createMetrics } from '../../src/telemetry/index.ts';
import { metricsEndpoint } from '../../src/telemetry/prometheus.ts';

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
    const served = await metricsEndpoint(ours).metrics();
    expect(served).toBe(await theirs.metrics());
    expect(served).toContain('gk_export_records_read_total{source="audit"} 3');
    expect(served).toContain('gk_export_checkpoint_failures_total 0');
  });
});

describe("Node's process metrics", () => {
  it('are served under prom-client’s names and types, with this process’s values', async () => {
    const served = await metricsEndpoint(createMetrics({ defaults: true })).metrics();
    const types = new Map(
      [...served.matchAll(/^# TYPE (gk_export_(?:process|nodejs)_\S+) (\S+)$/gm)].map((m) => [
        m[1]!,
        m[2]!,
      ]),
    );
    const theirs = new Registry();
    collectDefaultMetrics({ register: theirs, prefix: 'gk_export_' });
    const known = new Map((await theirs.getMetricsAsJSON()).map((m) => [m.name, String(m.type)]));
    expect(types.size).toBeGreaterThanOrEqual(14);
    for (const [name, type] of types) expect([name, known.get(name)]).toEqual([name, type]);

    const value = (name: string) => {
      const m = new RegExp(`^gk_export_${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(served);
      return m ? Number(m[1]) : NaN;
    };
    const status = await readFile('/proc/self/status', 'utf8');
    const rss = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)![1]) * 1024;
    expect(value('process_resident_memory_bytes')).toBeGreaterThan(rss / 2);
    expect(value('process_resident_memory_bytes')).toBeLessThan(rss * 2);
    const fds = (await readdir('/proc/self/fd')).length;
    expect(Math.abs(value('process_open_fds') - (fds - 1))).toBeLessThanOrEqual(8);
    expect(value('process_max_fds')).toBeGreaterThan(0);
    expect(value('process_cpu_seconds_total')).toBeCloseTo(
      value('process_cpu_user_seconds_total') + value('process_cpu_system_seconds_total'),
      2,
    );
    expect(Math.abs(value('process_start_time_seconds') - Date.now() / 1000)).toBeLessThan(
      process.uptime() + 5,
    );
    expect(served).toContain(`gk_export_nodejs_version_info{version="${process.version}",`);
  });

  it('are read from /proc without a 64 KiB buffer per file', async () => {
    // A scrape read four /proc files with fs.promises.readFile, 64 KiB each (their size is
    // unknown): 256 KiB per scrape, which stayed in the C heap of the idle reader.
    const endpoint = metricsEndpoint(createMetrics({ defaults: true }));
    await endpoint.metrics();
    const before = process.memoryUsage().arrayBuffers;
    const served = await endpoint.metrics();
    expect(served).toContain('gk_export_process_virtual_memory_bytes');
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(64 * 1024);
  });

  it('are not served when the set does not ask for them', async () => {
    const served = await metricsEndpoint(createMetrics()).metrics();
    expect(served).not.toMatch(/gk_export_(process|nodejs)_/);
  });
});
