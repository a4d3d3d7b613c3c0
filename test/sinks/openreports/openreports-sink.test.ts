import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createDeadLetter } from '../../../src/dead-letter.ts';
import { encodeExportMsg } from '../../../src/protocol/encode.ts';
import type { ExportMsg } from '../../../src/protocol/record.ts';
import { createOpenReportsSink } from '../../../src/sinks/openreports/openreports-sink.ts';
import { resolveOpenReportsConfig } from '../../../src/sinks/openreports/options.ts';
import type { Delivery } from '../../../src/sinks/sink.ts';
import { startKubeApi, type KubeApi } from '../../helpers/kube-api.ts';
import { capturingTelemetry, metricValue, startReader } from '../../helpers/reader.ts';
import { auditIdOf, violation, writeCompletedRun } from '../../helpers/runs.ts';
import { makeTmpDir, waitFor } from '../../helpers/tmp.ts';

const CH = 'audit-channel';
const NAME = 'gatekeeper-audit-channel';

/** A run as the reader hands it over: markers around `msgs` (each given the run's id). */
function runOf(index: number, msgs: readonly ExportMsg[]): Delivery[] {
  const id = auditIdOf(index);
  const run = id.replaceAll(':', '_');
  const all: ExportMsg[] = [
    { id, message: 'audit is started' },
    ...msgs.map((m) => ({ ...m, id })),
    { id, message: 'audit is completed' },
  ];
  return all.map((msg, k) => ({
    key: `${CH}/${run}/${k + 1}`,
    source: 'audit',
    channel: CH,
    run,
    line: k + 1,
    raw: encodeExportMsg(msg),
    msg,
    ...(k === 0 ? { marker: 'started' as const } : {}),
    ...(k === all.length - 1 ? { marker: 'completed' as const } : {}),
  }));
}

/** `n` violations in namespace `ns` (deny unless said otherwise). */
const inNs = (ns: string, n: number, over: Partial<ExportMsg> = {}) =>
  Array.from({ length: n }, (_, i) =>
    violation('x', i, { resourceNamespace: ns, enforcementAction: 'deny', ...over }),
  );

