import { errnoCode, GkExportError, type ServerErrorCode } from '../errors.ts';
import type { Metrics, Telemetry } from '../telemetry/index.ts';
import { metricsEndpoint } from '../telemetry/prometheus.ts';
import { monotonicMs } from '../telemetry/clock.ts';
import { Counter } from '../telemetry/metric-types.ts';
import { livenessCheck, type Readiness } from './health.ts';
import { serveHttp1, type Rejection, type Reply } from './http1.ts';

export interface HttpServerOptions {
  /** Port to listen on (0: any free port — for tests; the CLI disables the server on 0). */
  readonly port: number;
  readonly host?: string;
  /** Served on /metrics (Prometheus text, with the process metrics when the set asks). */
  readonly metrics: Metrics;
  readonly readiness: () => Promise<Readiness>;
  readonly telemetry: Telemetry;
}

/**
 * The reader's one HTTP listener: `/metrics` (Prometheus text), `/healthz` (alive: the event
 * loop is not stuck), `/readyz` (root readable, state dir writable, no sink failing for good).
 *
 * @example
 * ```ts
 * const server = await startHttpServer({ port: 9465, metrics, readiness, telemetry });
 * await server.close();
 * ```
 */
export async function startHttpServer(opts: HttpServerOptions) {
  const registry = metricsEndpoint(opts.metrics);
  const live = livenessCheck();
  const rejected = opts.metrics.register(
    'gk_export_http_rejected_total',
    () =>
      new Counter({
        name: 'gk_export_http_rejected_total',
        help: 'Requests to the metrics and health server turned away (and connections it could not accept), by reason',
        labelNames: ['reason'] as const,
      }),
  );
  /** When each reason was last logged: one line a minute per reason, the rest only counted. */
  const logged = new Map<Rejection, number>();
  const json = (status: number, body: unknown): Reply => ({
    status,
    type: 'application/json',
    body: JSON.stringify(body) + '\n',
  });
  const text = (status: number, body: string): Reply => ({ status, type: 'text/plain', body });
  const server = await serveHttp1(
    async ({ method, path }) => {
      if (method !== 'GET' && method !== 'HEAD') {
        return {
          ...text(405, 'method not allowed: GET or HEAD\n'),
          headers: { allow: 'GET, HEAD' },
        };
      }
      if (path === '/metrics') {
        return registry
          .metrics()
          .then((t) => ({ status: 200, type: registry.contentType, body: t }))
          .catch((err: Error) => text(500, `metrics failed: ${err.message}\n`));
      }
      if (path === '/healthz') {
        const alive = live.alive();
        return json(alive ? 200 : 503, { alive, eventLoopDelayP99Ms: live.p99DelayMs() });
      }
      if (path === '/readyz') {
        return opts
          .readiness()
          .then((r) => json(r.ready ? 200 : 503, r))
          .catch((err: Error) => json(503, { ready: false, reasons: [err.message] }));
      }
      return text(404, 'not found: try /metrics, /healthz or /readyz\n');
    },
    {
      port: opts.port,
      host: opts.host ?? '0.0.0.0',
      onRejected(reason, detail) {
        rejected.inc({ reason });
        const now = monotonicMs();
        if (now - (logged.get(reason) ?? -Infinity) < 60_000) return;
        logged.set(reason, now);
        opts.telemetry.log.warn(
          { reason, detail },
          'metrics and health server: request turned away (more of this reason within a minute are only counted in gk_export_http_rejected_total)',
        );
      },
    },
  ).catch((err: unknown) => {
    live.stop();
    const code = errnoCode(err);
    throw new GkExportError<ServerErrorCode>(
      'ERR_HTTP_LISTEN',
      `cannot listen on --http-port ${opts.port} (${opts.host ?? '0.0.0.0'}): ${code === 'EADDRINUSE' ? 'another process listens on it; choose another port, or 0 to serve no metrics' : (err as Error).message}`,
      { cause: err },
    );
  });
  opts.telemetry.log.info({ port: server.port }, 'metrics and health listening');
  let closed: Promise<void> | undefined;
  return {
    port: server.port,
    close(): Promise<void> {
      closed ??= (live.stop(), server.close());
      return closed;
    },
  };
}
