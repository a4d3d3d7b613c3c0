import type { Metric as PromMetric } from 'prom-client';
import type { AnyMetric } from './metric-types.ts';
import type { Metrics } from './metrics.ts';

/** What the HTTP server serves on /metrics. */
export interface PromEndpoint {
  readonly contentType: string;
  /** The Prometheus text of every metric of the set (those added since start included). */
  metrics(): Promise<string>;
}

/**
 * A prom-client registry that serves a metric set (plus Node's process metrics, prefixed
 * `gk_export_`, when the set asks for them). prom-client is imported here, on demand: a reader
 * that serves no metrics never loads it.
 *
 * @example
 * ```ts
 * const registry = await createPromRegistry(telemetry.metrics);
 * const text = await registry.metrics();
 * ```
 */
export async function createPromRegistry(metrics: Metrics): Promise<PromEndpoint> {
  const { Registry, collectDefaultMetrics } = await import('prom-client');
  const registry = new Registry();
  if (metrics.defaults) collectDefaultMetrics({ register: registry, prefix: 'gk_export_' });
  const registered = new Set<AnyMetric>();
  // A metric a sink registers after the server started (`metrics.register`) is picked up at
  // the next scrape.
  const sync = () => {
    for (const m of metrics.all) {
      if (registered.has(m)) continue;
      registered.add(m);
      // A registry reads a metric through its `name` and `get()` only, which ours provide in
      // prom-client's shape; the cast is for prom-client's declared (class) types.
      registry.registerMetric(m as unknown as PromMetric);
    }
  };
  return {
    contentType: registry.contentType,
    metrics: () => {
      sync();
      return registry.metrics();
    },
  };
}
