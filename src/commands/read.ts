import { InvalidArgumentError, Option, type Command } from 'commander';
import { dirname, join } from 'node:path';
import type { ConnectionSettings } from '../kube/connection.ts';
import { createDeadLetter } from '../dead-letter.ts';
import { apiserverAuditOptions, resolveSources } from '../reader/apiserver-audit/options.ts';
import { createFanout } from '../sinks/fanout.ts';
import type { Sink } from '../sinks/sink.ts';
import {
  redactUrl,
  resolveWebhookConfig,
  webhookOptions,
  type WebhookConfig,
} from '../sinks/webhook/options.ts';
import { isGkExportError } from '../errors.ts';
import { runReader } from '../reader/index.ts';
import { readerOptions, resolveReaderConfig, type ReaderConfig } from '../reader/options.ts';
import { gatekeeperLogFormat } from '../sinks/gatekeeper-log-format.ts';
import { createStdoutSink, rawFormat } from '../sinks/stdout.ts';
import type { startHttpServer } from '../server/http-server.ts';
import { createTelemetry } from '../telemetry/index.ts';

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
    new Option('--sink <sink>', 'where records go: stdout, webhook (repeatable: both)')
      .env('GK_EXPORT_SINK')
      .argParser((v: string, prev: string[] | undefined) => {
        const items = v.split(',').map((s) => s.trim());
        for (const i of items) {
          if (i !== 'stdout' && i !== 'webhook')
            throw new InvalidArgumentError('allowed: stdout, webhook');
        }
        return [...new Set([...(prev ?? []), ...items])];
      }),
  );
  for (const o of webhookOptions()) cmd.addOption(o);
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
  cmd.addOption(new Option('--check-config', 'validate the configuration, print it and exit'));
  cmd.action(async (opts: Record<string, unknown>) => {
    let config: ReaderConfig;
    let webhook: WebhookConfig | undefined;
    let selected: ReturnType<typeof resolveSources>;
    const sinks = (opts.sink as string[] | undefined) ?? ['stdout'];
    try {
      config = resolveReaderConfig(opts);
      if (sinks.includes('webhook')) webhook = resolveWebhookConfig(opts);
      selected = resolveSources(opts);
    } catch (err) {
      if (!isGkExportError(err)) throw err;
      process.stderr.write(`gk-export read: ${err.message}\n`);
      process.exitCode = 2;
      return;
    }
    if (opts.checkConfig) {
      const shown = webhook ? { ...webhook, url: redactUrl(webhook.url) } : undefined;
      process.stdout.write(
        JSON.stringify({
          ok: true,
          config,
          sinks,
          webhook: shown,
          sources: selected.sources,
          apiserverAudit: selected.apiserverAudit,
        }) + '\n',
      );
      return;
    }
    const telemetry = createTelemetry({ level: config.logLevel, defaults: true });
    const parts: (Sink & { interrupt?(): void })[] = [];
    if (sinks.includes('stdout')) {
      parts.push(
        createStdoutSink({
          metrics: telemetry.metrics,
          format:
            config.format === 'gatekeeper-log'
              ? gatekeeperLogFormat()
              : rawFormat({ includeMarkers: config.includeMarkers }),
        }),
      );
    }
    if (webhook) {
      // Loaded only when configured: the HTTP(S) client and its Node modules are resident MiB.
      const { createWebhookSink } = await import('../sinks/webhook/webhook-sink.ts');
      parts.push(
        createWebhookSink(webhook, { telemetry, deadLetter: createDeadLetter(config.stateDir) }),
      );
    }
    const sink = createFanout(parts);
    // Loaded only when selected (it hashes with node:crypto).
    const auditLog = selected.apiserverAudit
      ? await import('../reader/apiserver-audit/source.ts')
      : undefined;
    const ac = new AbortController();
    const stop = (sig: string) => {
      telemetry.log.info({ signal: sig }, 'stopping: finishing the batch in flight');
      ac.abort();
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
    let server: Awaited<ReturnType<typeof startHttpServer>> | undefined;
    try {
      if (config.httpPort !== 0) {
        // Loaded only when served: the HTTP server and prom-client are resident MiB.
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
        (c, signal) =>
          runReader(
            c,
            {
              sink,
              telemetry,
              diskExport: selected.sources.includes('disk-export'),
              extraSources: ({ store, deadLetter }) =>
                selected.apiserverAudit && auditLog
                  ? [
                      auditLog.createApiserverAuditSource({
                        ...selected.apiserverAudit,
                        maxRecordBytes: c.maxRecordBytes,
                        batchMaxLines: c.batchMaxLines,
                        pollIntervalMs: c.intervalMs,
                        store,
                        telemetry,
                        deadLetter,
                      }),
                    ]
                  : [],
            },
            signal,
          ),
        ac.signal,
      );
    } catch (err) {
      if (isGkExportError(err, 'ERR_SINK_INTERRUPTED') && ac.signal.aborted) {
        // Stopped while a receiver was down: nothing was acknowledged, the checkpoint stands.
        telemetry.log.info(
          'stopped while retrying; undelivered records resume from the checkpoint',
        );
      } else {
        telemetry.log.fatal({ err: (err as Error).message }, 'reader failed');
        process.exitCode = 1;
      }
    } finally {
      await server?.close();
    }
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
  const fromFlags = (key: string) =>
    cmd.getOptionValueSource(key) !== 'default' && cmd.getOptionValueSource(key) !== undefined;
  const apply = (s: ConnectionSettings | undefined): ReaderConfig => {
    if (!s) return base;
    const root = s.root && !fromFlags('root') ? s.root : base.root;
    return {
      ...base,
      root,
      stateDir: fromFlags('stateDir') ? base.stateDir : join(dirname(root), '.gk-export-state'),
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
