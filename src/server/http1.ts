import type { AddressInfo, Server, Socket } from 'node:net';

// A small HTTP/1.1 server for the reader's three GET endpoints, on node:net. Node's HTTP server
// (its modules, parser and per-request objects) was 1–1.3 MiB of an idle reader's RSS, and its
// allocations per probe kept the young generation growing between kubelet's probes. This one
// answers GET and HEAD of a path, without bodies, one request at a time per connection
// (pipelined ones in turn), keep-alive as HTTP/1.1 has it. Anything else is answered with a
// 4xx/5xx status and the connection closed; nothing a client sends can stop the server.

/** What a request asks for: its method and path (without the query). */
export interface RequestHead {
  readonly method: string;
  readonly path: string;
}

export interface Reply {
  readonly status: number;
  readonly type: string;
  readonly body: string;
  /** More header fields, lowercase names (e.g. `allow`). */
  readonly headers?: Readonly<Record<string, string>>;
}

/** Why a request or connection was turned away (the `reason` label). */
export type Rejection =
  'bad_request' | 'head_too_large' | 'head_timeout' | 'version_not_supported' | 'accept_failed';

export interface Http1Options {
  readonly port: number;
  readonly host: string;
  /** A request turned away, or a connection that could not be accepted (the server goes on). */
  readonly onRejected: (reason: Rejection, detail: string) => void;
  /** A request head larger than this is answered 431 (default 8 KiB). */
  readonly maxHeadBytes?: number;
  /** A request head must be complete this long after its first byte, else 408 (default 10 s). */
  readonly headTimeoutMs?: number;
  /** A connection with no request under way is closed after this long (default 5 s). */
  readonly keepAliveMs?: number;
  /** Connections beyond this many are closed as they come (default 64). */
  readonly maxConnections?: number;
}

const REASONS: Record<number, string> = {
  200: 'OK',
  400: 'Bad Request',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
  505: 'HTTP Version Not Supported',
};

const TOKEN = "[!#$%&'*+.^_`|~0-9A-Za-z-]+";
const REQUEST_LINE = new RegExp(`^(${TOKEN}) (\\S+) HTTP/(\\d)\\.(\\d)$`);
const FIELD = new RegExp(`^(${TOKEN}):[ \\t]*(.*?)[ \\t]*$`);
/** The end of a head: an empty line (CRLF, or a bare LF as RFC 9112 lets a server accept). */
const HEAD_END = /\r?\n\r?\n/;

/**
 * Serves `handle` on a TCP port until `close()`. Rejects when the port cannot be listened on.
 *
 * @example
 * ```ts
 * const s = await serveHttp1(() => ({ status: 200, type: 'text/plain', body: 'ok\n' }), {
 *   port: 9465, host: '0.0.0.0', onRejected: () => undefined,
 * });
 * await s.close();
 * ```
 */
export async function serveHttp1(
  handle: (req: RequestHead) => Reply | Promise<Reply>,
  opts: Http1Options,
): Promise<{ port: number; close(): Promise<void> }> {
  const limits = {
    maxHeadBytes: opts.maxHeadBytes ?? 8192,
    headTimeoutMs: opts.headTimeoutMs ?? 10_000,
    keepAliveMs: opts.keepAliveMs ?? 5000,
  };
  const { createServer } = process.getBuiltinModule('node:net');
  const sockets = new Set<Socket>();
  const server: Server = createServer({ allowHalfOpen: true, noDelay: true }, (sock) => {
    sockets.add(sock);
    sock.once('close', () => sockets.delete(sock));
    serveConnection(sock, handle, limits, opts.onRejected);
  });
  server.maxConnections = opts.maxConnections ?? 64;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  // After listening, an error is a connection that could not be accepted (EMFILE …).
  server.on('error', (err: NodeJS.ErrnoException) =>
    opts.onRejected('accept_failed', err.code ?? err.message),
  );
  let closed: Promise<void> | undefined;
  return {
    port: (server.address() as AddressInfo).port,
    close(): Promise<void> {
      closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      });
      return closed;
    },
  };
}

