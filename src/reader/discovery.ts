import { watch, type FSWatcher } from 'chokidar';
import { stat } from 'node:fs/promises';
import { errnoCode } from '../errors.ts';
import { relative, sep } from 'node:path';
import type { Telemetry } from '../telemetry/index.ts';

export interface DiscoveryOptions {
  readonly root: string;
  /** Use stat polling instead of native events (for volumes without inotify). */
  readonly poll: boolean;
  /** Polling interval and the period of the safety-net rescan, in ms. */
  readonly intervalMs: number;
  readonly telemetry: Telemetry;
  /** Called with the channel whose directory changed, or undefined for "rescan everything". */
  readonly onChange: (channel: string | undefined) => void;
}

/**
 * Watches the export root with chokidar (native events, or polling) and turns every event
 * into "channel X changed". Events are only triggers: the reader rescans the channel
 * directory itself, so a missed, merged or reordered event cannot lose a file. A periodic
 * tick asks for a full rescan as a safety net, and a root that is missing is waited for
 * (logged once) and watched again when it appears or is recreated.
 *
 * @example
 * ```ts
 * const d = startDiscovery({ root, poll: false, intervalMs: 1000, telemetry, onChange: (c) => scan(c) });
 * await d.close();
 * ```
 */
export function startDiscovery(opts: DiscoveryOptions) {
  const { root, telemetry } = opts;
  let watcher: FSWatcher | undefined;
  let rootIno: number | undefined;
  let waitingLogged = false;
  let closed: Promise<void> | undefined;

  function channelOf(path: string): string | undefined {
    const rel = relative(root, path);
    if (rel === '' || rel.startsWith('..')) return undefined;
    return rel.split(sep)[0];
  }

  function startWatcher(): void {
    watcher = watch(root, {
      depth: 1,
      ignoreInitial: true,
      followSymlinks: false,
      backend: opts.poll ? 'polling' : 'native',
      pollingInterval: opts.intervalMs,
      ignorePermissionErrors: true,
      atomic: false,
      // A consumed admission segment is renamed to `.deleting` and unlinked at once; the
      // watcher, finding that name missing and untracked, would otherwise re-read the whole
      // channel directory for each one (N² work for a backlog of N segments).
      ignored: (path: string) => path.endsWith('.deleting'),
    });
    watcher.on('all', (_event, path) => opts.onChange(channelOf(path)));
    watcher.on('error', (err) => {
      telemetry.log.warn({ root, err: (err as Error).message }, 'watcher error; rescanning');
      opts.onChange(undefined);
    });
  }

  async function checkRoot(): Promise<void> {
    let ino: number | undefined;
    try {
      const st = await stat(root);
      ino = st.isDirectory() ? st.ino : undefined;
    } catch (err) {
      ino = undefined;
      const code = errnoCode(err);
      if (code !== 'ENOENT' && code !== 'ENOTDIR' && !closed) {
        // Not missing but not reachable (EACCES on a parent …): the source's listing fails
        // too, and says so; waiting silently would hide it.
        opts.onChange(undefined);
        return;
      }
    }
    if (closed) return;
    if (ino === undefined) {
      if (!waitingLogged) {
        telemetry.log.info({ root }, 'export root does not exist yet; waiting for it');
        waitingLogged = true;
      }
      rootIno = undefined;
      return;
    }
    if (ino !== rootIno) {
      // First sight, or the root was deleted and recreated: watch the new directory.
      if (waitingLogged) telemetry.log.info({ root }, 'export root appeared');
      waitingLogged = false;
      const old = watcher;
      watcher = undefined;
      await old?.close();
      if (closed) return;
      rootIno = ino;
      startWatcher();
    }
    opts.onChange(undefined);
  }

  let ticking = false;
  const timer = setInterval(() => {
    if (ticking) return;
    ticking = true;
    void checkRoot().finally(() => (ticking = false));
  }, opts.intervalMs);
  // Not unref'd: while the root is missing or unreadable this timer is all there is to wait on
  // (no watcher, no server with --http-port 0), and the reader must wait, not exit.
  const ready = checkRoot();

  return {
    /** Resolves after the first root check (watching started, or waiting logged). */
    ready,
    /**
     * Starts watching the root afresh: after the root could not be listed (EACCES …), the
     * watcher missed its channels, and the same inode would not make the next check restart it.
     */
    rewatch(): void {
      if (closed) return;
      rootIno = undefined;
      void checkRoot();
    },
    /** Stops watching; idempotent. */
    close(): Promise<void> {
      closed ??= (async () => {
        clearInterval(timer);
        await ready.catch(() => undefined);
        await watcher?.close();
      })();
      return closed;
    },
  };
}

export type Discovery = ReturnType<typeof startDiscovery>;
