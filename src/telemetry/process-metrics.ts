import { closeSync, openSync, readSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import type { Exposable } from './exposition.ts';
import type { MetricSnapshot, MetricValue } from './metric-types.ts';

/** A metric whose samples are read when it is scraped; no samples when they cannot be read. */
function sampled(
  name: string,
  help: string,
  type: MetricSnapshot['type'],
  read: () => Promise<number | MetricValue[] | undefined> | number | MetricValue[] | undefined,
): Exposable {
  return {
    async get() {
      const v = await Promise.resolve()
        .then(read)
        .catch(() => undefined);
      const values = v === undefined ? [] : typeof v === 'number' ? [{ labels: {}, value: v }] : v;
      return { name, help, type, values, aggregator: 'sum' };
    },
  };
}

/**
 * The text of a small /proc file, read with one reused buffer: `fs.promises.readFile` takes
 * 64 KiB for each read of a file whose size is unknown, as /proc's are (256 KiB per scrape,
 * which then stayed in the C heap). A /proc read is made by the kernel in memory, so a
 * synchronous one costs microseconds.
 */
function readProc(path: string): string {
  const fd = openSync(path, 'r');
  try {
    return procBuffer.toString('latin1', 0, readSync(fd, procBuffer, 0, procBuffer.length, 0));
  } finally {
    closeSync(fd);
  }
}
const procBuffer = Buffer.alloc(8192);

/** A field of /proc/self/status in bytes (`VmRSS:   1234 kB`). */
function statusBytes(field: string): number | undefined {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readProc('/proc/self/status'));
  return m ? Number(m[1]) * 1024 : undefined;
}

/** The soft limit on open files (`Max open files  1024  4096  files`). */
function maxFds(): number | undefined {
  const m = /^Max open files\s+(\d+|unlimited)/m.exec(readProc('/proc/self/limits'));
  return m && m[1] !== 'unlimited' ? Number(m[1]) : undefined;
}

/** The V8 heap gauges: name, help and `process.memoryUsage()` field. */
const V8_MEMORY = [
  ['nodejs_heap_size_total_bytes', 'Process heap size from Node.js in bytes.', 'heapTotal'],
  ['nodejs_heap_size_used_bytes', 'Process heap size used from Node.js in bytes.', 'heapUsed'],
  ['nodejs_external_memory_bytes', 'Node.js external memory size in bytes.', 'external'],
] as const;

/**
 * Node's process metrics under the names Prometheus' client libraries give them (prom-client's
 * defaults: CPU, memory, file descriptors, start time, V8 heap, version), prefixed: read from
 * `process` and Linux's /proc at each scrape, with no metrics library and no `perf_hooks`.
 * (prom-client's event-loop-lag and GC histograms are not among them: /healthz reports the
 * event loop's delay.)
 *
 * @example
 * ```ts
 * await prometheusText([...metrics.all, ...processMetrics('gk_export_')]);
 * ```
 */
export function processMetrics(prefix: string): Exposable[] {
  const p = (name: string) => prefix + name;
  const startSeconds = Math.round(Date.now() / 1000 - process.uptime());
  const [major, minor, patch] = process.versions.node.split('.').map(Number);
  return [
    sampled(
      p('process_cpu_user_seconds_total'),
      'Total user CPU time spent in seconds.',
      'counter',
      () => process.cpuUsage().user / 1e6,
    ),
    sampled(
      p('process_cpu_system_seconds_total'),
      'Total system CPU time spent in seconds.',
      'counter',
      () => process.cpuUsage().system / 1e6,
    ),
    sampled(
      p('process_cpu_seconds_total'),
      'Total user and system CPU time spent in seconds.',
      'counter',
      () => {
        const { user, system } = process.cpuUsage();
        return (user + system) / 1e6;
      },
    ),
    sampled(
      p('process_start_time_seconds'),
      'Start time of the process since unix epoch in seconds.',
      'gauge',
      () => startSeconds,
    ),
    sampled(p('process_resident_memory_bytes'), 'Resident memory size in bytes.', 'gauge', () =>
      statusBytes('VmRSS'),
    ),
    sampled(p('process_virtual_memory_bytes'), 'Virtual memory size in bytes.', 'gauge', () =>
      statusBytes('VmSize'),
    ),
    sampled(p('process_heap_bytes'), 'Process heap size in bytes.', 'gauge', () =>
      statusBytes('VmData'),
    ),
    sampled(
      p('process_open_fds'),
      'Number of open file descriptors.',
      'gauge',
      // (The listing's own descriptor is in the listing.)
      async () => (await readdir('/proc/self/fd')).length - 1,
    ),
    sampled(p('process_max_fds'), 'Maximum number of open file descriptors.', 'gauge', maxFds),
    ...V8_MEMORY.map(([name, help, field]) =>
      sampled(p(name), help, 'gauge', () => process.memoryUsage()[field]),
    ),
    sampled(
      p('nodejs_active_resources_total'),
      'Total number of active resources.',
      'gauge',
      () => process.getActiveResourcesInfo().length,
    ),
    sampled(p('nodejs_version_info'), 'Node.js version info.', 'gauge', () => [
      {
        labels: { version: process.version, major: major!, minor: minor!, patch: patch! },
        value: 1,
      },
    ]),
  ];
}
