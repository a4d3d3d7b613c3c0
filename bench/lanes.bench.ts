// Routing cost: a backlog of runs read by one sink (one lane; also with a route) against the
// same backlog read by two and three sinks (one lane each: each reads the run files itself) — a catch-all plus team
// routes (namespace-1* and namespace-2*, 11 of the 40 namespaces each) — all to stdout →
// /dev/null. Seconds from start until every sink has delivered every run, records per second
// (of the backlog, once), and peak RSS. Sizes can be reduced with BENCH_SCALE (e.g. 0.1).
import { mkdir, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { peakRssMiB, startReader, writeRun } from './lib.ts';

const N = Math.round(100_000 * Number(process.env.BENCH_SCALE ?? 1));
const RUNS = 4;

const sink = (name: string, route?: string) =>
  `  - name: ${name}\n    type: stdout\n` +
  (route ? `    route:\n      namespaces: ['${route}']\n` : '');

async function measure(label: string, sinks: string[]) {
  const dir = await mkdtemp(join(tmpdir(), 'gk-bench-lanes-'));
  try {
    const chan = join(dir, 'topics', 'audit-channel');
    await mkdir(chan, { recursive: true });
    for (let i = 0; i < RUNS; i++) {
      const id = new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString().replace('.000Z', 'Z');
      const path = join(chan, `${id.replaceAll(':', '_')}.log`);
      await writeRun(path, id, N);
      await utimes(path, 1_000_000 + i, 1_000_000 + i);
    }
    const config = join(dir, 'config.yaml');
    await writeFile(config, `sinks:\n${sinks.join('')}`);
    const args = ['--root', join(dir, 'topics'), '--state-dir', join(dir, 'state')];
    const t = performance.now();
    const r = startReader(sinks[0] === sink('stdout') ? args : [...args, '--config', config]);
    await r.runsDelivered(RUNS * sinks.length);
    const seconds = (performance.now() - t) / 1000;
    const peak = await peakRssMiB(r.child.pid!);
    await r.stop();
    const perSecond = Math.round((RUNS * N) / seconds);
    console.log(
      `${label.padEnd(28)} ${seconds.toFixed(2)} s, ${perSecond} records/s, peak RSS ${peak.toFixed(0)} MiB`,
    );
    return { seconds: +seconds.toFixed(2), perSecond, peakRssMiB: Math.round(peak) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const one = await measure('1 sink', [sink('stdout')]);
const routed = await measure('1 sink with a route', [sink('team-1', 'namespace-1*')]);
const two = await measure('2 sinks (catch-all + team)', [
  sink('all'),
  sink('team-1', 'namespace-1*'),
]);
const three = await measure('3 sinks (+ another team)', [
  sink('all'),
  sink('team-1', 'namespace-1*'),
  sink('team-2', 'namespace-2*'),
]);
console.log(
  JSON.stringify({
    bench: 'lanes',
    runs: RUNS,
    violationsPerRun: N,
    oneSink: one,
    oneRoutedSink: routed,
    twoSinks: two,
    threeSinks: three,
  }),
);
