import { mkdir, rename, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { encodeExportMsg } from '../../src/protocol/encode.ts';
import type { ExportMsg } from '../../src/protocol/record.ts';
import { readArgs, runCli } from '../helpers/cli.ts';
import { startKubeApi, type KubeApi } from '../helpers/kube-api.ts';
import { auditIdOf, violation } from '../helpers/runs.ts';
import { makeTmpDir, waitFor } from '../helpers/tmp.ts';

const NAME = 'gatekeeper-audit-channel';
const NAMESPACES = Array.from({ length: 17 }, (_, k) => `team-${k}`);

async function writeRun(root: string, index: number, msgs: ExportMsg[]): Promise<string> {
  const id = auditIdOf(index);
  const lines = [
    encodeExportMsg({ id, message: 'audit is started' }),
    ...msgs.map((m) => encodeExportMsg({ ...m, id })),
    encodeExportMsg({ id, message: 'audit is completed' }),
  ];
  const dir = join(root, 'audit-channel');
  await mkdir(dir, { recursive: true });
  const run = id.replaceAll(':', '_');
  await writeFile(join(dir, `${run}.txt`), lines.join('\n') + '\n');
  await rename(join(dir, `${run}.txt`), join(dir, `${run}.log`));
  await utimes(join(dir, `${run}.log`), 1_000_000 + index, 1_000_000 + index);
  return id;
}

describe('read --sink openreports', () => {
  let tmp: Awaited<ReturnType<typeof makeTmpDir>>;
  let api: KubeApi;
  beforeEach(async () => {
    tmp = await makeTmpDir();
    api = await startKubeApi(tmp.dir);
  });
  afterEach(async () => {
    await api.close();
    await tmp.cleanup();
  });

  it('leaves a Report per namespace with violations, and empties those whose violations are gone', async () => {
    const root = join(tmp.dir, 'topics');
    await mkdir(root);
    // Namespace k has k + 1 deny violations and one warn.
    const first: ExportMsg[] = NAMESPACES.flatMap((ns, k) => [
      ...Array.from({ length: k + 1 }, (_, i) =>
        violation('x', i, { resourceNamespace: ns, enforcementAction: 'deny' }),
      ),
      violation('x', 100, { resourceNamespace: ns, enforcementAction: 'warn' }),
    ]);
    const firstId = await writeRun(root, 1, first);
    const p = runCli([
      ...readArgs(root, join(tmp.dir, 'state'), '--sink', 'openreports'),
      '--kubeconfig',
      api.kubeconfig,
      '--openreports-max-backoff',
      '100ms',
    ]);
    try {
      const report = (ns: string) => api.report(NAME, ns);
      await waitFor(() => NAMESPACES.every((ns) => report(ns)), '17 Reports');
      NAMESPACES.forEach((ns, k) => {
        const r = report(ns)!;
        expect(r.summary).toEqual({ pass: 0, fail: k + 1, warn: 1, error: 0, skip: 0 });
        expect(r.results.filter((x) => x.result === 'fail')).toHaveLength(k + 1);
        expect(r.metadata.annotations!['gk-export/audit-id']).toBe(firstId);
      });

      const second = NAMESPACES.slice(0, 4).map((ns) =>
        violation('x', 500, { resourceNamespace: ns, enforcementAction: 'deny' }),
      );
      const secondId = await writeRun(root, 2, second);
      await waitFor(
        () =>
          NAMESPACES.every(
            (ns) => report(ns)!.metadata.annotations!['gk-export/audit-id'] === secondId,
          ),
        'the second run applied to every Report',
      );
      for (const ns of NAMESPACES.slice(0, 4)) {
        const r = report(ns)!;
        expect(r.summary).toEqual({ pass: 0, fail: 1, warn: 0, error: 0, skip: 0 });
        expect(r.results).toEqual([
          expect.objectContaining({
            result: 'fail',
            message: 'violation number 500 <with> & "escapes"',
          }),
        ]);
      }
      for (const ns of NAMESPACES.slice(4)) {
        expect(report(ns)!.summary.fail).toBe(0);
        expect(report(ns)!.results.filter((x) => x.result === 'fail')).toEqual([]);
      }
      expect(api.invalid).toEqual([]);
    } finally {
      await waitFor(() => p.stderr().includes('reader started'), 'the reader to start');
      p.child.kill('SIGTERM');
      expect((await p.exited).code).toBe(0);
    }
  });
});
