import { Option, type Command } from 'commander';
import { boolOption, listSetting, setting } from '../config/commander.ts';
import { formatDuration, parseDuration } from '../config/duration.ts';
import { DEFAULTS, defaultStateDir } from '../config/defaults.ts';
import { oneOf } from '../config/parsers.ts';
import type { ConnectionSettings } from '../kube/connection.ts';
import { apiserverAuditOptions, resolveSources } from '../reader/apiserver-audit/options.ts';
import { changesOnlyOptions } from '../sinks/changes-only/options.ts';
import { openReportsOptions } from '../sinks/openreports/options.ts';
import { webhookOptions } from '../sinks/webhook/options.ts';
import { isGkExportError } from '../errors.ts';
import type { LaneSink } from '../reader/index.ts';
import { readerOptions, resolveReaderConfig, type ReaderConfig } from '../reader/options.ts';
import {
  lanesOf,
  shownSink,
  shownWebhook,
  sinksFromFlags,
  type SinkSpec,
  type SinkType,
} from './read-sinks.ts';
import type { startHttpServer } from '../server/http-server.ts';
import { createTelemetry } from '../telemetry/index.ts';
import { optimizingCompilers } from '../pipeline/optimizing-compilers.ts';

/**
 * Registers `gk-export read`, the sidecar: follows the export volume and ships every violation.
 *
 * @example
 * ```ts
 * registerRead(program); // gk-export read --root /tmp/violations/topics
 * ```
 */
