// Backlog throughput and memory (issue targets in brackets):
//  1. one completed run of 500,000 violations, from process start until every violation is out
//     of a FIFO this process reads (as a container runtime reads a container's output):
//     `gk-export read` (every line validated) beside `cat FILE`
//     (MB/s), a naive Node reader (readline + JSON.parse + console.log) and, when
//     GK_EXPORT_BENCH_BASELINE names a command, that command, e.g. upstream's Go test reader
//     built outside this repository [≥ 2× its throughput]. It runs with ROOT_PATH set to the
//     export root, and is done once it has printed (stdout + stderr) as many lines as the run
//     has. BENCH_ROUNDS rounds (default 3), in turn; medians, and the median of per-round ratios.
//  2. peak RSS through a 1,000,000-line backlog [≤ 80 MiB]
//  3. idle RSS after one small run, with and without the metrics server [≤ 56 MiB], and after a
//     run of 10,000 lines; then serving metrics, probed and scraped as a deployment is, for
//     BENCH_PROBED_S seconds (default 60; below 15 skips it) [≤ 56 MiB]
//  4. start-up: from spawn to the first record of a small run on stdout, beside a bare
//     `node -e` printing one line (BENCH_STARTUP_ROUNDS rounds, default 15, medians)
// BENCH_SCALE shrinks the runs, BENCH_IDLE_MS the idle wait (default 5000).
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, constants, openSync } from 'node:fs';
import { once } from 'node:events';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, median, NODE, NODE_FLAGS, writeRun } from './lib.ts';

const SCALE = Number(process.env.BENCH_SCALE ?? 1);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const IDLE_MS = Number(process.env.BENCH_IDLE_MS ?? 5000);
const BASELINE = process.env.GK_EXPORT_BENCH_BASELINE;
const STARTUP_ROUNDS = Number(process.env.BENCH_STARTUP_ROUNDS ?? 15);
const PROBED_S = Number(process.env.BENCH_PROBED_S ?? 60);

/** `gk-export read` as the image runs it, on `root` with its own state dir (no metrics unless
 * a later `--http-port` says otherwise: the last one wins). */
const readArgs = (root: string, state: string) => [
  ...NODE_FLAGS,
  CLI,
  'read',
  '--http-port',
  '0',
  '--root',
  root,
  '--state-dir',
  state,
];

/** VmHWM / VmRSS of a live process in MiB (NaN once it has exited). */
async function memMiB(pid: number, field: 'VmHWM' | 'VmRSS'): Promise<number> {
  const s = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(s);
  return m ? Number(m[1]) / 1024 : NaN;
}

interface Outcome {
  readonly seconds: number;
  readonly peakMiB: number;
}

/**
 * Starts a reader writing into a FIFO that this process reads, as a container runtime reads a
 * container's output (stdout, and stderr unless `quiet`, which discards it).
 */
function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; quiet?: boolean }) {
  const fifo = join(fifoDir, `out-${fifos++}`);
  const made = spawnSync('mkfifo', [fifo]);
  if (made.status !== 0) throw new Error(`mkfifo failed: ${made.stderr}`);
  const rfd = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
  const wfd = openSync(fifo, constants.O_WRONLY);
  const t0 = performance.now();
  const child = spawn(cmd, args, {
    stdio: ['ignore', wfd, opts.quiet ? 'ignore' : wfd],
    env: { ...process.env, ...opts.env },
  });
  closeSync(wfd);
  const out = new Socket({ fd: rfd, readable: true, writable: false });
  return { child, out, t0 };
}
let fifoDir = tmpdir();
let fifos = 0;

/**
 * Times a reader from its start until `lines` newlines came out of its FIFO; then reads its
 * peak RSS and kills it.
 */
async function timeUntilLines(r: ReturnType<typeof run>, lines: number): Promise<Outcome> {
  const { child, out, t0 } = r;
  let seen = 0;
  const end = await new Promise<number>((resolve, reject) => {
    out.on('data', (c: Buffer) => {
      for (let i = c.indexOf(10); i >= 0; i = c.indexOf(10, i + 1)) seen++;
      if (seen >= lines) resolve(performance.now());
    });
    child.on('exit', (code) => {
      if (seen < lines) reject(new Error(`exited with ${code} after ${seen} of ${lines} lines`));
    });
  });
  const peakMiB = await memMiB(child.pid!, 'VmHWM');
  child.kill('SIGKILL');
  if (child.exitCode === null && child.signalCode === null) await once(child, 'close');
  out.destroy();
  return { seconds: (end - t0) / 1000, peakMiB };
}

