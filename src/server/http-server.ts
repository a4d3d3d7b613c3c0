import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Metrics, Telemetry } from '../telemetry/index.ts';
import { metricsEndpoint } from '../telemetry/prometheus.ts';
import { livenessCheck, type Readiness } from './health.ts';

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
  // Not `import … from 'node:http'`: an ES import of node:http evaluates its lazy exports
  // (WebSocket, …), which load Node's bundled undici: 13 MiB resident for nothing here.
  const { createServer } = process.getBuiltinModule('node:http');
  const live = livenessCheck();
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const reply = (status: number, type: string, body: string) => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      reply(405, 'text/plain', 'method not allowed\n');
      return;
    }
    if (path === '/metrics') {
      registry
        .metrics()
        .then((text) => reply(200, registry.contentType, text))
        .catch((err: Error) => reply(500, 'text/plain', `metrics failed: ${err.message}\n`));
    } else if (path === '/healthz') {
      const alive = live.alive();
      reply(
        alive ? 200 : 503,
        'application/json',
        JSON.stringify({ alive, eventLoopDelayP99Ms: live.p99DelayMs() }) + '\n',
      );
    } else if (path === '/readyz') {
      opts
        .readiness()
        .then((r) => reply(r.ready ? 200 : 503, 'application/json', JSON.stringify(r) + '\n'))
        .catch((err: Error) =>
          reply(
            503,
            'application/json',
            JSON.stringify({ ready: false, reasons: [err.message] }) + '\n',
          ),
        );
    } else {
      reply(404, 'text/plain', 'not found: try /metrics, /healthz or /readyz\n');
    }
  });
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host ?? '0.0.0.0', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  opts.telemetry.log.info({ port }, 'metrics and health listening');
  let closed: Promise<void> | undefined;
  return {
    port,
    close(): Promise<void> {
      closed ??= new Promise<void>((resolve) => {
        live.stop();
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closed;
    },
  };
}
