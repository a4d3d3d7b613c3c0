import { readFileSync } from 'node:fs';
import type { IncomingMessage, RequestOptions } from 'node:http';
import { urlToHttpOptions } from 'node:url';
import type { WebhookConfig } from './options.ts';

/** What came back (or why nothing did). */
export type HttpOutcome =
  | {
      readonly kind: 'response';
      readonly status: number;
      readonly headers: IncomingMessage['headers'];
      readonly body: string;
    }
  | { readonly kind: 'error'; readonly error: string; readonly timeout: boolean };

const EXCERPT = 512;

/**
 * A keep-alive HTTP(S) client for one receiver: TLS verified by default (optional CA, mTLS),
 * a per-request timeout, and only an excerpt of each response body kept.
 */
export function createHttpClient(config: WebhookConfig) {
  const https = config.url.protocol === 'https:';
  // Not `import … from 'node:http'`: an ES import of node:http evaluates its lazy exports
  // (WebSocket, …), which load Node's bundled undici: 13 MiB resident that this client never
  // uses. And node:https (TLS, crypto) only for an https URL.
  const agent = https
    ? new (process.getBuiltinModule('node:https').Agent)({
        keepAlive: true,
        maxSockets: config.concurrency,
        ca: config.caFile ? readFileSync(config.caFile) : undefined,
        cert: config.certFile ? readFileSync(config.certFile) : undefined,
        key: config.keyFile ? readFileSync(config.keyFile) : undefined,
        rejectUnauthorized: !config.insecureSkipVerify,
      })
    : new (process.getBuiltinModule('node:http').Agent)({
        keepAlive: true,
        maxSockets: config.concurrency,
      });
  const send = https
    ? process.getBuiltinModule('node:https').request
    : process.getBuiltinModule('node:http').request;

  /** Request options of a URL (host, port, path, auth), worked out once per URL. */
  const targets = new Map<string, RequestOptions>();
  const target = (url: URL): RequestOptions => {
    let t = targets.get(url.href);
    if (!t) {
      t = { ...urlToHttpOptions(url), method: 'POST', agent };
      targets.set(url.href, t);
    }
    return t;
  };

  return {
    /** Posts `body`, its parts one after the other (`headers` give its content-length). */
    post(url: URL, headers: Record<string, string>, body: readonly Buffer[]): Promise<HttpOutcome> {
      return new Promise((resolve) => {
        let settled = false;
        const done = (o: HttpOutcome) => {
          if (!settled) {
            settled = true;
            resolve(o);
          }
        };
        const req = send({ ...target(url), headers });
        const timer = setTimeout(() => {
          req.destroy();
          done({
            kind: 'error',
            error: `no response within ${config.timeoutMs} ms`,
            timeout: true,
          });
        }, config.timeoutMs);
        req.on('response', (res) => {
          const excerpt: Buffer[] = [];
          let kept = 0;
          res.on('data', (chunk: Buffer) => {
            if (kept < EXCERPT) excerpt.push(chunk.subarray(0, EXCERPT - kept));
            kept += chunk.length;
          });
          res.on('end', () => {
            clearTimeout(timer);
            done({
              kind: 'response',
              status: res.statusCode ?? 0,
              headers: res.headers,
              body: excerpt.length === 0 ? '' : Buffer.concat(excerpt).toString('utf8'),
            });
          });
          res.on('error', (err) => {
            clearTimeout(timer);
            done({ kind: 'error', error: err.message, timeout: false });
          });
        });
        req.on('error', (err) => {
          clearTimeout(timer);
          done({ kind: 'error', error: err.message, timeout: false });
        });
        // Written before the socket is assigned, the parts wait in the request and leave with
        // its head in one writev.
        for (let i = 0; i < body.length - 1; i++) req.write(body[i]!);
        req.end(body[body.length - 1]);
      });
    },
    close(): void {
      agent.destroy();
    },
  };
}
