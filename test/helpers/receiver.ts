import { createServer as createHttp, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttps } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { gunzipSync } from 'node:zlib';

/** How the receiver answers one request. */
export type Answer =
  | { status: number; headers?: Record<string, string>; body?: string; delayMs?: number }
  | 'reset'
  | 'stall';

export interface Received {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
}

/**
 * A real loopback HTTP(S) receiver on port 0. `answers` are used in order, then `fallback`
 * (default 200). Every request is recorded with its (gunzipped) body.
 */
export async function startReceiver(
  opts: {
    tls?: { key: Buffer; cert: Buffer; ca?: Buffer; requestCert?: boolean };
    fallback?: Answer;
  } = {},
) {
  const answers: Answer[] = [];
  const received: Received[] = [];
  const sockets = new Set<Socket>();
  let decide: ((req: Received) => Answer | undefined) | undefined;
  let open = 0;
  let maxOpen = 0;
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let raw = Buffer.concat(chunks);
      if (req.headers['content-encoding'] === 'gzip') raw = gunzipSync(raw);
      const r: Received = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: raw.toString('utf8'),
      };
      received.push(r);
      const a = decide?.(r) ?? answers.shift() ?? opts.fallback ?? { status: 200 };
      if (a === 'reset') {
        req.socket.destroy();
        return;
      }
      if (a === 'stall') return;
      open += 1;
      maxOpen = Math.max(maxOpen, open);
      const answer = () => {
        open -= 1;
        res.writeHead(a.status, a.headers);
        res.end(a.body ?? '');
      };
      if (a.delayMs) setTimeout(answer, a.delayMs);
      else answer();
    });
  };
  const server = opts.tls
    ? createHttps(
        {
          key: opts.tls.key,
          cert: opts.tls.cert,
          ca: opts.tls.ca,
          requestCert: opts.tls.requestCert,
          rejectUnauthorized: opts.tls.requestCert ?? false,
        },
        handler,
      )
    : createHttp(handler);
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `${opts.tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    answers,
    received,
    /** The most requests that were waiting for their answers at the same time. */
    maxConcurrent: () => maxOpen,
    /** Decide each answer from the request (overrides the queue while set). */
    setDecider(fn: ((req: Received) => Answer | undefined) | undefined) {
      decide = fn;
    },
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}
