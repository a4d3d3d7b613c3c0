// No kube-apiserver can run here: the real @kubernetes/client-node is tested against a
// loopback HTTPS server that speaks the API's wire protocol for the calls gk-export makes
// (GET object, 403/404 Status, watch streams of {type, object} lines that end and resume).
import type { ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  loadConnection,
  watchConnection,
  type ConnectionSettings,
} from '../../src/kube/connection.ts';
import { makeCerts, writeKubeconfig } from '../helpers/certs.ts';
import { capturingTelemetry } from '../helpers/reader.ts';
import { makeTmpDir, waitFor } from '../helpers/tmp.ts';

const NS = 'gatekeeper-system';
const CONN = `/apis/connection.gatekeeper.sh/v1alpha1/namespaces/${NS}/connections`;
const CM = `/api/v1/namespaces/${NS}/configmaps`;

function status(res: ServerResponse, code: number, reason: string) {
  res.writeHead(code, { 'content-type': 'application/json' });
  res.end(
    JSON.stringify({
      kind: 'Status',
      apiVersion: 'v1',
      status: 'Failure',
      reason,
      code,
      message: reason,
    }),
  );
}

const connection = (rv: string, config: Record<string, unknown>, driver = 'disk') => ({
  apiVersion: 'connection.gatekeeper.sh/v1alpha1',
  kind: 'Connection',
  metadata: { name: 'audit-connection', namespace: NS, resourceVersion: rv },
  spec: { driver, config },
});

describe('Connection discovery with the Kubernetes client', () => {
  let tmp: Awaited<ReturnType<typeof makeTmpDir>>;
  let server: ReturnType<typeof createServer>;
  let kubeconfig: string;
  const routes = new Map<string, (res: ServerResponse, url: URL) => void>();
  const seen: string[] = [];

  beforeEach(async () => {
    tmp = await makeTmpDir();
    const certs = makeCerts(tmp.dir);
    routes.clear();
    seen.length = 0;
    server = createServer({ key: certs.serverKey, cert: certs.serverCert }, (req, res) => {
      const url = new URL(req.url ?? '/', 'https://x');
      seen.push(
        `${req.method} ${url.pathname}${url.searchParams.get('watch') ? '?watch' : ''} ${req.headers.authorization ?? ''}`,
      );
      const key = `${url.pathname}${url.searchParams.get('watch') ? '?watch' : ''}`;
      const route = routes.get(key);
      if (route) route(res, url);
      else status(res, 404, 'NotFound');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    kubeconfig = await writeKubeconfig(tmp.dir, port, certs.caFile);
  });
  afterEach(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await tmp.cleanup();
  });

  const ref = () => ({
    name: 'audit-connection',
    namespace: NS,
    kubeconfigPath: kubeconfig,
    telemetry: capturingTelemetry(),
  });

  it('reads path and maxAuditResults from the Connection, authenticated with the kubeconfig', async () => {
    routes.set(`${CONN}/audit-connection`, (res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(connection('7', { path: '/data/topics', maxAuditResults: 2 })));
    });
    expect(await loadConnection(ref())).toEqual({
      from: 'Connection',
      root: '/data/topics',
      maxAuditResults: 2,
      resourceVersion: '7',
    });
    expect(seen[0]).toContain('Bearer test-token');
  });

  it('falls back to the legacy ConfigMap where the Connection kind is not served', async () => {
    routes.set(`${CM}/audit-connection`, (res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: { name: 'audit-connection', resourceVersion: '3' },
          data: { driver: 'disk', config: '{"path":"/legacy/topics","maxAuditResults":1}' },
        }),
      );
    });
    expect(await loadConnection(ref())).toEqual({
      from: 'ConfigMap',
      root: '/legacy/topics',
      maxAuditResults: 1,
      resourceVersion: '3',
    });
  });

  it.each([
    [
      'no RBAC (403)',
      () => routes.set(`${CONN}/audit-connection`, (res) => status(res, 403, 'Forbidden')),
      'RBAC',
    ],
    ['nothing found', () => undefined, 'neither a Connection nor a ConfigMap'],
    [
      'another driver',
      () =>
        routes.set(`${CONN}/audit-connection`, (res) => {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify(connection('1', { component: 'pubsub' }, 'dapr')));
        }),
      'only the "disk" driver',
    ],
    [
      'a bad maxAuditResults',
      () =>
        routes.set(`${CONN}/audit-connection`, (res) => {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify(connection('1', { path: '/x', maxAuditResults: 9 })));
        }),
      'maxAuditResults',
    ],
  ])('warns once and returns nothing on %s', async (_what, setup, reason) => {
    setup();
    const r = ref();
    expect(await loadConnection(r)).toBeUndefined();
    const warns = r.telemetry.logs.filter((l) => l.level === 'warn');
    expect(warns).toHaveLength(1);
    expect(String(warns[0]!.reason)).toContain(reason);
  });

  it('warns and returns nothing when no API server answers', async () => {
    const r = ref();
    server.closeAllConnections();
    await new Promise((res) => server.close(res));
    expect(await loadConnection(r)).toBeUndefined();
    expect(r.telemetry.logs.filter((l) => l.level === 'warn')).toHaveLength(1);
    server.listen(0); // let afterEach close it
  });

  it('watches from the resourceVersion, applies changes, and resumes a watch that ends', async () => {
    const versions: (string | null)[] = [];
    let watches = 0;
    routes.set(`${CONN}?watch`, (res, url) => {
      versions.push(url.searchParams.get('resourceVersion'));
      watches += 1;
      res.writeHead(200, { 'content-type': 'application/json' });
      if (watches === 1) {
        res.write(
          JSON.stringify({
            type: 'MODIFIED',
            object: connection('8', { path: '/a', maxAuditResults: 4 }),
          }) + '\n',
        );
        res.end(); // the server ends the watch: the client must resume from version 8
      } else {
        res.write(
          JSON.stringify({
            type: 'MODIFIED',
            object: connection('9', { path: '/b', maxAuditResults: 5 }),
          }) + '\n',
        );
      }
    });
    const got: ConnectionSettings[] = [];
    const r = ref();
    const stop = await watchConnection(r, { from: 'Connection', resourceVersion: '7' }, (s) =>
      got.push(s),
    );
    try {
      await waitFor(() => got.length === 2, 'two changes');
      expect(got.map((g) => [g.root, g.maxAuditResults])).toEqual([
        ['/a', 4],
        ['/b', 5],
      ]);
      expect(versions.slice(0, 2)).toEqual(['7', '8']);
    } finally {
      stop();
    }
  });
});
