import { mkdir } from 'node:fs/promises';
import { connect, createServer, type AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { readinessCheck } from '../../src/server/health.ts';
import { startHttpServer } from '../../src/server/http-server.ts';
import { capturingTelemetry } from '../helpers/reader.ts';
import { freePort } from '../helpers/ports.ts';
import { writeCompletedRun, auditIdOf } from '../helpers/runs.ts';
import { waitFor } from '../helpers/tmp.ts';
import { useWorkspace } from '../helpers/workspace.ts';

describe('metrics and health server', () => {
  const ws = useWorkspace();
  /** `read` on the workspace, serving on `port`. */
  const readOn = (port: number) =>
    ws.cli(['read', '--root', ws.root, '--state-dir', ws.state, '--http-port', String(port)]);

  it('answers /healthz, /readyz and /metrics, and reports a failing sink as not ready', async () => {
    const telemetry = capturingTelemetry();
    const state = ws.state;
    await mkdir(state);
    const server = await startHttpServer({
      port: 0,
      host: '127.0.0.1',
      metrics: telemetry.metrics,
      readiness: readinessCheck({
        root: ws.root,
        stateDir: state,
        metrics: telemetry.metrics,
      }),
      telemetry,
    });
    try {
      const base = `http://127.0.0.1:${server.port}`;
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
      expect(await (await fetch(`${base}/readyz`)).json()).toEqual({ ready: true, reasons: [] });
      telemetry.metrics.recordsRead.inc({ source: 'audit' }, 3);
      expect(await (await fetch(`${base}/metrics`)).text()).toContain(
        'gk_export_records_read_total{source="audit"} 3',
      );
      telemetry.metrics.sinkPermanentFailure.set({ sink: 'webhook' }, 1);
      const r = await fetch(`${base}/readyz`);
      expect(r.status).toBe(503);
      expect(((await r.json()) as { reasons: string[] }).reasons[0]).toContain('webhook');
      expect((await fetch(`${base}/nope`)).status).toBe(404);
    } finally {
      await server.close();
      await server.close();
    }
  });

  it('counts the requests it turns away, and logs one line a minute for each reason', async () => {
    const telemetry = capturingTelemetry();
    const server = await startHttpServer({
      port: 0,
      host: '127.0.0.1',
      metrics: telemetry.metrics,
      readiness: async () => ({ ready: true, reasons: [] }),
      telemetry,
    });
    try {
      const send = (text: string) =>
        new Promise<string>((resolve) => {
          let got = '';
          const sock = connect(server.port, '127.0.0.1', () => sock.write(text));
          sock.setEncoding('latin1').on('data', (d: string) => (got += d));
          sock.on('close', () => resolve(got));
        });
      for (let i = 0; i < 3; i++)
        expect(await send('nonsense\r\n\r\n')).toMatch(/^HTTP\/1\.1 400 /);
      expect(await send('GET / HTTP/3.0\r\n\r\n')).toMatch(/^HTTP\/1\.1 505 /);
      const post = await fetch(`http://127.0.0.1:${server.port}/metrics`, { method: 'POST' });
      expect([post.status, post.headers.get('allow')]).toEqual([405, 'GET, HEAD']);
      const text = await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text();
      expect(text).toContain('gk_export_http_rejected_total{reason="bad_request"} 3');
      expect(text).toContain('gk_export_http_rejected_total{reason="version_not_supported"} 1');
      const warned = telemetry.logs.filter((l) => l.level === 'warn');
      expect(warned.map((l) => [l.reason, l.detail])).toEqual([
        ['bad_request', 'a malformed request line: "nonsense"'],
        ['version_not_supported', 'HTTP/3.0 (1.0 and 1.1 are served)'],
      ]);
    } finally {
      await server.close();
    }
  });

  it('`read` on a port another process listens on: one line and exit 2', async () => {
    const other = createServer();
    await new Promise<void>((r) => other.listen(0, '0.0.0.0', r));
    const port = (other.address() as AddressInfo).port;
    try {
      const p = readOn(port);
      expect((await p.exited).code).toBe(2);
      expect(p.stderr()).toBe(
        `gk-export read: cannot listen on --http-port ${port} (0.0.0.0): another process listens on it; choose another port, or 0 to serve no metrics\n`,
      );
    } finally {
      await new Promise((r) => other.close(r));
    }
  });

  it('is served by `read` on --http-port with the reader counters', async () => {
    await writeCompletedRun(ws.root, 'c', auditIdOf(1), 4);
    const port = await freePort();
    const p = readOn(port);
    try {
      await waitFor(() => p.lines().length === 4, 'the violations');
      const text = await waitFor(async () => {
        const t = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
        return t.includes('gk_export_runs_completed_total{state="complete"} 1') ? t : undefined;
      }, 'the metrics');
      expect(text).toContain('gk_export_records_delivered_total{sink="stdout"} 4');
      expect(text).toContain('gk_export_oldest_undelivered_age_seconds 0');
      expect(text).toContain('gk_export_process_resident_memory_bytes');
    } finally {
      p.child.kill('SIGTERM');
      expect((await p.exited).code).toBe(0);
    }
  });
});
