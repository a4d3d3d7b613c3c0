import { Option, type Command } from 'commander';
import { isGkExportError } from '../errors.ts';
import { runReader } from '../reader/index.ts';
import { readerOptions, resolveReaderConfig, type ReaderConfig } from '../reader/options.ts';
import { gatekeeperLogFormat } from '../sinks/gatekeeper-log-format.ts';
import { createStdoutSink, rawFormat } from '../sinks/stdout.ts';
import { readinessCheck } from '../server/health.ts';
import { startHttpServer } from '../server/http-server.ts';
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
  cmd.addOption(new Option('--check-config', 'validate the configuration, print it and exit'));
  cmd.action(async (opts: Record<string, unknown>) => {
    let config: ReaderConfig;
    try {
      config = resolveReaderConfig(opts);
    } catch (err) {
      if (!isGkExportError(err)) throw err;
      process.stderr.write(`gk-export read: ${err.message}\n`);
      process.exitCode = 2;
      return;
    }
    if (opts.checkConfig) {
      process.stdout.write(JSON.stringify({ ok: true, config }) + '\n');
      return;
    }
    const telemetry = createTelemetry({ level: config.logLevel, defaults: true });
    const sink = createStdoutSink({
      format:
        config.format === 'gatekeeper-log'
          ? gatekeeperLogFormat()
          : rawFormat({ includeMarkers: config.includeMarkers }),
    });
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
        server = await startHttpServer({
          port: config.httpPort,
          registry: telemetry.metrics.registry,
          readiness: readinessCheck({
            root: config.root,
            stateDir: config.stateDir,
            metrics: telemetry.metrics,
          }),
          telemetry,
        });
      }
      await runReader(config, { sink, telemetry }, ac.signal);
    } catch (err) {
      telemetry.log.fatal({ err: (err as Error).message }, 'reader failed');
      process.exitCode = 1;
    } finally {
      await server?.close();
    }
  });
}
