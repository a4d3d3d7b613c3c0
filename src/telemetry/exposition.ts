import type { MetricSnapshot } from './metric-types.ts';

/** The content type of the Prometheus text exposition format (version 0.0.4). */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** Anything with a `get()` of a metric's samples (the metric types here). */
export interface Exposable {
  get(): Promise<MetricSnapshot>;
}

/** HELP text and names: `\` and newline escaped. */
const escapeText = (s: string) => s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');

/** A label value: `\`, newline and `"` escaped. */
const escapeLabel = (v: string | number) =>
  typeof v === 'string' ? escapeText(v).replace(/"/g, '\\"') : String(v);

/** A sample value: integers and floats as JavaScript prints them, `+Inf`, `-Inf`, `NaN`. */
function valueText(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (!Number.isFinite(v)) return v < 0 ? '-Inf' : '+Inf';
  return String(v);
}

function metricText(m: MetricSnapshot): string {
  const name = escapeText(m.name);
  const lines = [`# HELP ${name} ${escapeText(m.help)}`, `# TYPE ${name} ${m.type}`];
  for (const { metricName = name, labels, value } of m.values) {
    let text = '';
    for (const [k, v] of Object.entries(labels))
      text += `${text ? ',' : ''}${k}="${escapeLabel(v)}"`;
    lines.push(`${metricName}${text ? `{${text}}` : ''} ${valueText(value)}`);
  }
  return lines.join('\n');
}

/**
 * The metrics in the Prometheus text format, in the given order: each metric's HELP and TYPE
 * lines, then one line per sample; metrics separated by a blank line (the layout prom-client's
 * registry writes, without loading it).
 *
 * @example
 * ```ts
 * const c = new Counter({ name: 'x_total', help: 'x', labelNames: ['sink'] as const });
 * c.inc({ sink: 'stdout' }, 3);
 * await prometheusText([c]); // '# HELP x_total x\n# TYPE x_total counter\nx_total{sink="stdout"} 3\n'
 * ```
 */
export async function prometheusText(metrics: readonly Exposable[]): Promise<string> {
  const snapshots = await Promise.all(metrics.map((m) => m.get()));
  return `${snapshots.map(metricText).join('\n\n')}\n`;
}
