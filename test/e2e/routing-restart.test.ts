import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.ts';
import { startReceiver, type Received } from '../helpers/receiver.ts';
import { namespaceOf, receivedRecords, recordId, writeNamespacedRun } from '../helpers/routing.ts';
import { makeTmpDir, waitFor } from '../helpers/tmp.ts';

const RUNS = 8;
const PER_RUN = 200;

/** Every record id must travel under one Idempotency-Key, with the same records each time. */
function expectStableKeys(received: readonly Received[]) {
  const keyOf = new Map<string, string>();
  const bodyOf = new Map<string, string>();
  for (const r of received) {
    const key = String(r.headers['idempotency-key']);
    expect(bodyOf.get(key) ?? r.body, `request ${key} sent with other records`).toBe(r.body);
    bodyOf.set(key, r.body);
    for (const { id } of receivedRecords([r])) {
      expect(keyOf.get(id) ?? key, `record ${id} sent under two keys`).toBe(key);
      keyOf.set(id, key);
    }
  }
  return bodyOf.size;
}

describe('two sinks across SIGKILLs', () => {
  let tmp: Awaited<ReturnType<typeof makeTmpDir>>;
  const receivers: Awaited<ReturnType<typeof startReceiver>>[] = [];
  beforeEach(async () => {
    tmp = await makeTmpDir();
  });
  afterEach(async () => {
    for (const r of receivers.splice(0)) await r.close();
    await tmp.cleanup();
  });

  it('delivers every record of each sink at least once, in order, each request under one Idempotency-Key across retries and restarts', async () => {
    const root = join(tmp.dir, 'topics');
    await mkdir(root);
    for (let i = 0; i < RUNS; i++) {
      await writeNamespacedRun(root, i % 2 ? 'odd' : 'even', i, PER_RUN);
    }
    const team = await startReceiver();
    const siem = await startReceiver();
    receivers.push(team, siem);
    // The SIEM refuses every third request: retries, interleaved with the kills.
    let n = 0;
    siem.setDecider(() => (n++ % 3 === 2 ? { status: 503 } : { status: 200 }));
    const config = join(tmp.dir, 'config.yaml');
    await writeFile(
      config,
      [
        `root: ${root}`,
        `stateDir: ${join(tmp.dir, 'state')}`,
        'maxAuditResults: 5',
        'batchMaxRecords: 40',
        'pollInterval: 100ms',
        'httpPort: 0',
        'sinks:',
        '  - name: team-1',
        '    type: webhook',
        `    url: ${team.url}`,
        '    batchMaxRecords: 7',
        '    route: { namespaces: [ns-1*] }',
        '  - name: siem',
        '    type: webhook',
        `    url: ${siem.url}`,
        '    batchMaxRecords: 25',
        '    maxBackoff: 50ms',
        '',
      ].join('\n'),
    );
    const routed = new Set<string>();
    const all = new Set<string>();
    for (let r = 0; r < RUNS; r++) {
      for (let i = 0; i < PER_RUN; i++) {
        all.add(recordId(r, i));
        if (/^ns-1/.test(namespaceOf(i))) routed.add(recordId(r, i));
      }
    }
    const done = () =>
      new Set(receivedRecords(team.received).map((x) => x.id)).size === routed.size &&
      new Set(receivedRecords(siem.received).map((x) => x.id)).size === all.size;
    const progress = () => team.received.length + siem.received.length;
    // Kill at pseudo-random points (fixed seed: reproducible).
    let seed = 11;
    const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    let kills = 0;
    for (;;) {
      const p = runCli(['read', '--config', config]);
      const target = progress() + 2 + Math.floor(rand() * 12);
      const finished = await Promise.race([
        waitFor(() => progress() >= target, 'requests', 30_000).then(() => false),
        waitFor(done, 'everything', 30_000).then(() => true),
        p.exited.then(({ code }) => {
          throw new Error(`reader exited early with ${code}: ${p.stderr().slice(-2000)}`);
        }),
      ]);
      if (finished || kills >= 5) {
        await waitFor(done, 'the rest of both sinks', 60_000);
        await waitFor(() => p.stderr().includes('reader started'), 'the reader to start');
        p.child.kill('SIGTERM');
        expect((await p.exited).code, p.stderr().slice(-2000)).toBe(0);
        break;
      }
      p.child.kill('SIGKILL');
      await p.exited;
      kills += 1;
    }
    expect(kills).toBeGreaterThan(0);
    const teamGot = receivedRecords(team.received);
    expect(teamGot.filter((x) => !/^ns-1/.test(x.namespace))).toEqual([]);
    expect(new Set(teamGot.map((x) => x.id))).toEqual(routed);
    expect(new Set(receivedRecords(siem.received).map((x) => x.id))).toEqual(all);
    // Retried requests (and requests sent again after a kill) carry their first key.
    const siemRequests = expectStableKeys(siem.received);
    expect(siem.received.length).toBeGreaterThan(siemRequests);
    expectStableKeys(team.received);
    // Per run, records arrive in order (a repeat restarts at a checkpoint, never skips).
    for (const got of [teamGot, receivedRecords(siem.received)]) {
      const perRun = new Map<string, number[]>();
      for (const { id } of got) {
        const [run, pod] = id.split('/');
        const seq = perRun.get(run!) ?? [];
        seq.push(Number(pod!.slice(4)));
        perRun.set(run!, seq);
      }
      for (const seq of perRun.values()) {
        const firsts = seq.filter((v, i) => seq.indexOf(v) === i);
        expect(firsts).toEqual([...firsts].sort((a, b) => a - b));
      }
    }
  }, 120_000);
});
