// Reader benchmarks (issue targets in brackets; the backlog's throughput and the reader's
// memory are in backlog.bench.ts):
//  1. latency: 200 runs of 100 lines, rename → last line on stdout; and with --follow-open,
//     append → line on stdout [p99 ≤ 20 ms]
//  2. startup with a backlog of 5 channels × 1,000 small runs: time until all delivered.
// Sizes can be reduced with BENCH_SCALE (e.g. 0.1) for a quick look.
import { appendFile, mkdir, mkdtemp, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeExportMsg } from '../src/protocol/encode.ts';
import { record, startReader } from './lib.ts';

const SCALE = Number(process.env.BENCH_SCALE ?? 1);

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function latency(dir: string, follow: boolean) {
  const runs = Math.max(20, Math.round(200 * SCALE));
  const root = join(dir, follow ? 'lat-follow' : 'lat');
  const chan = join(root, 'c');
  await mkdir(chan, { recursive: true });
  const arrivals = new Map<string, number>();
  const r = startReader(
    [
      '--root',
      root,
      '--state-dir',
      join(dir, follow ? 'st-f' : 'st'),
      ...(follow ? ['--follow-open'] : []),
    ],
    (line, t) => {
      const m = /"resourceName":"([^"]+)"/.exec(line);
      if (m) arrivals.set(m[1]!, t);
    },
  );
  await new Promise((res) => setTimeout(res, 500));
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const id = new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString().replace('.000Z', 'Z');
    const run = id.replaceAll(':', '_');
    const txt = join(chan, `${run}.txt`);
    const lines = [encodeExportMsg({ id, message: 'audit is started' })];
    for (let j = 0; j < 100; j++)
      lines.push(encodeExportMsg({ ...record(id, j), resourceName: `r${i}-${j}` }));
    if (follow) {
      await writeFile(txt, lines[0] + '\n');
      for (let j = 1; j <= 100; j += 25) {
        const t0 = performance.now();
        await appendFile(txt, lines.slice(j, j + 25).join('\n') + '\n');
        const last = `r${i}-${j + 23}`;
        while (!arrivals.has(last)) await new Promise((res) => setTimeout(res, 1));
        samples.push(arrivals.get(last)! - t0);
      }
      await appendFile(txt, encodeExportMsg({ id, message: 'audit is completed' }) + '\n');
      await rename(txt, join(chan, `${run}.log`));
    } else {
      lines.push(encodeExportMsg({ id, message: 'audit is completed' }));
      await writeFile(txt, lines.join('\n') + '\n');
      const t0 = performance.now();
      await rename(txt, join(chan, `${run}.log`));
      const last = `r${i}-99`;
      while (!arrivals.has(last)) await new Promise((res) => setTimeout(res, 1));
      samples.push(arrivals.get(last)! - t0);
    }
  }
  await r.stop();
  samples.sort((a, b) => a - b);
  const p50 = pct(samples, 50);
  const p99 = pct(samples, 99);
  console.log(
    `\n1${follow ? 'b' : 'a'}. latency ${follow ? 'append → stdout (--follow-open)' : 'rename → last line on stdout'}: ${samples.length} samples, p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms (target p99 ≤ 20)`,
  );
  return { samples: samples.length, p50, p99 };
}

async function startup(dir: string) {
  const channels = 5;
  const perChannel = Math.max(10, Math.round(1000 * SCALE));
  const root = join(dir, 'backlog');
  for (let c = 0; c < channels; c++) {
    const chan = join(root, `channel-${c}`);
    await mkdir(chan, { recursive: true });
    for (let i = 0; i < perChannel; i++) {
      const id = new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString().replace('.000Z', 'Z');
      const body = [
        encodeExportMsg({ id, message: 'audit is started' }),
        ...[0, 1, 2].map((j) => encodeExportMsg(record(id, j))),
        encodeExportMsg({ id, message: 'audit is completed' }),
      ];
      await writeFile(join(chan, `${id.replaceAll(':', '_')}.log`), body.join('\n') + '\n');
    }
  }
  const t = performance.now();
  const r = startReader([
    '--root',
    root,
    '--state-dir',
    join(dir, 'st-backlog'),
    '--max-audit-results',
    '5',
  ]);
  await r.runsDelivered(channels * perChannel);
  const s = (performance.now() - t) / 1000;
  await r.stop();
  const left = (await stat(join(root, 'channel-0')).then(() => true)) ? 'ok' : '';
  console.log(
    `\n2. startup backlog ${channels}×${perChannel} runs: all delivered in ${s.toFixed(2)} s (${((channels * perChannel) / s).toFixed(0)} runs/s) ${left}`,
  );
  return { runs: channels * perChannel, seconds: s };
}

const dir = await mkdtemp(join(tmpdir(), 'gk-export-bench-'));
try {
  const result = {
    bench: 'reader',
    latency: await latency(dir, false),
    latencyFollow: await latency(dir, true),
    startup: await startup(dir),
  };
  console.log(JSON.stringify(result));
} finally {
  await rm(dir, { recursive: true, force: true });
}
