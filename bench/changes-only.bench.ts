// --changes-only cost: three runs of 100,000 violations (the second and third with 10 % new
// and 10 % gone, the third the same as the second) through the reader to stdout → /dev/null,
// with and without --changes-only: seconds per run (file renamed → run delivered) and peak
// RSS. Sizes can be reduced with BENCH_SCALE (e.g. 0.1).
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rename, rm, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeExportMsg } from '../src/protocol/encode.ts';
import { peakRssMiB, record, startReader } from './lib.ts';

const N = Math.round(100_000 * Number(process.env.BENCH_SCALE ?? 1));
const RUNS: [number, number][] = [
  [0, N],
  [N / 10, N + N / 10],
  [N / 10, N + N / 10],
];

async function writeRun(chan: string, index: number, from: number, to: number) {
  const id = new Date(Date.UTC(2026, 0, 1, 0, 0, index)).toISOString().replace('.000Z', 'Z');
  const name = id.replaceAll(':', '_');
  const out = createWriteStream(join(chan, `${name}.txt`));
  out.write(encodeExportMsg({ id, message: 'audit is started' }) + '\n');
  for (let i = from; i < to; i++) {
    if (!out.write(encodeExportMsg(record(id, i)) + '\n')) await once(out, 'drain');
  }
  out.end(encodeExportMsg({ id, message: 'audit is completed' }) + '\n');
  await once(out, 'finish');
  await utimes(join(chan, `${name}.txt`), 1_000_000 + index, 1_000_000 + index);
  await rename(join(chan, `${name}.txt`), join(chan, `${name}.log`));
}

async function measure(label: string, extra: string[]) {
  const dir = await mkdtemp(join(tmpdir(), 'gk-bench-changes-'));
  try {
    const chan = join(dir, 'topics', 'audit-channel');
    await mkdir(chan, { recursive: true });
    const r = startReader([
      '--root',
      join(dir, 'topics'),
      '--state-dir',
      join(dir, 'state'),
      ...extra,
    ]);
    const seconds: number[] = [];
    for (let i = 0; i < RUNS.length; i++) {
      const [from, to] = RUNS[i]!;
      await writeRun(chan, i + 1, from, to);
      const t = performance.now();
      await r.runsDelivered(i + 1);
      seconds.push((performance.now() - t) / 1000);
    }
    const peak = await peakRssMiB(r.child.pid!);
    await r.stop();
    console.log(
      `${label.padEnd(14)} runs: ${seconds.map((s) => s.toFixed(2)).join(' s, ')} s; peak RSS ${peak.toFixed(0)} MiB`,
    );
    return { seconds, peakRssMiB: Math.round(peak) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const plain = await measure('plain', []);
const changes = await measure('--changes-only', ['--changes-only']);
console.log(
  JSON.stringify({
    bench: 'changes-only',
    violationsPerRun: N,
    plainSeconds: plain.seconds.map((s) => +s.toFixed(2)),
    changesOnlySeconds: changes.seconds.map((s) => +s.toFixed(2)),
    plainPeakRssMiB: plain.peakRssMiB,
    changesOnlyPeakRssMiB: changes.peakRssMiB,
  }),
);