async function backlog(dir: string) {
  const n = Math.round(500_000 * SCALE);
  const root = join(dir, 'topics');
  const chan = join(root, 'audit-channel');
  await mkdir(chan, { recursive: true });
  const file = join(chan, '2026-01-01T00_00_00Z.log');
  const mb = (await writeRun(file, '2026-01-01T00:00:00Z', n)) / 1e6;
  const naive = join(dir, 'naive.mjs');
  await writeFile(
    naive,
    `import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
const rl = createInterface({ input: createReadStream(process.argv[2]), crlfDelay: Infinity });
for await (const line of rl) { const m = JSON.parse(line); if (m.eventType) console.log(line); }
`,
  );
  let state = 0;
  const contenders: [string, () => Promise<Outcome>][] = [
    ['cat', () => timed('cat', [file], n + 2)],
    ['naive Node reader (readline+JSON.parse+console.log)', () => timed(NODE, [naive, file], n)],
    ...(BASELINE
      ? ([
          [
            `baseline: ${BASELINE}`,
            () => timed('sh', ['-c', `exec ${BASELINE}`], n + 2, { ROOT_PATH: root }),
          ],
        ] as [string, () => Promise<Outcome>][])
      : []),
    [
      'gk-export read (validated, checkpointed)',
      () =>
        timed(
          NODE,
          [...readArgs(root, join(dir, `state-${state++}`)), '--max-audit-results', '5'],
          n,
        ),
    ],
  ];
  function timed(cmd: string, args: string[], lines: number, env?: NodeJS.ProcessEnv) {
    // gk-export logs on stderr (not counted); the others print their lines on either.
    return timeUntilLines(
      run(cmd, args, { env, quiet: cmd === NODE && args.includes(CLI) }),
      lines,
    );
  }
  const results = contenders.map(() => [] as Outcome[]);
  for (let r = 0; r < ROUNDS; r++) {
    // In turn, starting one further each round: a shared machine's load hits all alike.
    for (let k = 0; k < contenders.length; k++) {
      const i = (k + r) % contenders.length;
      results[i]!.push(await contenders[i]![1]());
    }
  }
  const ours = results.at(-1)!;
  console.log(
    `\n1. backlog: one completed run of ${n} violations, ${mb.toFixed(0)} MB, ${ROUNDS} rounds`,
  );
  const rows = contenders.map(([name], i) => {
    const s = median(results[i]!.map((o) => o.seconds));
    const peak = median(results[i]!.map((o) => o.peakMiB));
    const ratio = median(results[i]!.map((o, k) => o.seconds / ours[k]!.seconds));
    console.log(
      `   ${name.slice(0, 52).padEnd(52)} ${s.toFixed(3).padStart(7)} s ${(n / s).toFixed(0).padStart(9)} lines/s ${(mb / s).toFixed(0).padStart(6)} MB/s  peak ${Number.isNaN(peak) ? '   -' : peak.toFixed(0).padStart(4)} MiB  gk-export ${ratio.toFixed(2)}×`,
    );
    return { name, seconds: s, peakMiB: peak, oursTimesFaster: ratio };
  });
  if (BASELINE) {
    console.log(
      `   target: gk-export ≥ 2× the baseline (${rows.at(-2)!.oursTimesFaster.toFixed(2)}×)`,
    );
  } else {
    console.log(
      '   (GK_EXPORT_BENCH_BASELINE="<command>" adds an external reader, e.g. upstream’s)',
    );
  }
  await rm(root, { recursive: true, force: true });
  return { lines: n, mb, rows };
}

