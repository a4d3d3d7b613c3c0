// No kube-apiserver can run here: this loopback HTTPS server speaks the API's wire protocol
// for the calls the OpenReports sink makes (server-side apply PATCH of Reports and
// ClusterReports, label-selected lists, Status errors) and validates every applied object
// against the openreports.io CRDs vendored in test/fixtures/openreports.
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { parse } from 'yaml';
import { makeCerts, writeKubeconfig } from './certs.ts';
import { validateSchema, type Schema } from './openapi-schema.ts';

const GV = '/apis/openreports.io/v1alpha1';

function crdSchema(file: string): Schema {
  const crd = parse(
    readFileSync(new URL(`../fixtures/openreports/${file}`, import.meta.url), 'utf8'),
  ) as { spec: { versions: { name: string; schema: { openAPIV3Schema: Schema } }[] } };
  return crd.spec.versions.find((v) => v.name === 'v1alpha1')!.schema.openAPIV3Schema;
}

const SCHEMAS: Record<string, Schema> = {
  reports: crdSchema('openreports.io_reports.yaml'),
  clusterreports: crdSchema('openreports.io_clusterreports.yaml'),
};
const KINDS: Record<string, string> = { reports: 'Report', clusterreports: 'ClusterReport' };

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const QUALIFIED_NAME =
  /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

/** An answer the test wants instead of the normal one, for the next matching request. */
export interface Fault {
  /** The status answered; 0: no answer at all (the request hangs until the server closes). */
  readonly status: number;
  readonly retryAfter?: string;
  /** Only requests whose path contains this. */
  readonly path?: string;
  /** How many requests get it (default 1); Infinity for all. */
  times?: number;
}

export interface ApiRequest {
  readonly method: string;
  readonly path: string;
  readonly query: URLSearchParams;
  readonly contentType: string | undefined;
  readonly authorization: string | undefined;
}

/**
 * Starts the API stand-in and writes a kubeconfig for it. `objects` holds what was applied
 * (`reports/<ns>/<name>`, `clusterreports/<name>`); `invalid` every schema violation seen
 * (the server answered 422 Invalid to them).
 */