function serveConnection(
  sock: Socket,
  handle: (req: RequestHead) => Reply | Promise<Reply>,
  limits: { maxHeadBytes: number; headTimeoutMs: number; keepAliveMs: number },
  onRejected: Http1Options['onRejected'],
): void {
  // Heads are read as latin1: one character per byte, so lengths are byte counts.
  sock.setEncoding('latin1');
  let buf = '';
  /** A request is being answered: what follows waits in `buf`. */
  let answering = false;
  /** No more requests on this connection (the client said so, or one could not be read). */
  let last = false;
  let readEnded = false;
  /** Part of a request head is here: it must be complete by the head timeout. */
  let headStarted = false;
  let timer: NodeJS.Timeout | undefined;
  const arm = (ms: number, onTimeout: () => void) => {
    clearTimeout(timer);
    timer = setTimeout(onTimeout, ms);
    timer.unref();
  };
  // Idle, or done and waiting for the client to close: closed after the keep-alive time.
  const idle = () => arm(limits.keepAliveMs, () => sock.destroy());

  const send = (reply: Reply, bodyless: boolean): boolean => {
    const length = Buffer.byteLength(reply.body);
    let text =
      `HTTP/1.1 ${reply.status} ${REASONS[reply.status] ?? 'Unknown'}\r\n` +
      `date: ${new Date().toUTCString()}\r\ncontent-type: ${reply.type}\r\n` +
      `cache-control: no-store\r\ncontent-length: ${length}\r\n` +
      `connection: ${last ? 'close' : 'keep-alive'}\r\n`;
    for (const [k, v] of Object.entries(reply.headers ?? {})) text += `${k}: ${v}\r\n`;
    text += '\r\n';
    return sock.write(bodyless ? text : text + reply.body);
  };
  const finish = () => {
    last = true;
    buf = '';
    // Whatever more comes is read and dropped until the client closes: unread bytes would make
    // the kernel reset the connection, and the client could lose the reply.
    sock.resume();
    sock.end();
    idle();
  };
  const reject = (bad: BadHead) => {
    onRejected(bad.reason, bad.detail);
    last = true;
    send(
      { status: bad.status, type: 'text/plain', body: `${REASONS[bad.status]!.toLowerCase()}\n` },
      false,
    );
    finish();
  };

  const next = (): void => {
    if (answering || last) return;
    if (sock.isPaused()) sock.resume();
    // Empty lines before a request line are ignored (RFC 9112 §2.2).
    if (buf.startsWith('\r') || buf.startsWith('\n')) buf = buf.replace(/^[\r\n]+/, '');
    const end = HEAD_END.exec(buf);
    if (!end || end.index > limits.maxHeadBytes) {
      if (buf.length > limits.maxHeadBytes) {
        reject(tooLarge(limits.maxHeadBytes));
      } else if (buf.length > 0 && readEnded) {
        reject(bad('the connection was half-closed within a request head'));
      } else if (buf.length > 0 && !headStarted) {
        headStarted = true;
        arm(limits.headTimeoutMs, () =>
          reject({
            status: 408,
            reason: 'head_timeout',
            detail: `no complete request head within ${limits.headTimeoutMs} ms`,
          }),
        );
      } else if (buf.length === 0) {
        if (readEnded) finish();
        else idle();
      }
      return;
    }
    const head = buf.slice(0, end.index);
    buf = buf.slice(end.index + end[0].length);
    headStarted = false;
    clearTimeout(timer);
    const req = parseHead(head);
    if ('status' in req) {
      reject(req);
      return;
    }
    // A body is not read: the connection ends after the reply instead.
    if (req.close || req.hasBody) last = true;
    answering = true;
    void Promise.resolve()
      .then(() => handle(req))
      .catch((err: unknown) => ({
        status: 500,
        type: 'text/plain',
        body: `failed: ${(err as Error).message}\n`,
      }))
      .then((reply) => {
        answering = false;
        if (sock.destroyed) return;
        const flushed = send(reply, req.method === 'HEAD');
        if (last) finish();
        else if (flushed) next();
        // A client that does not read its replies gets no more until it does.
        else sock.once('drain', next);
      });
  };

  sock.on('data', (chunk: string) => {
    if (last) return;
    buf += chunk;
    // While a request is answered, the next ones wait; a client sending more than a head's
    // worth meanwhile is not read until then.
    if (answering && buf.length > limits.maxHeadBytes) sock.pause();
    next();
  });
  sock.on('end', () => {
    readEnded = true;
    next();
  });
  sock.on('error', () => sock.destroy());
  sock.on('close', () => clearTimeout(timer));
  idle();
}

interface BadHead {
  readonly status: number;
  readonly reason: Rejection;
  readonly detail: string;
}

const tooLarge = (max: number): BadHead => ({
  status: 431,
  reason: 'head_too_large',
  detail: `a request head over ${max} bytes`,
});

const bad = (detail: string): BadHead => ({ status: 400, reason: 'bad_request', detail });

/** A request head's method, path and what it says of the connection, or why it is bad. */
function parseHead(head: string): (RequestHead & { close: boolean; hasBody: boolean }) | BadHead {
  const lines = head.split(/\r?\n/);
  const m = REQUEST_LINE.exec(lines[0]!);
  if (!m) return bad(`a malformed request line: ${JSON.stringify(lines[0]!.slice(0, 100))}`);
  const [, method, target, major, minor] = m as unknown as [string, string, string, string, string];
  if (major !== '1' || (minor !== '0' && minor !== '1')) {
    return {
      status: 505,
      reason: 'version_not_supported',
      detail: `HTTP/${major}.${minor} (1.0 and 1.1 are served)`,
    };
  }
  const fields = new Map<string, string>();
  for (let i = 1; i < lines.length; i++) {
    const f = FIELD.exec(lines[i]!);
    if (!f || /[\r\0]/.test(f[2]!)) {
      return bad(`a malformed header field: ${JSON.stringify(lines[i]!.slice(0, 100))}`);
    }
    const name = f[1]!.toLowerCase();
    const seen = fields.get(name);
    if (name === 'content-length' && seen !== undefined && seen !== f[2]) {
      return bad('conflicting content-length fields');
    }
    fields.set(name, seen === undefined || name === 'content-length' ? f[2]! : `${seen}, ${f[2]}`);
  }
  const length = fields.get('content-length');
  if (length !== undefined && !/^\d+$/.test(length)) {
    return bad(`a content-length that is no number: ${JSON.stringify(length.slice(0, 100))}`);
  }
  if (minor === '1' && !fields.has('host')) return bad('an HTTP/1.1 request without a host field');
  // Origin form (/path?query), or absolute form (http://host/path), which servers must accept.
  const absolute = /^https?:\/\/[^/?#]*/i.exec(target);
  const path = absolute ? target.slice(absolute[0].length) || '/' : target;
  if (!path.startsWith('/')) {
    return bad(`a request target that is no path: ${JSON.stringify(target.slice(0, 100))}`);
  }
  const connection = (fields.get('connection') ?? '').toLowerCase().split(',');
  return {
    method,
    path: path.split(/[?#]/, 1)[0]!,
    // HTTP/1.0 connections close after one reply.
    close: minor === '0' || connection.some((t) => t.trim() === 'close'),
    hasBody: (length !== undefined && Number(length) > 0) || fields.has('transfer-encoding'),
  };
}
