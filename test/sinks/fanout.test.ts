import { describe, expect, it } from 'vitest';
import { GkExportError } from '../../src/errors.ts';
import { createFanout } from '../../src/sinks/fanout.ts';
import type { Delivery, Sink, WriteHint } from '../../src/sinks/sink.ts';
import { deliveries } from '../helpers/runs.ts';

/** A sink that records every call; `fail` makes its writes reject for good. */
function recordingSink(name: string, opts: { window?: number; fail?: boolean } = {}) {
  const calls: string[] = [];
  const got: Delivery[] = [];
  let release: (() => void) | undefined;
  const sink: Sink = {
    name,
    window: opts.window,
    async write(batch: readonly Delivery[], hint?: WriteHint) {
      calls.push(`write ${batch.length}${hint?.more ? ' more' : ''}`);
      await new Promise<void>((r) => (release = r));
      if (opts.fail) throw new GkExportError('ERR_SINK_PERMANENT', `${name} refused`);
      got.push(...batch);
    },
    flush: () => void calls.push('flush'),
    interrupt: () => void calls.push('interrupt'),
    async close() {
      calls.push('close');
    },
  };
  return { sink, calls, got, release: () => release?.() };
}

describe('fan-out', () => {
  it('hands every batch to every sink and acknowledges it once all of them have it', async () => {
    const a = recordingSink('stdout');
    const b = recordingSink('webhook', { window: 4 });
    const fan = createFanout([a.sink, b.sink]);
    expect(fan.name).toBe('stdout+webhook');
    expect(fan.window).toBe(4);
    let acked = false;
    const w = fan.write(deliveries(3), { more: true }).then(() => (acked = true));
    await new Promise((r) => setImmediate(r));
    expect([a.calls, b.calls]).toEqual([['write 3 more'], ['write 3 more']]);
    a.release();
    await new Promise((r) => setImmediate(r));
    expect(acked).toBe(false); // the webhook does not have it yet
    b.release();
    await w;
    expect(a.got).toHaveLength(3);
    expect(b.got).toHaveLength(3);
  });

  it('rejects the batch when one sink gives up on it, so the checkpoint does not pass it', async () => {
    const a = recordingSink('stdout');
    const b = recordingSink('webhook', { fail: true });
    const w = createFanout([a.sink, b.sink]).write(deliveries(2));
    await new Promise((r) => setImmediate(r));
    a.release();
    b.release();
    await expect(w).rejects.toMatchObject({ code: 'ERR_SINK_PERMANENT' });
  });

  it('passes flush and interrupt to every sink, and closes each once however often it is closed', async () => {
    const a = recordingSink('stdout');
    const b = recordingSink('webhook');
    const fan = createFanout([a.sink, b.sink]);
    fan.flush?.();
    fan.interrupt?.();
    const first = fan.close();
    expect(fan.close()).toBe(first);
    await first;
    expect(a.calls).toEqual(['flush', 'interrupt', 'close']);
    expect(b.calls).toEqual(['flush', 'interrupt', 'close']);
  });

  it('with one sink, is that sink: same name, window, writes, flush, interrupt and close', async () => {
    const only = recordingSink('webhook', { window: 3 });
    const fan = createFanout([only.sink]);
    expect({ name: fan.name, window: fan.window }).toEqual({ name: 'webhook', window: 3 });
    const w = fan.write(deliveries(1));
    await new Promise((r) => setImmediate(r));
    only.release();
    await w;
    fan.flush?.();
    fan.interrupt?.();
    await fan.close();
    expect(only.calls).toEqual(['write 1', 'flush', 'interrupt', 'close']);
  });

  it('leaves flush and interrupt to sinks that have them', async () => {
    const bare: Sink = { name: 'bare', async write() {}, async close() {} };
    const fan = createFanout([bare, recordingSink('stdout').sink]);
    expect(() => fan.flush?.()).not.toThrow();
    expect(() => fan.interrupt?.()).not.toThrow();
    await fan.close();
  });
});
