// Webhook sink benchmark (issue targets in brackets):
//  1. throughput of a 1,000,000-violation run through `read --sink webhook` (ndjson, 1,000
//     records per request) to a loopback receiver, beside `read --sink stdout` → /dev/null
//     in the same run [≥ 70% of the stdout rate]
//  2. peak RSS while the receiver stalls for 60 s behind that backlog [≤ 128 MiB]
// BENCH_SCALE shrinks the run, BENCH_STALL_S the stall, for a quick look.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { peakRssMiB, startReader, writeRun } from './lib.ts';

const SCALE = Number(process.env.BENCH_SCALE ?? 1);
const STALL_S = Number(process.env.BENCH_STALL_S ?? 60);

async function receiver(mode: { stallUntil: number }) {
  let lines = 0;
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let n = 0;
    req.on('data', (c: Buffer) => {
      for (let i = c.indexOf(10); i >= 0; i = c.indexOf(10, i + 1)) n++;
    });
    req.on('end', () => {
      // While stalling, answer nothing: the sink times out and retries; nothing is acknowledged.
      if (Date.now() < mode.stallUntil) return;
      lines += n;
      res.writeHead(200);
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/ingest`,
    lines: () => lines,
    close: () => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))),
  };
}

const dir = await mkdtemp(join(tmpdir(), 'gk-export-bench-webhook-'));
try {
  const n = Math.round(1_000_000 * SCALE);
  const root = join(dir, 'topics');
  await mkdir(join(root, 'c'), { recursive: true });
  const bytes = await writeRun(
    join(root, 'c', '2026-01-01T00_00_00Z.log'),
    '2026-01-01T00:00:00Z',
    n,
  );

  let t = performance.now();
  const out = startReader(['--root', root, '--state-dir', join(dir, 's1')]);
  await out.runsDelivered(1);
  const stdoutS = (performance.now() - t) / 1000;
  await out.stop();

  const mode = { stallUntil: 0 };
  const rx = await receiver(mode);
  const hook = [
    '--sink',
    'webhook',
    '--webhook-url',
    rx.url,
    '--webhook-batch-max-records',
    '1000',
    '--webhook-timeout',
    '2s',
    '--webhook-max-backoff',
    '2s',
  ];
  t = performance.now();
  const wh = startReader(['--root', root, '--state-dir', join(dir, 's2'), ...hook]);
  await wh.runsDelivered(1);
  const webhookS = (performance.now() - t) / 1000;
  await wh.stop();
  const ratio = stdoutS / webhookS;
  console.log(`1. ${n} violations (${(bytes / 1e6).toFixed(0)} MB)`);
  console.log(
    `   read → stdout (/dev/null):        ${(n / stdoutS).toFixed(0).padStart(9)} records/s`,
  );
  console.log(
    `   read → webhook (ndjson, 1000/req): ${(n / webhookS).toFixed(0).padStart(9)} records/s  (${rx.lines()} received)`,
  );
  console.log(`   webhook / stdout: ${ratio.toFixed(2)} (target ≥ 0.7)`);

  mode.stallUntil = Date.now() + STALL_S * 1000;
  const stalled = startReader(['--root', root, '--state-dir', join(dir, 's3'), ...hook]);
  let peak = 0;
  const timer = setInterval(
    async () => (peak = Math.max(peak, await peakRssMiB(stalled.child.pid!))),
    200,
  );
  await new Promise((r) => setTimeout(r, STALL_S * 1000));
  peak = Math.max(peak, await peakRssMiB(stalled.child.pid!));
  clearInterval(timer);
  await stalled.stop();
  await rx.close();
  console.log(
    `2. receiver stalled ${STALL_S} s behind a ${n}-record backlog: peak RSS ${peak.toFixed(1)} MiB (target ≤ 128)`,
  );
  console.log(
    JSON.stringify({
      bench: 'webhook',
      records: n,
      stdoutS,
      webhookS,
      ratio,
      stallSeconds: STALL_S,
      stallPeakRssMiB: peak,
    }),
  );
} finally {
  await rm(dir, { recursive: true, force: true });
}
