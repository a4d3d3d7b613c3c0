import { prometheusText, PROMETHEUS_CONTENT_TYPE, type Exposable } from './exposition.ts';
import type { Metrics } from './metrics.ts';
import { processMetrics } from './process-metrics.ts';

/** What the HTTP server serves on /metrics. */
export interface PromEndpoint {
  readonly contentType: string;
  /** The Prometheus text of every metric of the set (those added since start included). */
  metrics(): Promise<string>;
}

/**
 * Serves a metric set in the Prometheus text format, followed by Node's process metrics
 * (prefixed `gk_export_`) when the set asks for them. No metrics library is loaded.
 *
 * @example
 * ```ts
 * const registry = metricsEndpoint(telemetry.metrics);
 * const text = await registry.metrics();
 * ```
 */
export function metricsEndpoint(metrics: Metrics): PromEndpoint {
  const own: readonly Exposable[] = metrics.defaults ? processMetrics('gk_export_') : [];
  return {
    contentType: PROMETHEUS_CONTENT_TYPE,
    // A metric a sink registers after the server started (`metrics.register`) is in `all`
    // from then on, so it is in the next scrape.
    metrics: () => prometheusText([...metrics.all, ...own]),
  };
}
