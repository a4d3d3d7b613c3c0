import { describe, expect, it } from 'vitest';
import {
  createRequestQueue,
  type RequestQueueOptions,
} from '../../../src/sinks/webhook/request-queue.ts';
import { waitFor } from '../../helpers/tmp.ts';

/** A send function that records each request and lets the test answer it. */
function fakeService() {
  const calls: { items: readonly string[]; ok: () => void; fail: (err: unknown) => void }[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const send = (items: readonly string[]) =>
    new Promise<void>((resolve, reject) => {
      inFlight += 1;
      maxInFlight = Math.max(maxInFlight, inFlight);
      const settle = (f: () => void) => () => {
        inFlight -= 1;
        f();
      };
      calls.push({
        items,
        ok: settle(resolve),
        fail: (err) => settle(() => reject(err))(),
      });
    });
  return { calls, send, maxInFlight: () => maxInFlight };
}

/** Whether a promise has settled (after the microtasks queued so far). */
async function state(p: Promise<unknown>): Promise<'pending' | 'resolved' | 'rejected'> {
  let s: 'pending' | 'resolved' | 'rejected' = 'pending';
  p.then(
    () => (s = 'resolved'),
    () => (s = 'rejected'),
  );
  await new Promise((r) => setImmediate(r));
  return s;
}

const items = (n: number, from = 0) => Array.from({ length: n }, (_, i) => `i${from + i}`);

function queueOf(
  service: ReturnType<typeof fakeService>,
  opts: Partial<RequestQueueOptions<string>> = {},
) {
  return createRequestQueue<string>({
    maxItems: 3,
    maxBytes: 1000,
    size: (s) => s.length + 1,
    flushIntervalMs: 0,
    concurrency: 1,
    send: service.send,
    ...opts,
  });
}

describe('webhook request queue', () => {
  it('packs items into requests by count and by bytes; an item too large alone leaves alone', async () => {
    const service = fakeService();
    const q = queueOf(service, { maxItems: 3, maxBytes: 10, concurrency: 8 });
    const added = q.add(['aa', 'bb', 'c', 'd', 'much-too-large', 'e']);
    // Sizes are length + 1: 'aa' 'bb' 'c' fill a request (3 items, 8 bytes); 'd' (2) and the
    // 15 bytes after it exceed 10.
    expect(service.calls.map((c) => c.items)).toEqual([
      ['aa', 'bb', 'c'],
      ['d'],
      ['much-too-large'],
      ['e'],
    ]);
    for (const c of service.calls) c.ok();
    await added;
  });

  it('holds a request that is not full while more is coming, until flush() or the interval', async () => {
    const service = fakeService();
    const q = queueOf(service, { maxItems: 10, flushIntervalMs: 50 });
    const a = q.add(items(2), true);
    const b = q.add(items(2, 2), true);
    expect(service.calls).toHaveLength(0);
    q.flush();
    expect(service.calls.map((c) => c.items)).toEqual([items(4)]);
    service.calls[0]!.ok();
    await Promise.all([a, b]);

    const c = q.add(items(1, 4), true);
    await waitFor(() => service.calls.length === 2, 'the held request to leave after the interval');
    expect(service.calls[1]!.items).toEqual(['i4']);
    service.calls[1]!.ok();
    await c;

    // Without `more`, or without an interval, a request leaves at once.
    void q.add(items(1, 5));
    expect(service.calls).toHaveLength(3);
    const q0 = queueOf(service, { maxItems: 10, flushIntervalMs: 0 });
    void q0.add(items(1, 6), true);
    expect(service.calls).toHaveLength(4);
    service.calls[2]!.ok();
    service.calls[3]!.ok();
    q.close();
    q0.close();
  });

  it('keeps at most `concurrency` requests in flight, started in order', async () => {
    const service = fakeService();
    const q = queueOf(service, { maxItems: 2, concurrency: 2 });
    const added = q.add(items(10));
    expect(service.calls.map((c) => c.items)).toEqual([items(2), items(2, 2)]);
    // The second answers first: the third starts, the first still holds the add.
    service.calls[1]!.ok();
    await waitFor(() => service.calls.length === 3, 'the third request');
    expect(service.calls[2]!.items).toEqual(items(2, 4));
    service.calls[0]!.ok();
    await waitFor(() => service.calls.length === 4, 'the fourth request');
    service.calls[2]!.ok();
    await waitFor(() => service.calls.length === 5, 'the fifth request');
    expect(await state(added)).toBe('pending');
    service.calls[3]!.ok();
    service.calls[4]!.ok();
    await added;
    expect(service.calls.flatMap((c) => c.items)).toEqual(items(10));
    expect(service.maxInFlight()).toBe(2);
  });

  it('resolves an add only once every request holding its items is acknowledged', async () => {
    const service = fakeService();
    const q = queueOf(service, { maxItems: 3, concurrency: 2, flushIntervalMs: 10_000 });
    const first = q.add(items(2), true);
    const second = q.add(items(3, 2));
    // Requests: [i0 i1 i2] (both adds) and [i3 i4] (the second only).
    expect(service.calls.map((c) => c.items)).toEqual([items(3), items(2, 3)]);
    service.calls[1]!.ok();
    expect(await state(second)).toBe('pending');
    service.calls[0]!.ok();
    await Promise.all([first, second]);
  });

  it('sends nothing after a request given up on; later adds fail with its error', async () => {
    const service = fakeService();
    const q = queueOf(service, { maxItems: 2, concurrency: 1 });
    const first = q.add(items(4));
    const boom = new Error('refused for good');
    service.calls[0]!.fail(boom);
    await expect(first).rejects.toBe(boom);
    await expect(q.add(items(1, 4))).rejects.toBe(boom);
    expect(service.calls).toHaveLength(1);
  });

  it('stop() lets the request in flight finish and sends none of the others (ERR_SINK_INTERRUPTED)', async () => {
    const service = fakeService();
    const q = queueOf(service, { maxItems: 2, flushIntervalMs: 10_000 });
    const sent = q.add(items(2));
    const waiting = q.add(items(2, 2));
    const held = q.add(items(1, 4), true);
    q.stop();
    expect(await state(sent)).toBe('pending');
    service.calls[0]!.ok();
    await sent;
    await expect(waiting).rejects.toMatchObject({ code: 'ERR_SINK_INTERRUPTED' });
    await expect(held).rejects.toMatchObject({ code: 'ERR_SINK_INTERRUPTED' });
    expect(service.calls).toHaveLength(1);
  });

  it('abandon() rejects the requests in flight at once, whatever their answer later', async () => {
    const service = fakeService();
    const q = queueOf(service, { maxItems: 2, concurrency: 2 });
    const a = q.add(items(2));
    const b = q.add(items(2, 2));
    const gaveUp = new Error('grace period over');
    q.abandon(gaveUp);
    await expect(a).rejects.toBe(gaveUp);
    await expect(b).rejects.toBe(gaveUp);
    service.calls[0]!.ok();
    await expect(q.add(items(1, 4))).rejects.toBe(gaveUp);
    expect(service.calls).toHaveLength(2);
  });

  it('builds each request as soon as it is complete, while the one before it is in flight', async () => {
    const service = fakeService();
    const built: string[][] = [];
    const sent: string[] = [];
    const q = createRequestQueue<string, string>({
      maxItems: 3,
      maxBytes: 1000,
      size: (s) => s.length + 1,
      flushIntervalMs: 10_000,
      concurrency: 1,
      prepare: (its) => (built.push([...its]), its.join('+')),
      send: (its, request) => (sent.push(request), service.send(its)),
    });
    const added = q.add(items(7), true);
    // Two full requests: the first in flight, the second built and waiting its turn; the
    // tail that is still being filled is not built yet.
    expect(built).toEqual([items(3), items(3, 3)]);
    expect(sent).toEqual(['i0+i1+i2']);
    q.flush();
    expect(built).toEqual([items(3), items(3, 3), ['i6']]);
    service.calls[0]!.ok();
    await waitFor(() => service.calls.length === 2, 'the second request');
    expect(sent).toEqual(['i0+i1+i2', 'i3+i4+i5']);
    service.calls[1]!.ok();
    await waitFor(() => service.calls.length === 3, 'the third request');
    service.calls[2]!.ok();
    await added;
    expect(built).toHaveLength(3);
    q.close();
  });

  it('fails a request whose build throws in its turn: earlier ones are delivered, nothing after is sent', async () => {
    const service = fakeService();
    const boom = new Error('cannot encode');
    const q = createRequestQueue<string, void>({
      maxItems: 2,
      maxBytes: 1000,
      size: (s) => s.length + 1,
      flushIntervalMs: 0,
      concurrency: 1,
      prepare: (its) => {
        if (its.includes('i2')) throw boom;
      },
      send: (its) => service.send(its),
    });
    const first = q.add(items(2));
    const second = q.add(items(4, 2));
    expect(await state(second)).toBe('pending');
    service.calls[0]!.ok();
    await first;
    await expect(second).rejects.toBe(boom);
    expect(service.calls.map((c) => c.items)).toEqual([items(2)]);
  });

  it('sends the next request before it acknowledges the one before, so the ack cannot hold back its write', async () => {
    // Regression: the ack came first, and the work it woke (the next batch read and checked,
    // all promise jobs) ran before the HTTP client's next tick wrote the next request.
    const service = fakeService();
    const order: string[] = [];
    const q = queueOf(service, {
      maxItems: 2,
      concurrency: 1,
      send: (its) => {
        order.push(`send ${its[0]}`);
        process.nextTick(() => order.push(`written ${its[0]}`));
        return service.send(its);
      },
    });
    const first = q.add(items(2));
    const second = q.add(items(2, 2));
    void first.then(() => order.push('first acknowledged'));
    await new Promise((r) => process.nextTick(r));
    service.calls[0]!.ok();
    await first;
    expect(order).toEqual(['send i0', 'written i0', 'send i2', 'written i2', 'first acknowledged']);
    service.calls[1]!.ok();
    await second;
  });
});
