// The metrics and health server's HTTP/1.1, against real clients (curl, Python's http.client,
// Node's fetch) and raw sockets for what clients do not send on purpose.
import { execFile } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import {
  serveHttp1,
  type Http1Options,
  type Rejection,
  type Reply,
} from '../../src/server/http1.ts';

const run = promisify(execFile);

const ok = (body: string): Reply => ({ status: 200, type: 'text/plain', body });

describe('HTTP/1.1 server', () => {
  let close: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await close?.();
    close = undefined;
  });

  async function serve(
    handle: Parameters<typeof serveHttp1>[0] = ({ method, path }) => ok(`${method} ${path}\n`),
    opts: Partial<Http1Options> = {},
  ) {
    const rejected: [Rejection, string][] = [];
    const s = await serveHttp1(handle, {
      port: 0,
      host: '127.0.0.1',
      onRejected: (reason, detail) => rejected.push([reason, detail]),
      ...opts,
    });
    close = () => s.close();
    return { port: s.port, rejected };
  }

  /** Writes `text` on a new connection (then half-closes, if asked) and reads until closed. */
  async function raw(port: number, text: string | string[], opts: { end?: boolean } = {}) {
    const sock = connect(port, '127.0.0.1');
    sock.setEncoding('latin1');
    let got = '';
    sock.on('data', (d: string) => (got += d));
    const closed = new Promise((r) => sock.once('close', r));
    await new Promise((r) => sock.once('connect', r));
    for (const part of [text].flat()) {
      sock.write(part, 'latin1');
      await new Promise((r) => setTimeout(r, 20));
    }
    if (opts.end) sock.end();
    await closed;
    return got;
  }

  const statuses = (text: string) =>
    [...text.matchAll(/^HTTP\/1\.1 (\d{3}) /gm)].map((m) => +m[1]!);

  it('answers curl, over one connection for several URLs, and HEAD without a body', async () => {
    const { port } = await serve();
    const base = `http://127.0.0.1:${port}`;
    const { stdout } = await run('curl', [
      '-s',
      '-w',
      ' [%{http_code} %{num_connects}]\n',
      `${base}/metrics?x=1`,
      `${base}/healthz`,
    ]);
    // The second transfer reused the connection (no new connect).
    expect(stdout).toBe('GET /metrics\n [200 1]\nGET /healthz\n [200 0]\n');
    const head = await run('curl', ['-s', '-I', `${base}/readyz`]);
    expect(head.stdout).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(head.stdout).toContain('content-length: 13\r\n'); // 'HEAD /readyz\n'
    expect(head.stdout.endsWith('\r\n\r\n')).toBe(true);
  });

  it("answers Python's http.client: keep-alive, then an HTTP/1.0 request that closes", async () => {
    const { port } = await serve();
    const script = `
import http.client, json, socket
c = http.client.HTTPConnection('127.0.0.1', ${port})
out = []
for p in ['/a', '/b?q', '/c']:
    c.request('GET', p)
    r = c.getresponse()
    out.append([r.status, r.read().decode(), r.getheader('connection')])
sock = c.sock
c.request('GET', '/d')
r = c.getresponse(); r.read()
out.append(c.sock is sock)
s = socket.create_connection(('127.0.0.1', ${port}))
s.sendall(b'GET /old HTTP/1.0\\r\\n\\r\\n')
data = b''
while True:
    chunk = s.recv(4096)
    if not chunk: break
    data += chunk
out.append(data.decode().split('\\r\\n')[0])
out.append('connection: close' in data.decode())
print(json.dumps(out))
`;
    const { stdout } = await run('python3', ['-c', script]);
    expect(JSON.parse(stdout)).toEqual([
      [200, 'GET /a\n', 'keep-alive'],
      [200, 'GET /b\n', 'keep-alive'],
      [200, 'GET /c\n', 'keep-alive'],
      true,
      'HTTP/1.1 200 OK',
      true,
    ]);
  });

  it('answers pipelined requests in order, and lone LF line ends', async () => {
    const { port } = await serve(async ({ path }) => {
      // The first reply is the slowest: order must still hold.
      if (path === '/1') await new Promise((r) => setTimeout(r, 50));
      return ok(`${path}\n`);
    });
    const got = await raw(
      port,
      'GET /1 HTTP/1.1\r\nhost: x\r\n\r\nGET /2 HTTP/1.1\nhost: x\n\n' +
        'GET /3 HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n',
    );
    expect(statuses(got)).toEqual([200, 200, 200]);
    expect(got.match(/\r\n\r\n\/\d\n/g)).toEqual(['\r\n\r\n/1\n', '\r\n\r\n/2\n', '\r\n\r\n/3\n']);
  });

  it('answers a request whose client half-closed after sending it', async () => {
    const { port } = await serve();
    const got = await raw(port, 'GET /x HTTP/1.1\r\nhost: x\r\n\r\n', { end: true });
    expect(statuses(got)).toEqual([200]);
    expect(got.endsWith('GET /x\n')).toBe(true);
  });

  it('turns away what is no HTTP/1.x request, with a status, a reason and a closed connection', async () => {
    const { port, rejected } = await serve();
    const cases: [string, number, Rejection][] = [
      ['hello\r\n\r\n', 400, 'bad_request'],
      ['GET /x HTTP/1.1\r\n\r\n', 400, 'bad_request'], // no host
      ['GET /x HTTP/1.1\r\nhost: x\r\n folded\r\n\r\n', 400, 'bad_request'],
      ['GET /x HTTP/1.1\r\nhost: x\r\nbad\rvalue: 1\r\n\r\n', 400, 'bad_request'],
      ['GET /x HTTP/1.1\r\nhost: x\r\ncontent-length: 1, 2\r\n\r\n', 400, 'bad_request'],
      ['GET x HTTP/1.1\r\nhost: x\r\n\r\n', 400, 'bad_request'],
      ['PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 505, 'version_not_supported'],
      [`GET /${'a'.repeat(9000)} HTTP/1.1\r\nhost: x\r\n\r\n`, 431, 'head_too_large'],
      [`GET / HTTP/1.1\r\nhost: x\r\nx: ${'a'.repeat(9000)}`, 431, 'head_too_large'],
    ];
    for (const [text, status] of cases) {
      // Each is the only reply, and the server closes (raw() returns once it has).
      expect(statuses(await raw(port, text))).toEqual([status]);
    }
    expect(rejected.map(([reason]) => reason)).toEqual(cases.map(([, , reason]) => reason));
    // A head cut short by the client's end: no need to wait for the head timeout.
    expect(statuses(await raw(port, 'GET /x HTTP/1.1\r\nho', { end: true }))).toEqual([400]);
    expect(rejected.at(-1)).toEqual([
      'bad_request',
      'the connection was half-closed within a request head',
    ]);
    expect(rejected[0]![1]).toBe('a malformed request line: "hello"');
    // It still serves.
    expect(await (await fetch(`http://127.0.0.1:${port}/ok`)).text()).toBe('GET /ok\n');
  });

  it('times out a request head that does not finish, and closes idle connections', async () => {
    const { port, rejected } = await serve(undefined, { headTimeoutMs: 150, keepAliveMs: 150 });
    const t0 = Date.now();
    expect(statuses(await raw(port, 'GET /x HTTP/1.1\r\nhost'))).toEqual([408]);
    expect(rejected).toEqual([['head_timeout', 'no complete request head within 150 ms']]);
    // Idle after a reply, and idle from the start: closed without a word.
    expect(statuses(await raw(port, 'GET /x HTTP/1.1\r\nhost: x\r\n\r\n'))).toEqual([200]);
    expect(await raw(port, '')).toBe('');
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it('answers a request with a body, then closes instead of reading it as a request', async () => {
    const { port } = await serve();
    const got = await raw(port, [
      'GET /x HTTP/1.1\r\nhost: x\r\ncontent-length: 18\r\n\r\n',
      'GET /y HTTP/1.1\r\n\r\n',
    ]);
    expect(statuses(got)).toEqual([200]);
    expect(got).toContain('connection: close\r\n');
  });

  it('answers 500 when the handler fails, and goes on', async () => {
    const { port } = await serve(({ path }) => {
      if (path === '/boom') throw new Error('boom');
      return ok('fine\n');
    });
    const r = await fetch(`http://127.0.0.1:${port}/boom`);
    expect([r.status, await r.text()]).toEqual([500, 'failed: boom\n']);
    expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toBe('fine\n');
  });

  it('replies to a client that sends many requests before reading, all in order', async () => {
    const { port } = await serve(({ path }) => ok(`${path} ${'x'.repeat(2000)}\n`));
    const n = 2000;
    let text = '';
    for (let i = 0; i < n; i++) text += `GET /${i} HTTP/1.1\r\nhost: x\r\n\r\n`;
    text += 'GET /last HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n';
    const sock: Socket = connect(port, '127.0.0.1');
    await new Promise((r) => sock.once('connect', r));
    sock.write(text);
    // Not read for a while: the server stops reading and writing until the client reads.
    sock.pause();
    await new Promise((r) => setTimeout(r, 300));
    let got = '';
    sock.setEncoding('latin1').on('data', (d: string) => (got += d));
    sock.resume();
    await new Promise((r) => sock.once('close', r));
    const paths = [...got.matchAll(/\r\n\r\n\/(\w+) /g)].map((m) => m[1]);
    expect(paths).toEqual([...Array.from({ length: n }, (_, i) => String(i)), 'last']);
  });

  it('closes connections beyond its limit at once', async () => {
    const { port } = await serve(undefined, { maxConnections: 1 });
    const first = connect(port, '127.0.0.1');
    await new Promise((r) => first.once('connect', r));
    await new Promise((r) => setTimeout(r, 50));
    expect(await raw(port, 'GET /x HTTP/1.1\r\nhost: x\r\n\r\n')).toBe('');
    first.destroy();
    await new Promise((r) => setTimeout(r, 50));
    expect(statuses(await raw(port, 'GET /x HTTP/1.1\r\nhost: x\r\n\r\n', { end: true }))).toEqual([
      200,
    ]);
  });
});
