import { Writable } from 'node:stream';
import { runReader } from '../../src/reader/index.ts';
import { resolveReaderConfig, type ReaderConfig } from '../../src/reader/options.ts';
import type { Delivery, Sink } from '../../src/sinks/sink.ts';
import { createLogger, createMetrics, type Telemetry } from '../../src/telemetry/index.ts';

/** A sink that keeps what it is given, optionally slowed or failing. */
export function collectingSink(opts: { delayMs?: number } = {}) {
  const got: Delivery[] = [];
  const sink: Sink = {
    name: 'test',
    async write(batch) {
      if (opts.delayMs) await new Promise((r) => setTimeout(r, opts.delayMs));
      got.push(...batch);
    },
    async close() {},
  };
  return { sink, got, violations: () => got.filter((d) => !d.marker) };
}

/** Telemetry whose log lines are kept as parsed objects. */
export function capturingTelemetry(): Telemetry & { logs: Record<string, unknown>[] } {
  const logs: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) logs.push(JSON.parse(line));
      cb();
    },
  });
  return { log: createLogger({ level: 'debug', destination }), metrics: createMetrics(), logs };
}

/** Runs the reader in this process until `stop()`. */
export function startReader(
  root: string,
  stateDir: string,
  over: Partial<ReaderConfig> & { sink: Sink },
) {
  const base = resolveReaderConfig({ root, stateDir, pollInterval: 100 });
  const { sink, ...rest } = over;
  const telemetry = capturingTelemetry();
  const config: ReaderConfig = { ...base, ...rest };
  const ac = new AbortController();
  const done = runReader(config, { sink, telemetry }, ac.signal);
  return {
    telemetry,
    done,
    stop: async () => {
      ac.abort();
      await done;
    },
  };
}

/** Counter value of a metric (all label sets summed, or one label set). */
export async function metricValue(
  telemetry: Telemetry,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const m = await telemetry.metrics.find(name)?.get();
  if (!m) throw new Error(`no metric ${name}`);
  return m.values
    .filter((v) => Object.entries(labels).every(([k, val]) => v.labels[k] === val))
    .reduce((a, v) => a + v.value, 0);
}