describe('OpenReports sink', () => {
  let certs: Awaited<ReturnType<typeof makeTmpDir>>;
  let tmp: Awaited<ReturnType<typeof makeTmpDir>>;
  let api: KubeApi;
  // One API server (and certificate) for the file: making RSA keys is the slow part.
  beforeAll(async () => {
    certs = await makeTmpDir();
    api = await startKubeApi(certs.dir);
  });
  afterAll(async () => {
    await api.close();
    await certs.cleanup();
  });
  beforeEach(async () => {
    tmp = await makeTmpDir();
    api.reset();
  });
  afterEach(() => tmp.cleanup());

  const sinkWith = async (over: Record<string, unknown> = {}, telemetry = capturingTelemetry()) =>
    createOpenReportsSink(
      resolveOpenReportsConfig({ kubeconfig: api.kubeconfig, openreportsMaxBackoff: 20, ...over }),
      {
        telemetry,
        deadLetter: createDeadLetter(join(tmp.dir, 'state')),
        stateDir: join(tmp.dir, 'state'),
      },
    );

  async function deliver(sink: { write(b: Delivery[]): Promise<void> }, d: Delivery[], size = 50) {
    for (let i = 0; i < d.length; i += size) await sink.write(d.slice(i, i + size));
  }

  it('applies one Report per namespace and a ClusterReport, server-side, valid by the CRD schema', async () => {
    const sink = await sinkWith();
    await deliver(
      sink,
      runOf(1, [
        ...inNs('team-a', 3),
        ...inNs('team-b', 2, { enforcementAction: 'warn' }),
        violation('x', 7, { resourceNamespace: undefined, resourceKind: 'Namespace' }),
      ]),
    );
    expect(api.invalid).toEqual([]);
    const patches = api.requests.filter((r) => r.method === 'PATCH');
    expect(patches).toHaveLength(3);
    for (const p of patches) {
      expect(p.contentType).toBe('application/apply-patch+yaml');
      expect(p.query.get('fieldManager')).toBe('gk-export');
      expect(p.query.get('force')).toBe('true');
      expect(p.authorization).toBe('Bearer test-token');
    }
    expect(api.report(NAME, 'team-a')!.summary).toEqual({
      pass: 0,
      fail: 3,
      warn: 0,
      error: 0,
      skip: 0,
    });
    expect(api.report(NAME, 'team-b')!.summary).toMatchObject({ fail: 0, warn: 2 });
    expect(api.report(NAME)!.kind).toBe('ClusterReport');
    const r = api.report(NAME, 'team-a')!.results[0]!;
    expect(r).toMatchObject({
      source: 'gatekeeper',
      policy: 'K8sRequiredLabels',
      rule: 'constraint-0',
      result: 'fail',
      message: 'violation number 0 <with> & "escapes"',
      resources: [{ apiVersion: 'v1', kind: 'Pod', namespace: 'team-a', name: 'pod-0' }],
      properties: {
        enforcementAction: 'deny',
        auditId: auditIdOf(1),
        constraintGroup: 'constraints.gatekeeper.sh',
        constraintVersion: 'v1beta1',
      },
    });
    await sink.close();
  });

  it('caps a report at --openreports-max-results, with the true counts and an annotation', async () => {
    const sink = await sinkWith({ openreportsMaxResults: 10 });
    await deliver(
      sink,
      runOf(1, [...inNs('big', 25), ...inNs('big', 5, { enforcementAction: 'dryrun' })]),
    );
    const rep = api.report(NAME, 'big')!;
    expect(rep.results).toHaveLength(10);
    expect(rep.summary).toMatchObject({ fail: 25, warn: 5 });
    expect(rep.metadata.annotations!['gk-export/results-truncated']).toBe('10 of 30 results kept');
    expect(rep.configuration).toEqual({ limits: { maxResults: 10 } });
    expect(api.invalid).toEqual([]);
  });

  it('retries 429, 5xx and conflicts with backoff, and acknowledges the run only once applied', async () => {
    const telemetry = capturingTelemetry();
    const sink = await sinkWith({}, telemetry);
    api.fault({ status: 429, retryAfter: '0' });
    api.fault({ status: 503, times: 2 });
    api.fault({ status: 409, path: '/reports/' });
    await deliver(sink, runOf(1, inNs('team-a', 4)));
    expect(api.report(NAME, 'team-a')!.summary.fail).toBe(4);
    expect(
      await metricValue(telemetry, 'gk_export_sink_retries_total', { sink: 'openreports' }),
    ).toBe(4);

    api.fault({ status: 500, times: Infinity, path: '/reports/' });
    let acked = false;
    const last = runOf(2, inNs('team-a', 2));
    await sink.write(last.slice(0, 2));
    const before = api.requests.length;
    const pending = sink.write(last.slice(2)).then(() => (acked = true));
    await waitFor(() => api.requests.length > before + 3, 'a few retries');
    expect(acked).toBe(false);
    api.clearFaults();
    await pending;
    expect(api.report(NAME, 'team-a')!.summary.fail).toBe(2);
  });

  it('moves the run checkpoint only once all of its reports are applied', async () => {
    const root = join(tmp.dir, 'topics');
    const state = join(tmp.dir, 'state');
    await writeCompletedRun(root, CH, auditIdOf(1), 300);
    api.fault({ status: 503, times: Infinity, path: '/reports/' });
    const reader = startReader(root, state, { sink: await sinkWith(), batchMaxRecords: 50 });
    const done = async () => {
      const text = await readFile(join(state, 'checkpoints.json'), 'utf8').catch(() => '');
      const file = text
        ? (JSON.parse(text) as { checkpoints: { done: boolean; line: number }[] })
        : undefined;
      return file?.checkpoints.find((c) => c.done);
    };
    try {
      await waitFor(() => api.requests.filter((r) => r.method === 'PATCH').length > 3, 'retries');
      expect(await done()).toBeUndefined();
      api.clearFaults();
      expect((await waitFor(done, 'the run checkpointed as done')).line).toBe(302);
      expect(api.report(NAME, 'ns-0')!.summary.fail).toBeGreaterThan(0);
    } finally {
      await reader.stop();
    }
  });

  it('sets a refused report aside in the dead letter with the object and the status, and applies the rest', async () => {
    const telemetry = capturingTelemetry();
    const sink = await sinkWith({}, telemetry);
    api.fault({ status: 403, path: '/namespaces/locked/', times: Infinity });
    await deliver(sink, runOf(1, [...inNs('locked', 2), ...inNs('open', 3)]));
    expect(api.report(NAME, 'open')!.summary.fail).toBe(3);
    const dead = (await readFile(join(tmp.dir, 'state', 'dead-letter.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(dead).toHaveLength(1);
    expect(dead[0]).toMatchObject({ sink: 'openreports', status: 403, code: 'http_403' });
    const obj = JSON.parse((dead[0]!.lines as string[])[0]!) as { metadata: { namespace: string } };
    expect(obj.metadata.namespace).toBe('locked');
    expect(telemetry.logs.some((l) => l.level === 'error' && l.sink === 'openreports')).toBe(true);
  });

  it('after a crash in the middle of a run, applies the whole run from its journal', async () => {
    const run = runOf(1, [...inNs('team-a', 40), ...inNs('team-b', 40)]);
    const first = await sinkWith();
    await deliver(first, run.slice(0, 60)); // checkpointed up to line 60; then the process dies
    const second = await sinkWith();
    // The reader resumes after its checkpoint (here: line 50, so 10 lines come again).
    await deliver(second, run.slice(50));
    expect(api.report(NAME, 'team-a')!.summary.fail).toBe(40);
    expect(api.report(NAME, 'team-b')!.summary.fail).toBe(40);
    expect(api.report(NAME, 'team-a')!.results).toHaveLength(40);
  });

  it('does not apply again a run repeated after its reports were applied', async () => {
    const first = await sinkWith();
    const run = runOf(1, inNs('team-a', 5));
    await deliver(first, run);
    const patches = api.requests.length;
    const second = await sinkWith();
    await second.write(run.slice(-3));
    expect(api.requests.length).toBe(patches);
  });

  it('empties the reports of namespaces left by an earlier process, found by listing', async () => {
    await deliver(await sinkWith(), runOf(1, [...inNs('old', 2), ...inNs('kept', 1)]));
    const restarted = await sinkWith();
    await deliver(restarted, runOf(2, inNs('kept', 1)));
    expect(api.requests.some((r) => r.method === 'GET' && r.query.get('labelSelector'))).toBe(true);
    expect(api.report(NAME, 'old')!.results).toEqual([]);
    expect(api.report(NAME, 'old')!.summary.fail).toBe(0);
  });

  it('is answered 422 Invalid by the API stand-in for an object the CRD does not allow', async () => {
    const { createReportsApi, ReportsApiError } =
      await import('../../../src/sinks/openreports/kube-api.ts');
    const client = await createReportsApi(api.kubeconfig);
    const bad = {
      apiVersion: 'openreports.io/v1alpha1',
      kind: 'Report',
      metadata: { name: 'x', namespace: 'a' },
      results: [{ policy: 'p', result: 'bogus', extra: 1 }],
      summary: { fail: '1' },
    };
    const err = await client.apply(bad).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ReportsApiError);
    expect((err as InstanceType<typeof ReportsApiError>).status).toBe(422);
    expect(api.invalid.join('\n')).toMatch(/result: "bogus" is not one of/);
    expect(api.invalid.join('\n')).toMatch(/\.extra: unknown field/);
    expect(api.invalid.join('\n')).toMatch(/summary\.fail: not an integer/);
  });

  it('gives up on a request the API server does not answer, as on a connection error', async () => {
    // Before, an API server that accepted a request and never answered held the run for good.
    const { createReportsApi, ReportsApiError } =
      await import('../../../src/sinks/openreports/kube-api.ts');
    const client = await createReportsApi(api.kubeconfig, { timeoutMs: 300 });
    api.fault({ status: 0 });
    const obj = {
      apiVersion: 'openreports.io/v1alpha1',
      kind: 'Report',
      metadata: { name: 'x', namespace: 'a' },
      results: [],
      summary: {},
    };
    const err = await client.apply(obj).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ReportsApiError);
    expect((err as InstanceType<typeof ReportsApiError>).retryable).toBe(true);
    expect(String(err)).toMatch(/no answer within 300 ms/);
    // The next attempt is answered.
    await client.apply(obj);
    expect(api.report('x', 'a')).toBeDefined();
  });

  it('ignores admission records', async () => {
    const sink = await sinkWith();
    const [, v] = runOf(1, inNs('a', 1));
    await sink.write([{ ...v!, source: 'admission' }]);
    expect(api.requests).toEqual([]);
  });
});
