import type { Metric as PromMetric, Registry } from 'prom-client';
import type { Metrics } from './metrics.ts';

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
export async function createPromRegistry(metrics: Metrics): Promise<Registry> {
  const { Registry, collectDefaultMetrics } = await import('prom-client');
  const registry = new Registry();
  if (metrics.defaults) collectDefaultMetrics({ register: registry, prefix: 'gk_export_' });
  // A registry reads a metric through its `name` and `get()` only, which ours provide in
  // prom-client's shape; the cast is for prom-client's declared (class) types.
  for (const m of metrics.all) registry.registerMetric(m as unknown as PromMetric);
  return registry;
}
