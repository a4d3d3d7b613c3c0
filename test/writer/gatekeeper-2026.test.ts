import { open, readdir, readlink, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tryLock, unlock } from '../../src/protocol/flock.ts';
import type { ExportMsg } from '../../src/protocol/record.ts';
import type { Delivery, Sink } from '../../src/sinks/sink.ts';
import { createAdmissionWriter, createDiskWriter } from '../../src/writer/index.ts';
import { removeReadySegment } from '../../src/writer/admission-spool.ts';
import { collectingSink, metricValue } from '../helpers/reader.ts';
import { violation } from '../helpers/runs.ts';
import { waitFor } from '../helpers/tmp.ts';
import { useWorkspace } from '../helpers/workspace.ts';

// What a third-party reader must honour on a Gatekeeper 3.24 volume, checked with our
// writer on one side and our reader on the other.

const admission = (i: number, constraint = 0): ExportMsg => ({
  ...violation(`req-${i}`, constraint),
  eventType: 'violation_admission',
});

/** How many descriptors of this process point at `path` (Linux /proc). */
async function openHere(path: string): Promise<number> {
  let n = 0;
  for (const fd of await readdir('/proc/self/fd')) {
    if ((await readlink(`/proc/self/fd/${fd}`).catch(() => '')) === path) n += 1;
  }
  return n;
}

describe('Gatekeeper 3.24 volume, our writer and our reader', () => {
  const ws = useWorkspace();

  it('maxAuditResults 0: the writer deletes the run it just finished, the reader still delivers all of it', async () => {
    const writer = createDiskWriter({ root: ws.root, maxAuditResults: 0 });
    ws.defer(() => writer.close());
    const c = collectingSink();
    const r = ws.reader({ sink: c.sink });
    const run = await writer.startRun('audit-channel', '2026-08-01T10:00:00Z');
    for (let i = 0; i < 50; i++) await run.write(violation(run.auditId, i));
    await run.flush();
    // The reader opens a run as soon as it sees it, before the writer completes it. (The
    // writer, in this process too, holds one descriptor: the reader's is the second.)
    await waitFor(async () => (await openHere(run.path)) >= 2, 'the reader holding the open run');
    await run.complete();
    expect(await readdir(join(ws.root, 'audit-channel'))).toEqual([]);
    await waitFor(() => c.violations().length === 50, '50 violations of the deleted run');
    expect(c.violations().map((d) => d.msg.resourceName)).toEqual(
      Array.from({ length: 50 }, (_, i) => `pod-${i}`),
    );
    expect(await metricValue(r.telemetry, 'gk_export_runs_lost_total')).toBe(0);
  });

  it('holds no lock while it sends: the writer can lock and delete a segment in flight, which is still delivered once', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const got: Delivery[] = [];
    let sending: (() => void) | undefined;
    const sent = new Promise<void>((r) => (sending = r));
    const sink: Sink = {
      name: 'gated',
      async write(batch) {
        sending?.();
        await gate;
        got.push(...batch);
      },
      async close() {},
    };
    const w = createAdmissionWriter({ root: ws.root, channel: 'audit-channel' });
    ws.defer(() => w.close());
    await w.writeBatch([admission(1), admission(1, 1), admission(2)]);
    await w.rotate();
    const dir = join(ws.root, 'audit-channel');
    const [segment] = await readdir(dir);
    ws.reader({ sink, mode: 'admission' });
    await sent;
    // Mid-send: Gatekeeper's cleanup takes LOCK_EX|LOCK_NB, and gets it.
    const fh = await open(join(dir, segment!), 'r');
    try {
      expect(tryLock(fh.fd, 'ex')).toBe(true);
      unlock(fh.fd);
    } finally {
      await fh.close();
    }
    expect(await removeReadySegment(dir, segment!)).toBe(true);
    release();
    await waitFor(() => got.length === 3, 'the segment delivered through the held descriptor');
    // One request's UID on each constraint it violated: all delivered, each its own key.
    expect(got.map((d) => d.msg.id)).toEqual(['req-1', 'req-1', 'req-2']);
    expect(new Set(got.map((d) => d.key)).size).toBe(3);
    expect(await readdir(dir)).toEqual([]);
  });

  it('a deleted Connection directory: the writer makes it again, the reader finds the new segments', async () => {
    const c = collectingSink();
    ws.reader({ sink: c.sink, mode: 'admission' });
    const w = createAdmissionWriter({ root: ws.root, channel: 'audit-channel', maxRecords: 2 });
    ws.defer(() => w.close());
    await w.writeBatch([admission(1), admission(2)]);
    await waitFor(() => c.violations().length === 2, 'the first segment');
    await w.write(admission(3)); // an open segment, lost with the directory
    await rm(ws.root, { recursive: true });
    await w.writeBatch([admission(4), admission(5)]);
    await waitFor(() => c.violations().length === 4, 'the segment written after the deletion');
    expect(c.violations().map((d) => d.msg.id)).toEqual(['req-1', 'req-2', 'req-4', 'req-5']);
  });

  it('a deleted Connection directory: a new run of the same name is read from its start, not from a stale checkpoint', async () => {
    const c = collectingSink();
    const r = ws.reader({ sink: c.sink });
    const writer = createDiskWriter({ root: ws.root, maxAuditResults: 3 });
    ws.defer(() => writer.close());
    const id = '2026-08-01T10:00:00Z';
    const first = await writer.startRun('audit-channel', id);
    for (let i = 0; i < 5; i++) await first.write(violation(id, i));
    await first.complete();
    await waitFor(() => c.violations().length === 5, 'the first run');
    await rm(ws.root, { recursive: true });
    await waitFor(
      () => r.telemetry.logs.some((l) => String(l.msg).includes('does not exist yet')),
      'the reader noticing the ws.root is gone',
    );
    const again = await writer.startRun('audit-channel', id);
    for (let i = 100; i < 108; i++) await again.write(violation(id, i));
    await again.complete();
    await waitFor(() => c.violations().length === 13, 'all 8 lines of the new run');
    expect(
      c
        .violations()
        .slice(5)
        .map((d) => d.msg.resourceName),
    ).toEqual(Array.from({ length: 8 }, (_, i) => `pod-${100 + i}`));
  });
});
