// Shared by the benchmarks: realistic records, a run writer, peak RSS, a reader process.
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { encodeExportMsg } from '../src/protocol/encode.ts';
import type { ExportMsg } from '../src/protocol/record.ts';

export const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
export const NODE = process.execPath;
/** How the image runs the CLI (Dockerfile ENTRYPOINT, the bin's shebang). */
export const NODE_FLAGS = ['--max-semi-space-size=2'];

/** The middle value (the upper one of an even count). */
export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

export function record(id: string, i: number): ExportMsg {
  const kinds = ['K8sRequiredLabels', 'K8sAllowedRepos', 'K8sContainerLimits'];
  return {
    id,
    details: { missing_labels: ['owner', 'team'], allowed: ['registry.example.com/'] },
    eventType: 'violation_audited',
    group: 'constraints.gatekeeper.sh',
    version: 'v1beta1',
    kind: kinds[i % 3],
    name: `constraint-${i % 7}`,
    message: `container <app-${i % 50}> has no resource limits; image registry.example.com/team/app:${i % 100} & more`,
    enforcementAction: i % 10 === 0 ? 'warn' : 'deny',
    resourceAPIVersion: 'v1',
    resourceKind: 'Pod',
    resourceNamespace: `namespace-${i % 40}`,
    resourceName: `deployment-${i % 1000}-7d9c8b6f5-${(i * 7919).toString(36).padStart(5, 'x')}`,
    resourceLabels: { app: `app-${i % 50}`, 'pod-template-hash': '7d9c8b6f5', tier: 'backend' },
  };
}

export async function writeRun(path: string, id: string, n: number): Promise<number> {
  const out = createWriteStream(path);
  let bytes = 0;
  const put = async (s: string) => {
    bytes += Buffer.byteLength(s);
    if (!out.write(s)) await once(out, 'drain');
  };
  await put(encodeExportMsg({ id, message: 'audit is started' }) + '\n');
  let chunk = '';
  for (let i = 0; i < n; i++) {
    chunk += encodeExportMsg(record(id, i)) + '\n';
    if (chunk.length > 1 << 20) {
      await put(chunk);
      chunk = '';
    }
  }
  await put(chunk + encodeExportMsg({ id, message: 'audit is completed' }) + '\n');
  out.end();
  await once(out, 'finish');
  return bytes;
}

/** Peak RSS (VmHWM) of a live process in MiB. */
export async function peakRssMiB(pid: number): Promise<number> {
  const s = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const m = /VmHWM:\s+(\d+) kB/.exec(s);
  return m ? Number(m[1]) / 1024 : NaN;
}

/**
 * Starts the reader with stdout to a callback per line, to a pipe this process drains (as a
 * container runtime reads a container's output: `'drain'`) or to /dev/null; waits on stderr
 * logs.
 */
export function startReader(
  args: string[],
  onLine?: ((line: string, t: number) => void) | 'drain',
) {
  const child = spawn(NODE, [...NODE_FLAGS, CLI, 'read', '--http-port', '0', ...args], {
    stdio: ['ignore', onLine ? 'pipe' : 'ignore', 'pipe'],
  });
  let delivered = 0;
  const waiters: { n: number; resolve: () => void }[] = [];
  let rest = '';
  child.stderr!.setEncoding('utf8').on('data', (s: string) => {
    rest += s;
    const parts = rest.split('\n');
    rest = parts.pop()!;
    for (const p of parts) {
      if (p.includes('"msg":"run delivered"')) delivered += 1;
    }
    for (const w of waiters.splice(0)) {
      if (delivered >= w.n) w.resolve();
      else waiters.push(w);
    }
  });
  if (onLine === 'drain') {
    child.stdout!.resume();
  } else if (onLine) {
    let buf = '';
    child.stdout!.setEncoding('utf8').on('data', (s: string) => {
      const t = performance.now();
      buf += s;
      const parts = buf.split('\n');
      buf = parts.pop()!;
      for (const p of parts) onLine(p, t);
    });
  }
  return {
    child,
    runsDelivered: (n: number) =>
      new Promise<void>((resolve) => {
        if (delivered >= n) resolve();
        else waiters.push({ n, resolve });
      }),
    stop: async () => {
      child.kill('SIGTERM');
      await once(child, 'close');
    },
  };
}
