import { mkdir, writeFile } from 'node:fs/promises';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeCerts } from '../helpers/certs.ts';
import { runCli } from '../helpers/cli.ts';
import { makeTmpDir, waitFor } from '../helpers/tmp.ts';

describe('read --config FILE', () => {
  let tmp: Awaited<ReturnType<typeof makeTmpDir>>;
  beforeEach(async () => {
    tmp = await makeTmpDir();
  });
  afterEach(() => tmp.cleanup());

  async function check(yaml: string, args: string[] = [], env: NodeJS.ProcessEnv = {}) {
    const file = join(tmp.dir, 'config.yaml');
    await writeFile(file, yaml);
    const p = runCli(['read', '--check-config', '--config', file, ...args], {
      env: { ROOT_PATH: '', ...env },
    });
    const { code } = await p.exited;
    return { code, out: p.stdout(), err: p.stderr(), file };
  }

  const webhook = (name: string, more = '') =>
    `  - name: ${name}\n    type: webhook\n    url: https://r.example/in\n${more}`;

  it.each([
    [
      'sinks:\n' + webhook('team-a') + webhook('siem', '    urll: https://x.example/\n'),
      'sinks[1].urll: unknown key',
      8,
    ],
    ['sinks:\n' + webhook('a') + webhook('a'), 'sinks[1].name: duplicate sink name "a"', 5],
    ['maxAuditResults: [1]', 'maxAuditResults: wrong type', 1],
    ['root: /a\nmaxAuditResults: 9', 'maxAuditResults: invalid value 9', 2],
    ['sinks:\n' + webhook('a', '    format: xml\n'), 'sinks[0].format: invalid value xml', 5],
    ['sinks:\n' + webhook('a', '    gzip: maybe\n'), 'sinks[0].gzip: invalid value maybe', 5],
    ['sinks:\n' + webhook('a', '    concurrency: true\n'), 'sinks[0].concurrency: wrong type', 5],
    [
      'sinks:\n' + webhook('a', '    route:\n      namespace: [x]\n'),
      'sinks[0].route.namespace: unknown key',
      6,
    ],
    [
      'sinks:\n' + webhook('a', '    route:\n      namespaces: [1]\n'),
      'sinks[0].route.namespaces[0]: wrong type',
      6,
    ],
    ['sinks:\n' + webhook('a', '    dropFields: [id]\n'), 'sinks[0].dropFields[0]', 5],
    ['sinks:\n' + webhook('a', '    maxLag: {minutes: 3}\n'), 'sinks[0].maxLag.minutes', 5],
    ['sinks:\n  - name: a\n    type: kafka\n', 'sinks[0].type: unknown sink type', 3],
    ['sinks:\n  - name: a\n    type: webhook\n', 'sinks[0]: a webhook sink needs url', 2],
    ['sinks:\n  - name: Team_A\n    type: stdout\n', 'sinks[0].name: sink name', 2],
    ['sinks:\n  - name: a\n    type: stdout\n    url: x\n', 'sinks[0].url: unknown key', 4],
    ['sinks:\n  - name: r\n    type: openreports\n    changesOnly: true\n', 'changesOnly', 4],
    ['rooot: /x', 'rooot: unknown key', 1],
    ['a: [', 'not valid YAML', 1],
  ])('refuses %j with one line naming %s and its line, exit 2', async (yaml, what, line) => {
    const r = await check(yaml);
    expect(r.code).toBe(2);
    const lines = r.err.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(what);
    expect(lines[0]).toContain(`${r.file}:${line}`);
  });

  it('refuses a file that is not there, and sinks in the file beside --sink', async () => {
    const p = runCli(['read', '--check-config', '--config', join(tmp.dir, 'nope.yaml')]);
    expect((await p.exited).code).toBe(2);
    expect(p.stderr()).toContain('nope.yaml');
    const r = await check('sinks:\n' + webhook('a'), ['--sink', 'stdout']);
    expect(r.code).toBe(2);
    expect(r.err).toContain('--sink');
  });

  it('prints the resolved sinks with their routes, and no secret', async () => {
    const r = await check(
      [
        'sinks:',
        '  - name: team-a',
        '    type: webhook',
        '    url: https://user:s3cret@team-a.example/in',
        '    headers: { X-Api-Key: k3y }',
        '    flushInterval: 2s',
        '    route: { namespaces: [team-a-*], enforcementActions: [deny] }',
        '    dropFields: [resourceLabels]',
        '    maxLag: { runs: 10, bytes: 1GiB }',
        '  - name: siem',
        '    type: webhook',
        '    url: https://siem.example/in',
        '    changesOnly: true',
        '  - name: log',
        '    type: stdout',
        '    format: gatekeeper-log',
        '',
      ].join('\n'),
    );
    expect(r.code, r.err).toBe(0);
    expect(r.out).not.toContain('s3cret');
    expect(r.out).not.toContain('k3y');
    const { sinks } = JSON.parse(r.out) as { sinks: Record<string, unknown>[] };
    expect(sinks.map((s) => [s.name, s.type, s.changesOnly])).toEqual([
      ['team-a', 'webhook', false],
      ['siem', 'webhook', true],
      ['log', 'stdout', false],
    ]);
    expect(sinks[0]).toMatchObject({
      route: {
        namespaces: ['team-a-*'],
        enforcementActions: ['deny'],
        dropFields: ['resourceLabels'],
      },
      maxLag: { runs: 10, bytes: 1024 ** 3 },
      webhook: { flushIntervalMs: 2000, headers: { 'X-Api-Key': 'REDACTED' } },
    });
    expect(sinks[2]).toMatchObject({ format: 'gatekeeper-log' });
  });

  it('takes the file from GK_EXPORT_CONFIG', async () => {
    const file = join(tmp.dir, 'env.yaml');
    await writeFile(file, 'maxAuditResults: 1\n');
    const p = runCli(['read', '--check-config'], { env: { GK_EXPORT_CONFIG: file } });
    expect((await p.exited).code).toBe(0);
    expect(JSON.parse(p.stdout()).config.maxAuditResults).toBe(1);
  });

  it('ranks a flag over the environment over the file over the default', async () => {
    const yaml = 'root: /from-file/topics\nmaxAuditResults: 1\nmaxOpenFiles: 100\n';
    const env = { GK_EXPORT_MAX_AUDIT_RESULTS: '2', GK_EXPORT_MAX_OPEN_FILES: '200' };
    const fileOnly = JSON.parse((await check(yaml)).out).config;
    expect(fileOnly).toMatchObject({
      root: '/from-file/topics',
      stateDir: '/from-file/.gk-export-state',
      maxAuditResults: 1,
      maxOpenFiles: 100,
      abandonAfterMs: 600_000,
    });
    const withEnv = JSON.parse((await check(yaml, [], env)).out).config;
    expect(withEnv).toMatchObject({ maxAuditResults: 2, maxOpenFiles: 200 });
    const withFlag = JSON.parse((await check(yaml, ['--max-audit-results', '4'], env)).out).config;
    expect(withFlag).toMatchObject({ maxAuditResults: 4, maxOpenFiles: 200 });
    const rootEnv = JSON.parse((await check(yaml, [], { ROOT_PATH: '/env/topics' })).out).config;
    expect(rootEnv.root).toBe('/env/topics');
  });

  it("ranks the file over the Gatekeeper Connection (the Connection's path where the file has no root)", async () => {
    const certs = makeCerts(tmp.dir);
    const server = createServer({ key: certs.serverKey, cert: certs.serverCert }, (req, res) => {
      const url = new URL(req.url ?? '/', 'https://x');
      if (
        url.pathname.endsWith('/connections/audit-connection') &&
        !url.searchParams.get('watch')
      ) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            apiVersion: 'connection.gatekeeper.sh/v1alpha1',
            kind: 'Connection',
            metadata: {
              name: 'audit-connection',
              namespace: 'gatekeeper-system',
              resourceVersion: '1',
            },
            spec: {
              driver: 'disk',
              config: { path: join(tmp.dir, 'conn/topics'), maxAuditResults: 2 },
            },
          }),
        );
        return;
      }
      // Watches stay open and quiet.
      if (url.searchParams.get('watch')) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.flushHeaders();
        return;
      }
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(
        '{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}',
      );
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const kubeconfig = join(tmp.dir, 'kubeconfig');
      await writeFile(
        kubeconfig,
        [
          'apiVersion: v1',
          'kind: Config',
          'clusters:',
          '- name: t',
          `  cluster: { server: 'https://127.0.0.1:${(server.address() as AddressInfo).port}', certificate-authority: ${certs.caFile} }`,
          'users:',
          '- name: r',
          '  user: { token: t }',
          'contexts:',
          '- name: t',
          '  context: { cluster: t, user: r }',
          'current-context: t',
          '',
        ].join('\n'),
      );
      const started = async (yaml: string) => {
        const file = join(tmp.dir, 'config.yaml');
        await writeFile(file, yaml);
        const p = runCli(
          [
            'read',
            '--config',
            file,
            '--connection',
            'audit-connection',
            '--kubeconfig',
            kubeconfig,
          ],
          { env: { ROOT_PATH: '' } },
        );
        await waitFor(() => p.stderr().includes('"reader started"'), 'the reader to start').catch(
          (err: unknown) => {
            throw new Error(`${(err as Error).message}: ${p.stderr().slice(-2000)}`);
          },
        );
        p.child.kill('SIGTERM');
        await p.exited;
        return JSON.parse(
          p
            .stderr()
            .split('\n')
            .find((l) => l.includes('"reader started"'))!,
        ) as {
          root: string;
        };
      };
      await mkdir(join(tmp.dir, 'file'), { recursive: true });
      const fromFile = await started(`root: ${join(tmp.dir, 'file/topics')}\nhttpPort: 0\n`);
      expect(fromFile.root).toBe(join(tmp.dir, 'file/topics'));
      const fromConnection = await started('httpPort: 0\n');
      expect(fromConnection.root).toBe(join(tmp.dir, 'conn/topics'));
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});
