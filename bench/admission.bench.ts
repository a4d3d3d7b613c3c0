// Admission backlog: a reader in --mode admission that was down finds N completed segments on
// a shared volume and consumes them (deliver, then delete). Time until all are consumed, for
// N = 500, 1,000 and 2,000 (scaled by BENCH_SCALE): linear means seconds per segment stays
// flat as N grows.
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeExportMsg } from '../src/protocol/encode.ts';
import { record, startReader } from './lib.ts';

const SCALE = Number(process.env.BENCH_SCALE ?? 1);
const RECORDS_PER_SEGMENT = 5;

/** A Gatekeeper 3.24 segment name: admission-<20060102T150405.000000000Z>-<16 hex>. */
function segmentName(i: number): string {
  const d = new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString();
  const ts = d.replace(/[-:]/g, '').replace(/\.(\d{3})Z$/, '.$1000000Z');
  return `admission-${ts}-${i.toString(16).padStart(16, '0')}.log`;
}

/** user + system CPU time of a live process (Linux /proc), in seconds. */
async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function backlog(dir: string, n: number) {
  const root = join(dir, `adm-${n}`);
  const chan = join(root, 'admission');
  await mkdir(chan, { recursive: true });
  for (let i = 0; i < n; i++) {
    const lines: string[] = [];
    for (let j = 0; j < RECORDS_PER_SEGMENT; j++) {
      const id = `seg-${i}`;
      lines.push(encodeExportMsg({ ...record(id, j), eventType: 'violation_admission' }));
    }
    await writeFile(join(chan, segmentName(i)), lines.join('\n') + '\n');
  }
  const t = performance.now();
  const r = startReader([
    '--root',
    root,
    '--state-dir',
    join(dir, `st-${n}`),
    '--mode',
    'admission',
  ]);
  await r.runsDelivered(n);
  while ((await readdir(chan)).length > 0) await new Promise((res) => setTimeout(res, 10));
  const s = (performance.now() - t) / 1000;
  const cpu = await cpuSeconds(r.child.pid!);
  await r.stop();
  console.log(
    `   ${String(n).padStart(5)} segments: consumed in ${s.toFixed(2).padStart(6)} s, ${((s * 1000) / n).toFixed(2)} ms/segment; reader CPU ${cpu.toFixed(2)} s, ${((cpu * 1000) / n).toFixed(2)} ms/segment`,
  );
  return { segments: n, seconds: s, cpuSeconds: cpu };
}

const dir = await mkdtemp(join(tmpdir(), 'gk-export-bench-'));
try {
  console.log('admission backlog (--mode admission, deleted after delivery)');
  const sizes = [500, 1000, 2000].map((n) => Math.max(20, Math.round(n * SCALE)));
  const rows: { segments: number; seconds: number; cpuSeconds: number }[] = [];
  for (const n of sizes) rows.push(await backlog(dir, n));
  const ratio = (f: (r: (typeof rows)[number]) => number) => {
    const per = rows.map((r) => f(r) / r.segments);
    return (per[per.length - 1]! / per[0]!).toFixed(2);
  };
  console.log(
    `   per segment at the largest size ÷ at the smallest: wall ${ratio((r) => r.seconds)}, CPU ${ratio((r) => r.cpuSeconds)} (linear ≈ 1)`,
  );
  console.log(JSON.stringify({ bench: 'admission', rows }));
} finally {
  await rm(dir, { recursive: true, force: true });
}
