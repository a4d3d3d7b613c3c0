// Counters, gauges and histograms kept in plain maps: the reader counts, and serves them
// (src/telemetry/exposition.ts), with no metrics library (prom-client, with the Node modules it
// pulls in, held ~10 MiB more in an idle reader). `get()` returns what a prom-client metric's
// `get()` returns, so the tests can compare the served text with prom-client's.
import { monotonicMs } from './clock.ts';

/** Label values by label name (a label not given is empty, as in prom-client). */
export type Labels<L extends string> = Partial<Record<L, string | number>>;

/** One sample, in prom-client's shape (`metricName` for histogram series). */
export interface MetricValue {
  readonly labels: Record<string, string | number>;
  readonly value: number;
  readonly metricName?: string;
}

/** A metric's samples, in prom-client's shape (what its registry formats). */
export interface MetricSnapshot {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'gauge' | 'histogram';
  readonly values: MetricValue[];
  readonly aggregator: 'sum';
}

interface MetricConfig<L extends string> {
  readonly name: string;
  readonly help: string;
  readonly labelNames?: readonly L[];
}

/** The common part: samples keyed by their label values. */
abstract class Metric<L extends string, S> {
  readonly name: string;
  readonly help: string;
  abstract readonly type: MetricSnapshot['type'];
  readonly labelNames: readonly L[];
  protected readonly series = new Map<
    string,
    { labels: Record<string, string | number>; state: S }
  >();

  constructor(config: MetricConfig<L>) {
    this.name = config.name;
    this.help = config.help;
    this.labelNames = config.labelNames ?? [];
  }

  /** A new series' state. */
  protected abstract init(): S;

  protected at(labels: Labels<L> = {}): S {
    // One key per label set; with one label (most metrics here) it is that label's value.
    let key = '';
    for (const n of this.labelNames) key += `${labels[n] ?? ''}\u0000`;
    let s = this.series.get(key);
    if (!s) {
      const own: Record<string, string | number> = {};
      for (const n of this.labelNames) if (labels[n] !== undefined) own[n] = labels[n];
      s = { labels: own, state: this.init() };
      this.series.set(key, s);
    }
    return s.state;
  }

  protected abstract values(): MetricValue[];

  /** The current samples (asynchronous like prom-client's, which registries await). */
  get(): Promise<MetricSnapshot> {
    // An unlabelled metric shows 0 before its first event (as prom-client's do).
    if (this.labelNames.length === 0) this.at();
    return Promise.resolve({
      name: this.name,
      help: this.help,
      type: this.type,
      values: this.values(),
      aggregator: 'sum',
    });
  }

  reset(): void {
    this.series.clear();
  }
}

/**
 * A monotonic counter.
 *
 * @example
 * ```ts
 * const c = new Counter({ name: 'x_total', help: 'x', labelNames: ['sink'] as const });
 * c.inc({ sink: 'stdout' }, 3);
 * ```
 */
export class Counter<L extends string = never> extends Metric<L, { v: number }> {
  readonly type = 'counter';

  protected init() {
    return { v: 0 };
  }

  inc(labels?: Labels<L> | number, value = 1): void {
    if (typeof labels === 'number') this.at().v += labels;
    else this.at(labels).v += value;
  }

  protected values(): MetricValue[] {
    return [...this.series.values()].map((s) => ({ labels: s.labels, value: s.state.v }));
  }
}

/**
 * A value that goes up and down.
 *
 * @example
 * ```ts
 * const g = new Gauge({ name: 'lag_seconds', help: 'lag' });
 * g.set(4.5);
 * ```
 */
export class Gauge<L extends string = never> extends Metric<L, { v: number }> {
  readonly type = 'gauge';

  protected init() {
    return { v: 0 };
  }

  set(labels: Labels<L> | number, value?: number): void {
    if (typeof labels === 'number') this.at().v = labels;
    else this.at(labels).v = value ?? 0;
  }

  inc(labels?: Labels<L> | number, value = 1): void {
    if (typeof labels === 'number') this.at().v += labels;
    else this.at(labels).v += value;
  }

  dec(labels?: Labels<L> | number, value = 1): void {
    if (typeof labels === 'number') this.inc(-labels);
    else this.inc(labels, -value);
  }

  protected values(): MetricValue[] {
    return [...this.series.values()].map((s) => ({ labels: s.labels, value: s.state.v }));
  }
}

interface HistogramState {
  counts: number[];
  sum: number;
  count: number;
}

/**
 * A histogram with fixed buckets (cumulative `_bucket`, `_sum` and `_count` series).
 *
 * @example
 * ```ts
 * const h = new Histogram({ name: 'write_seconds', help: 'w', buckets: [0.01, 0.1] });
 * const stop = h.startTimer(); … stop();
 * ```
 */
export class Histogram<L extends string = never> extends Metric<L, HistogramState> {
  readonly type = 'histogram';
  readonly buckets: readonly number[];

  constructor(config: MetricConfig<L> & { readonly buckets: readonly number[] }) {
    super(config);
    this.buckets = [...config.buckets].sort((a, b) => a - b);
  }

  protected init(): HistogramState {
    return { counts: this.buckets.map(() => 0), sum: 0, count: 0 };
  }

  observe(labels: Labels<L> | number, value?: number): void {
    const [l, v] = typeof labels === 'number' ? [{}, labels] : [labels, value ?? 0];
    const s = this.at(l);
    const i = this.buckets.findIndex((b) => v <= b);
    if (i >= 0) s.counts[i]! += 1;
    s.sum += v;
    s.count += 1;
  }

  /** Starts a timer; calling the returned function observes the seconds elapsed. */
  startTimer(labels: Labels<L> = {}): () => number {
    const t0 = monotonicMs();
    return () => {
      const seconds = (monotonicMs() - t0) / 1000;
      this.observe(labels, seconds);
      return seconds;
    };
  }

  protected values(): MetricValue[] {
    const out: MetricValue[] = [];
    for (const { labels, state } of this.series.values()) {
      let cumulative = 0;
      this.buckets.forEach((le, i) => {
        cumulative += state.counts[i]!;
        out.push({
          metricName: `${this.name}_bucket`,
          labels: { le, ...labels },
          value: cumulative,
        });
      });
      out.push({
        metricName: `${this.name}_bucket`,
        labels: { le: '+Inf', ...labels },
        value: state.count,
      });
      out.push({ metricName: `${this.name}_sum`, labels, value: state.sum });
      out.push({ metricName: `${this.name}_count`, labels, value: state.count });
    }
    return out;
  }
}

/** Any of the three. */
export type AnyMetric = Counter<string> | Gauge<string> | Histogram<string>;
