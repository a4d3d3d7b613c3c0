import { Option, type Command } from 'commander';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setting } from '../config/commander.ts';
import { DEFAULTS } from '../config/defaults.ts';
import { formatDuration, parseDuration } from '../config/duration.ts';
import { integer } from '../config/parsers.ts';
import { startDemoAuditor } from '../demo/simulator.ts';
import { runReader } from '../reader/index.ts';
import { resolveReaderConfig } from '../reader/options.ts';
import { createStdoutSink, rawFormat } from '../sinks/stdout.ts';
import { createTelemetry } from '../telemetry/index.ts';
import { createAuditLogger } from '../writer/audit-log.ts';

/**
 * Registers `gk-export demo` (what `npm start` runs): a simulated cluster is audited every
 * few seconds and exported through the writer, and the reader beside it prints every
 * violation on stdout.
 *
 * @example
 * ```ts
 * registerDemo(program); // gk-export demo --interval 5s
 * ```
 */
export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('audit a built-in cluster every few seconds, export it and read it back')
    .addOption(new Option('--root <dir>', 'export root (default: a new temp dir)'))
    .addOption(
      setting('--interval <duration>', 'time between audits', {
        parse: parseDuration,
        default: DEFAULTS.demo.intervalMs,
        show: formatDuration,
      }),
    )
    .addOption(
      setting('--runs <n>', 'audits to run (0 = until Ctrl-C)', {
        parse: integer(0, undefined, '0 = until stopped'),
        default: DEFAULTS.demo.runs,
      }),
    )
    .addOption(
      setting('--max-audit-results <n>', 'completed runs kept (0..5)', {
        parse: integer(0, 5),
        default: DEFAULTS.volume.maxAuditResults,
      }),
    )
    .addOption(new Option('--no-reader', 'only write; do not run the reader'))
    .action(
      async (opts: {
        root?: string;
        interval: number;
        runs: number;
        maxAuditResults: number;
        reader: boolean;
      }) => {
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
      },
    );
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