export async function startKubeApi(dir: string) {
  const certs = makeCerts(dir);
  const objects = new Map<string, Record<string, unknown>>();
  const requests: ApiRequest[] = [];
  const invalid: string[] = [];
  const faults: Fault[] = [];
  let version = 1;

  const server = createServer({ key: certs.serverKey, cert: certs.serverCert }, (req, res) => {
    void handle(req, res).catch((err: unknown) => status(res, 500, 'InternalError', String(err)));
  });

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? '/', 'https://x');
    let body = '';
    for await (const chunk of req) body += String(chunk);
    requests.push({
      method: req.method ?? '',
      path: url.pathname,
      query: url.searchParams,
      contentType: req.headers['content-type'],
      authorization: req.headers.authorization,
    });
    const fault = faults.find((f) => !f.path || url.pathname.includes(f.path));
    if (fault) {
      fault.times = (fault.times ?? 1) - 1;
      if (fault.times <= 0) faults.splice(faults.indexOf(fault), 1);
      if (fault.status === 0) return;
      const headers: Record<string, string> = fault.retryAfter
        ? { 'retry-after': fault.retryAfter }
        : {};
      return status(res, fault.status, 'Injected', `injected ${fault.status}`, headers);
    }
    const m =
      /^\/apis\/openreports\.io\/v1alpha1\/(?:namespaces\/([^/]+)\/)?(reports|clusterreports)(?:\/([^/]+))?$/.exec(
        url.pathname,
      );
    if (!m) return status(res, 404, 'NotFound', `no route ${url.pathname}`);
    const [, ns, plural, name] = m as unknown as [string, string | undefined, string, string?];
    if (req.method === 'GET' && !name) return list(res, plural!, ns, url.searchParams);
    if (req.method === 'GET' && name) {
      const o = objects.get(key(plural!, ns, name));
      if (!o) return status(res, 404, 'NotFound', `${plural} ${name} not found`);
      return json(res, 200, o);
    }
    if (req.method !== 'PATCH' || !name) return status(res, 405, 'MethodNotAllowed', req.method!);
    if (req.headers['content-type'] !== 'application/apply-patch+yaml') {
      return status(res, 415, 'UnsupportedMediaType', String(req.headers['content-type']));
    }
    if (url.searchParams.get('fieldManager') !== 'gk-export') {
      return status(res, 422, 'Invalid', 'fieldManager is required for apply');
    }
    if ((plural === 'reports') !== (ns !== undefined)) {
      return status(res, 404, 'NotFound', 'wrong scope');
    }
    const obj = parse(body) as Record<string, unknown>;
    const problems = check(plural!, ns, name, obj);
    if (problems.length > 0) {
      invalid.push(...problems);
      return status(res, 422, 'Invalid', problems.join('; '));
    }
    const k = key(plural!, ns, name);
    const existed = objects.has(k);
    const meta = obj.metadata as Record<string, unknown>;
    const stored = {
      ...obj,
      metadata: { ...meta, resourceVersion: String(++version), uid: `uid-${k}` },
    };
    objects.set(k, stored);
    return json(res, existed ? 200 : 201, stored);
  }

  function check(
    plural: string,
    ns: string | undefined,
    name: string,
    obj: Record<string, unknown>,
  ) {
    const where = key(plural, ns, name);
    const problems = validateSchema(SCHEMAS[plural]!, obj).map((p) => `${where}: ${p}`);
    if (obj.apiVersion !== 'openreports.io/v1alpha1') problems.push(`${where}: apiVersion`);
    if (obj.kind !== KINDS[plural]) problems.push(`${where}: kind ${String(obj.kind)}`);
    const meta = (obj.metadata ?? {}) as {
      name?: string;
      namespace?: string;
      labels?: Record<string, unknown>;
      annotations?: Record<string, unknown>;
    };
    if (meta.name !== name) problems.push(`${where}: metadata.name does not match the URL`);
    if (!DNS_SUBDOMAIN.test(name) || name.length > 253) problems.push(`${where}: bad name`);
    if (meta.namespace !== ns) problems.push(`${where}: metadata.namespace does not match`);
    for (const [k, v] of Object.entries(meta.labels ?? {})) {
      if (
        !QUALIFIED_NAME.test(k) ||
        typeof v !== 'string' ||
        !LABEL_VALUE.test(v) ||
        v.length > 63
      ) {
        problems.push(`${where}: bad label ${k}=${String(v)}`);
      }
    }
    for (const [k, v] of Object.entries(meta.annotations ?? {})) {
      if (!QUALIFIED_NAME.test(k) || typeof v !== 'string')
        problems.push(`${where}: annotation ${k}`);
    }
    return problems;
  }

  function list(res: ServerResponse, plural: string, ns: string | undefined, q: URLSearchParams) {
    const selector = (q.get('labelSelector') ?? '')
      .split(',')
      .filter(Boolean)
      .map((s) => s.split('='));
    const items = [...objects.entries()]
      .filter(([k]) => k.startsWith(`${plural}/`) && (!ns || k.startsWith(`${plural}/${ns}/`)))
      .map(([, o]) => o)
      .filter((o) => {
        const labels = ((o.metadata as { labels?: Record<string, string> }).labels ?? {}) as Record<
          string,
          string
        >;
        return selector.every(([k, v]) => labels[k!] === v);
      });
    json(res, 200, {
      apiVersion: 'openreports.io/v1alpha1',
      kind: `${KINDS[plural]}List`,
      metadata: { resourceVersion: String(version) },
      items,
    });
  }

  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const kubeconfig = await writeKubeconfig(dir, port, certs.caFile);

  return {
    kubeconfig,
    objects,
    requests,
    invalid,
    /** Answers matching requests with `fault` first. */
    fault(f: Fault) {
      faults.push({ ...f });
    },
    clearFaults() {
      faults.length = 0;
    },
    /** Forgets every object, request, fault and schema violation (between tests). */
    reset() {
      objects.clear();
      requests.length = 0;
      invalid.length = 0;
      faults.length = 0;
    },
    /** The Report of `name` in `ns`, or the ClusterReport `name` (ns undefined). */
    report(name: string, ns?: string) {
      return objects.get(key(ns ? 'reports' : 'clusterreports', ns, name)) as
        | (Record<string, unknown> & {
            summary: Record<string, number>;
            results: Record<string, unknown>[];
            metadata: { annotations?: Record<string, string> };
          })
        | undefined;
    },
    async close() {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

export type KubeApi = Awaited<ReturnType<typeof startKubeApi>>;

function key(plural: string, ns: string | undefined, name: string) {
  return ns ? `${plural}/${ns}/${name}` : `${plural}/${name}`;
}

function json(res: ServerResponse, code: number, body: unknown) {
  res.writeHead(code, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

function status(
  res: ServerResponse,
  code: number,
  reason: string,
  message: string,
  headers: Record<string, string> = {},
) {
  res.writeHead(code, { 'content-type': 'application/json', ...headers });
  res.end(
    JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason, code, message }),
  );
}

export { GV as OPENREPORTS_PATH };
