import { startDiscovery, type Discovery, type DiscoveryOptions } from '../discovery.ts';

/**
 * One watcher of the export root for the sources of every sink: each source subscribes with
 * its `onChange` and gets every event, plus one "rescan everything" when it subscribes (a
 * source that starts later, after a restart of its lane, missed the first one). Closing a
 * subscription only unsubscribes; `close()` stops the watcher.
 *
 * @example
 * ```ts
 * const shared = createSharedDiscovery({ root, poll, intervalMs, telemetry });
 * createDiskSource({ …, discover: shared.discover });
 * await shared.close();
 * ```
 */
export function createSharedDiscovery(opts: Omit<DiscoveryOptions, 'onChange'>) {
  const listeners = new Set<(channel: string | undefined) => void>();
  let inner: Discovery | undefined;
  let closed: Promise<void> | undefined;
  const start = () =>
    (inner ??= startDiscovery({
      ...opts,
      onChange: (channel) => {
        for (const l of listeners) l(channel);
      },
    }));
  return {
    discover(o: DiscoveryOptions): Discovery {
      const listener = o.onChange;
      listeners.add(listener);
      const d = start();
      const ready = d.ready.then(() => {
        if (listeners.has(listener)) listener(undefined);
      });
      return {
        ready,
        // The root could not be listed for one source: it could not for the others either.
        rewatch: () => d.rewatch(),
        close: () => {
          listeners.delete(listener);
          return Promise.resolve();
        },
      };
    },
    /** Stops the watcher; idempotent. */
    close(): Promise<void> {
      closed ??= inner?.close() ?? Promise.resolve();
      return closed;
    },
  };
}
