import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDemoAuditor } from '../demo/simulator.ts';
import { runReader } from '../reader/index.ts';
import { resolveReaderConfig } from '../reader/options.ts';
import { createStdoutSink, rawFormat } from '../sinks/stdout.ts';
import { createTelemetry } from '../telemetry/index.ts';
import { createAuditLogger } from '../writer/audit-log.ts';

/** `gk-export demo`'s settings, as its options parse them. */
export interface DemoOptions {
  readonly root?: string;
  readonly interval: number;
  readonly runs: number;
  readonly maxAuditResults: number;
  readonly reader: boolean;
}

/**
 * Runs `gk-export demo`: a simulated cluster audited every `interval` and exported through the
 * writer, with the reader beside it printing every violation on stdout. Loaded only when the
 * demo runs: the writer, the simulator and the audit logger are no part of `read`.
 *
 * @example
 * ```ts
 * await runDemo({ interval: 5000, runs: 2, maxAuditResults: 3, reader: true });
 * ```
 */
export async function runDemo(opts: DemoOptions): Promise<void> {
  const base = opts.root ?? (await mkdtemp(join(tmpdir(), 'gk-export-demo-')));
  const root = opts.root ?? join(base, 'topics');
  const telemetry = createTelemetry({ level: 'info' });
  telemetry.log.info(
    { root },
    'demo: auditing a simulated cluster; violations follow on stdout (Ctrl-C stops)',
  );
  const ac = new AbortController();
  process.once('SIGINT', () => ac.abort());
  process.once('SIGTERM', () => ac.abort());
  const readerStop = new AbortController();
  const reader = opts.reader
    ? runReader(
        resolveReaderConfig({ root, followOpen: false, pollInterval: 1000 }),
        {
          sink: createStdoutSink({ format: rawFormat({ includeMarkers: false }) }),
          telemetry,
        },
        readerStop.signal,
      )
    : Promise.resolve();
  const audits = await startDemoAuditor({
    root,
    intervalMs: opts.interval,
    runs: opts.runs,
    maxAuditResults: opts.maxAuditResults,
    signal: ac.signal,
    auditLog: createAuditLogger(),
  });
  if (opts.reader && !ac.signal.aborted) {
    // A bounded demo (--runs): let the reader deliver the last run, then stop.
    await waitForDelivery(telemetry, audits, ac.signal);
  }
  readerStop.abort();
  await reader;
}

/** Resolves once `runs` runs are reported delivered (or the signal aborts). */
async function waitForDelivery(
  telemetry: ReturnType<typeof createTelemetry>,
  runs: number,
  signal: AbortSignal,
): Promise<void> {
  const metric = telemetry.metrics.runsCompleted;
  while (!signal.aborted) {
    const values = (await metric.get()).values;
    if (values.reduce((a, v) => a + v.value, 0) >= runs) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}
