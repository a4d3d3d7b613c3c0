// Webhook sink benchmark (issue targets in brackets):
//  1. throughput of a 1,000,000-violation run through `read --sink webhook` (ndjson, 1,000
//     records per request) to a loopback receiver, beside `read --sink stdout` into a pipe
//     this process drains (as a container runtime reads a container's output) [≥ 70% of that
//     stdout rate], and beside stdout to /dev/null (no copy, no consumer: shown, not a target).
//     BENCH_ROUNDS rounds (default 3), the three in turn; medians, and the median of per-round
//     ratios. The receiver and the reader share this machine's cores, as a pipe's reader does.
//  2. peak RSS while the receiver stalls for 60 s behind that backlog [≤ 128 MiB]
// BENCH_SCALE shrinks the run, BENCH_STALL_S the stall, for a quick look.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { median, peakRssMiB, startReader, writeRun } from './lib.ts';

const SCALE = Number(process.env.BENCH_SCALE ?? 1);
const STALL_S = Number(process.env.BENCH_STALL_S ?? 60);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

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
  let state = 0;
  /** Seconds from the reader's start until it logged the run delivered. */
  async function timed(args: string[], output?: 'drain'): Promise<number> {
    const t = performance.now();
    const r = startReader(
      ['--root', root, '--state-dir', join(dir, `s${state++}`), ...args],
      output,
    );
    await r.runsDelivered(1);
    const seconds = (performance.now() - t) / 1000;
    await r.stop();
    return seconds;
  }
  const devNull: number[] = [];
  const pipe: number[] = [];
  const webhook: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    devNull.push(await timed([]));
    pipe.push(await timed([], 'drain'));
    const before = rx.lines();
    webhook.push(await timed(hook));
    if (rx.lines() - before !== n) throw new Error(`received ${rx.lines() - before} of ${n}`);
  }
  const ratio = median(webhook.map((w, i) => pipe[i]! / w));
  const ratioDevNull = median(webhook.map((w, i) => devNull[i]! / w));
  const rate = (xs: number[]) => (n / median(xs)).toFixed(0).padStart(9);
  console.log(`1. ${n} violations (${(bytes / 1e6).toFixed(0)} MB), ${ROUNDS} rounds`);
  console.log(`   read → stdout, a pipe drained:     ${rate(pipe)} records/s`);
  console.log(`   read → stdout, /dev/null:          ${rate(devNull)} records/s`);
  console.log(`   read → webhook (ndjson, 1000/req): ${rate(webhook)} records/s`);
  console.log(
    `   webhook / stdout (pipe): ${ratio.toFixed(2)} (target ≥ 0.7); webhook / stdout (/dev/null): ${ratioDevNull.toFixed(2)}`,
  );

  mode.stallUntil = Date.now() + STALL_S * 1000;
  const stalled = startReader(['--root', root, '--state-dir', join(dir, 'stalled'), ...hook]);
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
      stdoutPipeS: median(pipe),
      stdoutDevNullS: median(devNull),
      webhookS: median(webhook),
      ratio,
      ratioDevNull,
      stallSeconds: STALL_S,
      stallPeakRssMiB: peak,
    }),
  );
} finally {
  await rm(dir, { recursive: true, force: true });
}