export function registerRead(program: Command): void {
  const cmd = program
    .command('read')
    .description('follow the export volume and deliver every violation (the sidecar)');
  for (const o of readerOptions()) cmd.addOption(o);
  cmd.addOption(
    listSetting('--sink <sink>', 'where records go: stdout, webhook, openreports (repeatable)', {
      env: 'GK_EXPORT_SINK',
      item: oneOf(['stdout', 'webhook', 'openreports'] as const),
      unique: true,
      nonEmpty: true,
    }),
  );
  for (const o of webhookOptions()) cmd.addOption(o);
  for (const o of openReportsOptions()) cmd.addOption(o);
  for (const o of changesOnlyOptions()) cmd.addOption(o);
  for (const o of apiserverAuditOptions()) cmd.addOption(o);
  cmd.addOption(
    new Option(
      '--connection <name>',
      'read path and maxAuditResults from this Gatekeeper Connection',
    ).env('GK_EXPORT_CONNECTION'),
  );
  cmd.addOption(
    new Option(
      '--connection-namespace <ns>',
      'namespace of the Connection (default: $POD_NAMESPACE, else gatekeeper-system)',
    ).env('GK_EXPORT_CONNECTION_NAMESPACE'),
  );
  cmd.addOption(
    new Option(
      '--kubeconfig <path>',
      'kubeconfig file (default: in-cluster, else $KUBECONFIG)',
    ).env('KUBECONFIG'),
  );
  cmd.addOption(
    setting(
      '--shutdown-grace <duration>',
      'after SIGTERM, how long the batch in flight may take before it is given up (resent after restart)',
      {
        env: 'GK_EXPORT_SHUTDOWN_GRACE',
        parse: parseDuration,
        default: DEFAULTS.reader.shutdownGraceMs,
        show: formatDuration,
      },
    ),
  );
  cmd.addOption(
    new Option(
      '--config <file>',
      'YAML: named sinks with their routes, and reader settings (flags and env win)',
    ).env('GK_EXPORT_CONFIG'),
  );
  cmd.addOption(boolOption('--check-config', 'validate the configuration, print it and exit'));
  cmd.action(async () => {
    let config: ReaderConfig;
    let specs: SinkSpec[];
    let selected: ReturnType<typeof resolveSources>;
    try {
      let fromFile: ((c: ReaderConfig) => SinkSpec[]) | undefined;
      const file = cmd.getOptionValue('config') as string | undefined;
      if (file) {
        // Loaded only with a file: the YAML parser is resident memory.
        const { applyConfigFile } = await import('./read-config.ts');
        fromFile = applyConfigFile(cmd, file).sinks;
      }
      const opts = cmd.opts<Record<string, unknown>>();
      config = resolveReaderConfig(opts);
      specs = fromFile
        ? fromFile(config)
        : sinksFromFlags(
            (opts.sink as SinkType[] | undefined) ?? [...DEFAULTS.reader.sinks],
            opts,
            config,
          );
      selected = resolveSources(opts);
    } catch (err) {
      if (!isGkExportError(err)) throw err;
      process.stderr.write(`gk-export read: ${err.message}\n`);
      process.exitCode = 2;
      return;
    }
    const opts = cmd.opts<Record<string, unknown>>();
    const graceMs = Number(opts.shutdownGrace ?? DEFAULTS.reader.shutdownGraceMs);
    if (opts.checkConfig) {
      const webhook = specs.find((s) => s.type === 'webhook');
      const openreports = specs.find((s) => s.type === 'openreports');
      process.stdout.write(
        JSON.stringify({
          ok: true,
          config,
          shutdownGraceMs: graceMs,
          sinks: specs.map(shownSink),
          webhook: webhook ? shownWebhook(webhook.webhook) : undefined,
          openreports: openreports?.openreports,
          changesOnly: specs.some((s) => s.changesOnly),
          sources: selected.sources,
          apiserverAudit: selected.apiserverAudit,
        }) + '\n',
      );
      return;
    }
    const telemetry = createTelemetry({ level: config.logLevel, defaults: true });
    optimizingCompilers.onOptimizing((cause) =>
      telemetry.log.info(
        cause,
        "bulk input: V8's optimizing compilers on (off until now to keep the reader small)",
      ),
    );
    // Loaded once `read` runs (not for --help or --check-config, nor for the other commands).
    const [{ runReader }, { watchIdleGrowth }] = await Promise.all([
      import('../reader/index.ts'),
      import('../pipeline/idle-reclaim.ts'),
    ]);
    const idleGrowth = watchIdleGrowth();
    /** The sinks of the reader running now (a Connection's change starts a new one). */
    const opened = new Set<LaneSink>();
    // Loaded only when selected (it hashes with node:crypto).
    const auditLog = selected.apiserverAudit
      ? await import('../reader/apiserver-audit/source.ts')
      : undefined;
    const ac = new AbortController();
    let graceTimer: NodeJS.Timeout | undefined;
    let gaveUp = false;
    const stop = (sig: string) => {
      telemetry.log.info({ signal: sig }, 'stopping: finishing the batch in flight');
      ac.abort();
      // A stdout nobody reads (or a receiver that never answers) would hold the exit forever.
      graceTimer = setTimeout(() => {
        gaveUp = true;
        telemetry.log.warn(
          { shutdownGraceMs: graceMs },
          'shutdown grace period passed: the batch in flight is given up (not acknowledged: it is delivered again after a restart)',
        );
        for (const s of opened) s.giveUp?.();
      }, graceMs);
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
    let server: Awaited<ReturnType<typeof startHttpServer>> | undefined;
    try {
      if (config.httpPort !== 0) {
        // Loaded only when served: the HTTP server and the metrics text are resident memory.
        const [{ startHttpServer }, { readinessCheck }] = await Promise.all([
          import('../server/http-server.ts'),
          import('../server/health.ts'),
        ]);
        server = await startHttpServer({
          port: config.httpPort,
          metrics: telemetry.metrics,
          readiness: readinessCheck({
            root: config.root,
            stateDir: config.stateDir,
            metrics: telemetry.metrics,
          }),
          telemetry,
        });
      }
      await runWithConnection(
        config,
        opts,
        cmd,
        telemetry,
        async (c, signal) =>
          runReader(
            c,
            {
              lanes: lanesOf(specs, { stateDir: c.stateDir, telemetry, opened }),
              telemetry,
              diskExport: selected.sources.includes('disk-export'),
              extraSources: ({ store, deadLetter, telemetry: laneTelemetry, tally }) =>
                selected.apiserverAudit && auditLog
                  ? [
                      auditLog.createApiserverAuditSource({
                        ...selected.apiserverAudit,
                        maxRecordBytes: c.maxRecordBytes,
                        batchMaxRecords: c.batchMaxRecords,
                        pollIntervalMs: c.intervalMs,
                        store,
                        telemetry: laneTelemetry,
                        deadLetter,
                        tally,
                      }),
                    ]
                  : [],
            },
            signal,
          ),
        ac.signal,
      );
    } catch (err) {
      if (
        (isGkExportError(err, 'ERR_SINK_INTERRUPTED') ||
          isGkExportError(err, 'ERR_DEAD_LETTER_INTERRUPTED')) &&
        ac.signal.aborted
      ) {
        // Stopped while a receiver was down (or the dead letter could not be written): nothing
        // was acknowledged past it, the checkpoint stands.
        telemetry.log.info(
          'stopped while retrying; undelivered records resume from the checkpoint',
        );
      } else if (
        isGkExportError(err, 'ERR_STATE_LOCKED') ||
        isGkExportError(err, 'ERR_STATE_DIR_NOT_WRITABLE') ||
        isGkExportError(err, 'ERR_HTTP_LISTEN')
      ) {
        process.stderr.write(`gk-export read: ${err.message}\n`);
        process.exitCode = 2;
      } else if (
        isGkExportError(err, 'ERR_STDOUT_CLOSED') ||
        isGkExportError(err, 'ERR_STDOUT_WRITE')
      ) {
        gaveUp = true;
        telemetry.log.error(
          { err: err.message },
          'stdout failed: stopping; the checkpoint is saved and undelivered records resume from it',
        );
        process.exitCode = 1;
      } else {
        telemetry.log.fatal({ err: (err as Error).message }, 'reader failed');
        process.exitCode = 1;
      }
    } finally {
      clearTimeout(graceTimer);
      idleGrowth.stop();
      await server?.close();
    }
    // Writes stdout never took keep the process alive; they are not acknowledged, so leave.
    if (gaveUp) process.exit();
  });
}

/**
 * Runs the reader; with `--connection`, first applies the Connection's settings (where no
 * flag or env var set them), then watches it and restarts the reader gracefully (in-flight
 * batch finished, checkpoint saved) when they change.
 */
async function runWithConnection(
  base: ReaderConfig,
  opts: Record<string, unknown>,
  cmd: Command,
  telemetry: ReturnType<typeof createTelemetry>,
  run: (c: ReaderConfig, signal: AbortSignal) => Promise<void>,
  signal: AbortSignal,
): Promise<void> {
  const name = opts.connection as string | undefined;
  if (!name) return run(base, signal);
  const { loadConnection, watchConnection } = await import('../kube/connection.ts');
  const ref = {
    name,
    namespace:
      (opts.connectionNamespace as string | undefined) ||
      process.env.POD_NAMESPACE ||
      'gatekeeper-system',
    kubeconfigPath: opts.kubeconfig as string | undefined,
    telemetry,
  };
  // Set by a flag, the environment or the config file (an empty ROOT_PATH counts as unset).
  const fromFlags = (key: string) =>
    cmd.getOptionValueSource(key) !== 'default' &&
    cmd.getOptionValueSource(key) !== undefined &&
    cmd.getOptionValue(key) !== '';
  const apply = (s: ConnectionSettings | undefined): ReaderConfig => {
    if (!s) return base;
    const root = s.root && !fromFlags('root') ? s.root : base.root;
    return {
      ...base,
      root,
      stateDir: fromFlags('stateDir') ? base.stateDir : defaultStateDir(root),
      maxAuditResults:
        s.maxAuditResults !== undefined && !fromFlags('maxAuditResults')
          ? s.maxAuditResults
          : base.maxAuditResults,
    };
  };
  const initial = await loadConnection(ref);
  let config = apply(initial);
  if (!initial) return run(config, signal);
  let restart: AbortController | undefined;
  const stop = await watchConnection(ref, initial, (s) => {
    const next = apply(s);
    if (next.root === config.root && next.maxAuditResults === config.maxAuditResults) return;
    telemetry.log.info(
      { root: next.root, maxAuditResults: next.maxAuditResults },
      'Connection changed: restarting the reader',
    );
    config = next;
    restart?.abort();
  });
  try {
    while (!signal.aborted) {
      restart = new AbortController();
      const both = AbortSignal.any([signal, restart.signal]);
      await run(config, both);
    }
  } finally {
    stop();
  }
}
