import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  GROWTH_BYTES,
  idleReclaimer,
  resetIdleActivity,
  watchIdleGrowth,
} from '../../src/pipeline/idle-reclaim.ts';
import { REPO } from '../helpers/cli.ts';
import { waitFor } from '../helpers/tmp.ts';

// A process that frees 25 MiB of buffers the C heap holds below live ones (as read buffers
// freed by a GC sit below what the reader allocated since), then trims: its anonymous memory
// before and after, in MiB.
const FRAGMENTED_HEAP = `
import { trimCHeap } from ${JSON.stringify(join(REPO, 'src/pipeline/idle-reclaim.ts'))};
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
const anon = () => Number(/RssAnon:\\s+(\\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))[1]) / 1024;
let bufs = Array.from({ length: 256 }, () => Buffer.allocUnsafeSlow(100 * 1024).fill(1));
// Above them, buffers that stay: their size is taken from the heap's top, not from a free
// chunk lower down (as a small one may be), so the freed 25 MiB cannot be trimmed by free().
const live = Array.from({ length: 8 }, () => Buffer.allocUnsafeSlow(100 * 1024).fill(1));
bufs = null;
await gc({ type: 'major', execution: 'async' });
await sleep(100);
const freed = anon();
const trimmed = trimCHeap();
console.log(JSON.stringify({ freed, trimmed: anon(), gaveBack: trimmed, live: live.length }));
`;

// A process started without --expose-gc: what it could collect before and after exposedGc().
const NO_FLAG = `
import { exposedGc } from ${JSON.stringify(join(REPO, 'src/pipeline/idle-reclaim.ts'))};
import { setTimeout as sleep } from 'node:timers/promises';
const flagless = typeof globalThis.gc;
let garbage = { big: new Array(1000).fill('x') };
const ref = new WeakRef(garbage);
garbage = null;
await sleep(0);
await exposedGc()({ type: 'major', execution: 'async' });
console.log(JSON.stringify({ flagless, collected: ref.deref() === undefined }));
`;

/** Runs a module's source in a process started with --expose-gc: what it printed, parsed. */
const runExposingGc = <T>(source: string): T =>
  JSON.parse(
    execFileSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', source], {
      encoding: 'utf8',
    }),
  ) as T;

describe('idle reclaim', () => {
  it('runs a full GC in a process started without --expose-gc', () => {
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', NO_FLAG], {
      encoding: 'utf8',
    });
    expect(JSON.parse(out)).toEqual({ flagless: 'undefined', collected: true });
  });

  it("gives the C heap's free memory back to the kernel", () => {
    const r = runExposingGc<{ freed: number; trimmed: number; gaveBack: boolean }>(FRAGMENTED_HEAP);
    // Freed, the 25 MiB stayed resident (glibc keeps them for reuse); trimmed, they are gone.
    expect(r.gaveBack).toBe(true);
    expect(r.freed - r.trimmed).toBeGreaterThan(16);
  });

  it('trims after the full GC, once per idle period after a delivery', async () => {
    const calls: string[] = [];
    const g = globalThis as { gc?: (opts: object) => Promise<void> };
    const saved = g.gc;
    g.gc = async () => void calls.push('gc');
    try {
      const reclaim = idleReclaimer(() => calls.push('trim'));
      reclaim.idle();
      reclaim.busy();
      reclaim.idle();
      await waitFor(() => calls.length === 2, 'a GC, then a trim', 5000);
      expect(calls).toEqual(['gc', 'trim']);
      // Idle again without a delivery: nothing more.
      reclaim.idle();
      await new Promise((r) => setTimeout(r, 2500));
      expect(calls).toHaveLength(2);
    } finally {
      g.gc = saved;
    }
  });
});

// A process that grows its young generation with garbage (as an idle reader's polls and probes
// do, only faster), then idles under watchIdleGrowth: its GCs and RSS.
const GROWN_IDLE = `
import { watchIdleGrowth } from ${JSON.stringify(join(REPO, 'src/pipeline/idle-reclaim.ts'))};
import { setTimeout as sleep } from 'node:timers/promises';
const real = globalThis.gc;
let gcs = 0;
globalThis.gc = (o) => { gcs += 1; return real(o); };
const watch = watchIdleGrowth({ every: 300 });
await sleep(400); // the first check marks the RSS
let sink = 0;
for (let i = 0; i < 200_000; i++) sink += { a: i, b: String(i) }.b.length;
const grown = process.memoryUsage.rss();
await sleep(1000);
const after = process.memoryUsage.rss();
watch.stop();
console.log(JSON.stringify({ gcs, grownMiB: grown / 2 ** 20, afterMiB: after / 2 ** 20, sink }));
`;

describe('idle growth', () => {
  const MiB = 1024 * 1024;

  it('reclaims when the idle RSS has grown by the threshold, and marks what the reclaim left', async () => {
    resetIdleActivity();
    let rss = 50 * MiB;
    let reclaims = 0;
    const watch = watchIdleGrowth({
      rss: () => rss,
      reclaim: async () => {
        reclaims += 1;
        rss -= GROWTH_BYTES + 0.5 * MiB;
      },
    });
    try {
      expect(await watch.check()).toBe(false); // marks 50 MiB
      rss += GROWTH_BYTES - 1;
      expect(await watch.check()).toBe(false);
      rss += 1;
      expect(await watch.check()).toBe(true);
      expect(reclaims).toBe(1);
      // Marked at 49.5 MiB: growth is measured from there.
      rss += GROWTH_BYTES - 1;
      expect(await watch.check()).toBe(false);
      rss += 1;
      expect(await watch.check()).toBe(true);
      expect(reclaims).toBe(2);
    } finally {
      watch.stop();
    }
  });

  it('waits for a whole check interval without deliveries, and never runs two at once', async () => {
    resetIdleActivity(50 * MiB);
    let rss = 60 * MiB;
    let release: () => void = () => undefined;
    let reclaims = 0;
    const watch = watchIdleGrowth({
      rss: () => rss,
      reclaim: () => {
        reclaims += 1;
        return new Promise<void>((r) => (release = r));
      },
    });
    try {
      idleReclaimer(() => undefined).busy(); // a batch delivered since the last check
      expect(await watch.check()).toBe(false);
      const first = watch.check(); // none since: idle for a whole interval
      expect(await watch.check()).toBe(false); // one is running
      release();
      rss = 58 * MiB;
      expect(await first).toBe(true);
      expect(reclaims).toBe(1);
      expect(await watch.check()).toBe(false); // marked at 58
    } finally {
      watch.stop();
      resetIdleActivity();
    }
  });

  it('gives the grown young generation back in a real process', () => {
    const r = runExposingGc<{ gcs: number; grownMiB: number; afterMiB: number }>(GROWN_IDLE);
    expect(r.gcs).toBeGreaterThanOrEqual(1);
    expect(r.grownMiB - r.afterMiB).toBeGreaterThan(1);
  });
});