async function peakThrough(dir: string) {
  const n = Math.round(1_000_000 * SCALE);
  const root = join(dir, 'big');
  await mkdir(join(root, 'c'), { recursive: true });
  await writeRun(join(root, 'c', '2026-01-01T00_00_00Z.log'), '2026-01-01T00:00:00Z', n);
  const reader = run(NODE, readArgs(root, join(dir, 'big-state')), { quiet: true });
  const o = await timeUntilLines(reader, n);
  console.log(
    `\n2. peak RSS through a ${n}-line backlog: ${o.peakMiB.toFixed(1)} MiB (target ≤ 80; ${(n / o.seconds).toFixed(0)} lines/s)`,
  );
  await rm(root, { recursive: true, force: true });
  return { lines: n, ...o };
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** `read` started on a run of `lines` lines, once it has delivered it. */
async function deliveredRun(dir: string, name: string, port: number, lines: number) {
  const root = join(dir, name);
  await mkdir(join(root, 'c'), { recursive: true });
  await writeRun(join(root, 'c', '2026-01-01T00_00_00Z.log'), '2026-01-01T00:00:00Z', lines);
  const child = spawn(
    NODE,
    [...readArgs(root, join(dir, `${name}-state`)), '--http-port', String(port)],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stdout!.resume();
  let err = '';
  await new Promise<void>((resolve, reject) => {
    child.stderr!.setEncoding('utf8').on('data', (s: string) => {
      err += s;
      if (err.includes('"msg":"run delivered"')) resolve();
    });
    child.on('exit', (code) => reject(new Error(`read exited with ${code}: ${err}`)));
  });
  return child;
}

/** RSS of `read` after it delivered one run of `lines` lines and then sat idle for IDLE_MS. */
async function idle(dir: string, name: string, metrics: boolean, lines: number) {
  const port = metrics ? await freePort() : 0;
  const child = await deliveredRun(dir, name, port, lines);
  await new Promise((r) => setTimeout(r, IDLE_MS));
  // A Prometheus server scrapes it: the served configuration is measured after a scrape.
  if (metrics) await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  await new Promise((r) => setTimeout(r, 200));
  const rss = await memMiB(child.pid!, 'VmRSS');
  child.kill('SIGTERM');
  await once(child, 'close');
  return rss;
}

/**
 * RSS of `read` serving metrics after one small run, over PROBED_S seconds of idle with the
 * probes of a deployment: `/healthz` and `/readyz` every 5 s (kubelet), `/metrics` every 15 s
 * (Prometheus). Sampled after each round of probes from the 15th second on: median and max.
 */
async function probedIdle(dir: string) {
  const port = await freePort();
  const child = await deliveredRun(dir, 'idle-probed', port, 100);
  const base = `http://127.0.0.1:${port}`;
  const samples: number[] = [];
  for (let s = 5; s <= PROBED_S; s += 5) {
    await new Promise((r) => setTimeout(r, 5000));
    await (await fetch(`${base}/healthz`)).text();
    await (await fetch(`${base}/readyz`)).text();
    if (s % 15 === 0) await (await fetch(`${base}/metrics`)).text();
    if (s >= 15) samples.push(await memMiB(child.pid!, 'VmRSS'));
  }
  child.kill('SIGTERM');
  await once(child, 'close');
  return { seconds: PROBED_S, medianMiB: median(samples), maxMiB: Math.max(...samples) };
}

/** Milliseconds from spawn until the first byte on the child's stdout (then it is killed). */
async function firstOutputMs(cmd: string, args: string[]): Promise<number> {
  const t0 = performance.now();
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'ignore'] });
  const [chunk] = (await once(child.stdout!, 'data')) as [Buffer];
  const ms = performance.now() - t0;
  if (chunk.length === 0) throw new Error('no output');
  child.kill('SIGKILL');
  if (child.exitCode === null && child.signalCode === null) await once(child, 'close');
  return ms;
}

/** Start-up of `read` (to its first record on stdout) beside a bare Node, in turn. */
async function startup(dir: string) {
  const root = join(dir, 'startup');
  await mkdir(join(root, 'c'), { recursive: true });
  await writeRun(join(root, 'c', '2026-01-01T00_00_00Z.log'), '2026-01-01T00:00:00Z', 100);
  const bare: number[] = [];
  const ours: number[] = [];
  for (let r = 0; r < STARTUP_ROUNDS; r++) {
    bare.push(await firstOutputMs(NODE, ['-e', 'console.log(1)']));
    ours.push(await firstOutputMs(NODE, readArgs(root, join(dir, `startup-state-${r}`))));
  }
  const result = { readMs: median(ours), bareNodeMs: median(bare) };
  console.log(
    `\n4. start-up, spawn → first record on stdout (median of ${STARTUP_ROUNDS}): ${result.readMs.toFixed(0)} ms; bare node -e: ${result.bareNodeMs.toFixed(0)} ms`,
  );
  return result;
}

const dir = await mkdtemp(join(tmpdir(), 'gk-export-bench-backlog-'));
fifoDir = dir;
try {
  const backlogResult = await backlog(dir);
  const peak = await peakThrough(dir);
  const idleOff = await idle(dir, 'idle', false, 100);
  const idleOn = await idle(dir, 'idle-m', true, 100);
  const idleLarger = await idle(dir, 'idle-10k', false, 10_000);
  console.log(
    `\n3. idle RSS ${IDLE_MS / 1000} s after one small run: ${idleOff.toFixed(1)} MiB with --http-port 0, ${idleOn.toFixed(1)} MiB serving metrics (scraped once) (target ≤ 56); ${idleLarger.toFixed(1)} MiB after a run of ${10_000} lines`,
  );
  const probed = PROBED_S >= 15 ? await probedIdle(dir) : undefined;
  if (probed) {
    console.log(
      `   serving metrics, probed every 5 s and scraped every 15 s for ${probed.seconds} s: median ${probed.medianMiB.toFixed(1)} MiB, max ${probed.maxMiB.toFixed(1)} MiB (target ≤ 56)`,
    );
  }
  const startupResult = await startup(dir);
  console.log(
    JSON.stringify({
      bench: 'backlog',
      backlog: backlogResult,
      peak,
      idleRssMiB: { metricsOff: idleOff, metricsOn: idleOn, after10kLines: idleLarger, probed },
      startup: startupResult,
    }),
  );
} finally {
  await rm(dir, { recursive: true, force: true });
}
