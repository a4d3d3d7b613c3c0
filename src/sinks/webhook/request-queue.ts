import { interruptedError } from './interrupted.ts';

/** How items are packed into requests and how many requests are in flight. */
export interface RequestQueueOptions<T, P = undefined> {
  /** Items per request at most. */
  readonly maxItems: number;
  /** Sum of `size` per request at most (an item larger on its own leaves alone). */
  readonly maxBytes: number;
  readonly size: (item: T) => number;
  /** Longest a request that is not full waits for more items (0: it never waits). */
  readonly flushIntervalMs: number;
  /** Requests in flight at once. */
  readonly concurrency: number;
  /**
   * Builds a request from its items as soon as it is complete (full, or leaving), before its
   * turn to be sent: so the next request is ready while the one before it is in flight. A
   * throw fails the request in its turn, as a rejected `send` would.
   */
  readonly prepare?: (items: readonly T[]) => P;
  /**
   * Sends one request (with what `prepare` built): resolves once its items are delivered (or
   * set aside for good), rejects when it is given up on. Retrying is its business, not the
   * queue's.
   */
  readonly send: (items: readonly T[], prepared: P) => Promise<void>;
}

/** Requests filled in order, sent in order, at most `concurrency` in flight. */
export interface RequestQueue<T> {
  /**
   * Adds items to the request being filled; resolves once every request holding one of them
   * is acknowledged, rejects when one of those requests is given up on. With `more`, a request
   * that is not full waits (at most the flush interval) for the next items.
   */
  add(items: readonly T[], more?: boolean): Promise<void>;
  /** Sends the request being filled, now. */
  flush(): void;
  /**
   * Sends no more requests: the one being filled and those waiting are rejected
   * (ERR_SINK_INTERRUPTED) when their turn comes; those in flight finish.
   */
  stop(): void;
  /** `stop()`, and rejects the requests in flight with `err` too (their answers may still come). */
  abandon(err: unknown): void;
  /** Clears the flush timer. */
  close(): void;
}

/** One request being filled or waiting to leave; `acked` settles with its delivery. */
interface Request<T, P> {
  items: T[];
  bytes: number;
  /** What `prepare` made of the items once the request left the tail (or why it could not). */
  prepared?: { readonly value: P } | { readonly error: unknown };
  readonly acked: Promise<void>;
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}

/**
 * The webhook sink's request queue: items are packed into requests (by count and bytes), a
 * request leaves when full, when the caller has nothing more at hand, or after the flush
 * interval; each is built (`prepare`) as it leaves; requests are sent in order, `concurrency`
 * at a time, and a request's ack comes after the next request has been sent. After a request
 * is given up on nothing more is sent: the reader stops or restarts there.
 *
 * @example
 * ```ts
 * const queue = createRequestQueue({
 *   maxItems: 500, maxBytes: 4 << 20, size: (d: Delivery) => d.raw.length + 1,
 *   flushIntervalMs: 100, concurrency: 2,
 *   prepare: (records) => service.build(records),
 *   send: (records, request) => service.send(records, request),
 * });
 * await queue.add(batch); // every record of `batch` acknowledged
 * ```
 */
export function createRequestQueue<T, P = undefined>(
  opts: RequestQueueOptions<T, P>,
): RequestQueue<T> {
  let tail: Request<T, P> | undefined;
  let tailTimer: NodeJS.Timeout | undefined;
  const waiting: Request<T, P>[] = [];
  const sending = new Set<Request<T, P>>();
  let active = 0;
  let stopped = false;
  /** Why the first request given up on was; every later request is rejected with it. */
  let failure: unknown;

  function leave(): void {
    clearTimeout(tailTimer);
    tailTimer = undefined;
    if (!tail) return;
    const req = tail;
    tail = undefined;
    // (A request that will not be sent is not built.)
    if (failure === undefined && !stopped) req.prepared = prepare(req.items);
    waiting.push(req);
    dispatch();
  }

  function prepare(items: readonly T[]): { value: P } | { error: unknown } {
    try {
      return { value: opts.prepare ? opts.prepare(items) : (undefined as P) };
    } catch (error) {
      return { error };
    }
  }

  function dispatch(): void {
    while (active < opts.concurrency && waiting.length > 0) {
      const req = waiting.shift()!;
      if (failure !== undefined || stopped) {
        req.reject(failure ?? interruptedError('stopped before the request was sent'));
        continue;
      }
      active += 1;
      sending.add(req);
      const prepared = req.prepared ?? prepare(req.items);
      ('error' in prepared
        ? Promise.reject(prepared.error)
        : opts.send(req.items, prepared.value)
      ).then(
        () => {
          sending.delete(req);
          active -= 1;
          // The next request leaves before this one's ack wakes the caller: an HTTP client
          // writes a request on the next tick, and the caller's next steps (reading and
          // checking the next batch) run as promise jobs that would hold that tick back.
          dispatch();
          process.nextTick(req.resolve);
        },
        (err: unknown) => {
          failure ??= err;
          req.reject(err);
          sending.delete(req);
          active -= 1;
          dispatch();
        },
      );
    }
  }

  function stop(): void {
    stopped = true;
    leave();
  }

  return {
    add(items, more) {
      const acks: Promise<void>[] = [];
      // An indexed loop, and the items that go into one request copied at once: this runs once
      // per batch, too seldom to be optimized, and there `for…of` and a `push` per item
      // allocated for every record. `items[from, i)` belong to the tail, not yet copied.
      let from = 0;
      for (let i = 0; i < items.length; i++) {
        const n = opts.size(items[i]!);
        if (
          tail &&
          (tail.items.length + i - from >= opts.maxItems || tail.bytes + n > opts.maxBytes)
        ) {
          append(tail, items, from, i);
          from = i;
          leave();
        }
        tail ??= newRequest();
        if (acks[acks.length - 1] !== tail.acked) acks.push(tail.acked);
        tail.bytes += n;
      }
      if (tail) append(tail, items, from, items.length);
      if (tail && (tail.items.length >= opts.maxItems || !more || !opts.flushIntervalMs)) {
        leave();
      } else if (tail && !tailTimer) {
        tailTimer = setTimeout(leave, opts.flushIntervalMs);
      }
      return Promise.all(acks).then(() => undefined);
    },
    flush: leave,
    stop,
    abandon(err) {
      stop();
      failure ??= err;
      for (const req of sending) req.reject(err);
      dispatch();
    },
    close() {
      clearTimeout(tailTimer);
    },
  };
}

/** Copies `items[from, to)` into the request. */
function append<T, P>(req: Request<T, P>, items: readonly T[], from: number, to: number): void {
  if (from === to) return;
  if (req.items.length === 0) req.items = items.slice(from, to);
  else for (let k = from; k < to; k++) req.items.push(items[k]!);
}

function newRequest<T, P>(): Request<T, P> {
  let resolve!: () => void;
  let reject!: (err: unknown) => void;
  const acked = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // Observed by the adds that hold its items; never an unhandled rejection.
  acked.catch(() => undefined);
  return { items: [], bytes: 0, acked, resolve, reject };
}
