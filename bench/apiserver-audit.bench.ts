// API-server audit-log source: a 1,000,000-event audit log with 1% Gatekeeper denials, read
// from the beginning, beside the disk-export reader on a 1,000,000-line run in the same run
// [target ≥ 50% of its events/s]. BENCH_SCALE shrinks both.
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { allowedEvent, auditEvent } from '../test/helpers/audit-events.ts';
import { CLI, NODE, NODE_FLAGS, startReader, writeRun } from './lib.ts';

const n = Math.round(1_000_000 * Number(process.env.BENCH_SCALE ?? 1));
const dir = await mkdtemp(join(tmpdir(), 'gk-export-bench-audit-'));
try {
  const log = join(dir, 'audit.log');
  const out = createWriteStream(log);
  let denials = 0;
  let chunk = '';
  for (let i = 0; i < n; i++) {
    const denial = i % 100 === 0;
    if (denial) denials++;
    chunk += JSON.stringify(denial ? auditEvent(i) : allowedEvent(i)) + '\n';
    if (chunk.length > 1 << 20) {
      if (!out.write(chunk)) await once(out, 'drain');
      chunk = '';
    }
  }
  out.end(chunk);
  await once(out, 'finish');

  let t = performance.now();
  const child = spawn(
    NODE,
    [
      ...NODE_FLAGS,
      CLI,
      'read',
      '--http-port',
      '0',
      '--source',
      'apiserver-audit',
      '--audit-log',
      log,
      '--audit-log-start',
      'beginning',
      '--root',
      join(dir, 'none'),
      '--state-dir',
      join(dir, 's1'),
    ],
    { stdio: ['ignore', 'pipe', 'ignore'] },
  );
  let lines = 0;
  await new Promise<void>((resolve) => {
    child.stdout.on('data', (b: Buffer) => {
      for (let i = b.indexOf(10); i >= 0; i = b.indexOf(10, i + 1)) lines++;
      if (lines >= denials) resolve();
    });
  });
  const auditS = (performance.now() - t) / 1000;
  child.kill('SIGTERM');
  await once(child, 'close');

  const root = join(dir, 'topics');
  await mkdir(join(root, 'c'), { recursive: true });
  await writeRun(join(root, 'c', '2026-01-01T00_00_00Z.log'), '2026-01-01T00:00:00Z', n);
  t = performance.now();
  const disk = startReader(['--root', root, '--state-dir', join(dir, 's2')]);
  await disk.runsDelivered(1);
  const diskS = (performance.now() - t) / 1000;
  await disk.stop();

  const ratio = diskS / auditS;
  console.log(
    `audit log: ${n} events (${denials} denials) in ${auditS.toFixed(2)} s = ${(n / auditS).toFixed(0)} events/s`,
  );
  console.log(
    `disk export: ${n} lines in ${diskS.toFixed(2)} s = ${(n / diskS).toFixed(0)} lines/s`,
  );
  console.log(`audit-log / disk-export events/s: ${ratio.toFixed(2)} (target ≥ 0.5)`);
  console.log(
    JSON.stringify({ bench: 'apiserver-audit', events: n, denials, auditS, diskS, ratio }),
  );
} finally {
  await rm(dir, { recursive: true, force: true });
}
