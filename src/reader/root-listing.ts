import { errnoCode } from '../errors.ts';
import type { Telemetry } from '../telemetry/index.ts';

/** Longest wait between two attempts to list a root that cannot be listed. */
const RETRY_MAX_MS = 30_000;

/**
 * Tracks whether the export root can be listed. A failure (EACCES, EMFILE …) is one ERROR
 * per cause, `gk_export_root_unreadable` 1 (so /readyz says not ready), and the next attempt
 * after a backoff that doubles from `intervalMs` up to 30 s; the first success after a failure
 * is one INFO line.
 *
 * @example
 * ```ts
 * const health = rootListingHealth({ root, intervalMs: 1000, telemetry });
 * if (!health.due()) return;
 * try { await readRoot(root); } catch (err) { health.failed(err); return; }
 * if (health.recovered()) discovery.rewatch();
 * ```
 */
export function rootListingHealth(opts: {
  readonly root: string;
  readonly intervalMs: number;
  readonly telemetry: Telemetry;
}) {
  const { log, metrics } = opts.telemetry;
  /** The cause (errno code) while the root cannot be listed. */
  let failing: string | undefined;
  let failures = 0;
  let retryAt = 0;
  return {
    /** False while backing off after a failure. */
    due: (): boolean => Date.now() >= retryAt,
    failed(err: unknown): void {
      failures += 1;
      const delay = Math.min(RETRY_MAX_MS, opts.intervalMs * 2 ** Math.min(failures - 1, 16));
      retryAt = Date.now() + delay;
      metrics.rootUnreadable.set(1);
      const cause = errnoCode(err) ?? (err as Error).message;
      if (failing === cause) {
        log.debug({ root: opts.root, retryMs: delay }, 'export root still cannot be listed');
        return;
      }
      failing = cause;
      log.error(
        { root: opts.root, err: (err as Error).message },
        'cannot list the export root; not ready, retrying with backoff',
      );
    },
    /** Records a successful listing; true when it ends a failure. */
    recovered(): boolean {
      if (failing === undefined) return false;
      log.info({ root: opts.root }, 'export root can be listed again');
      failing = undefined;
      failures = 0;
      retryAt = 0;
      metrics.rootUnreadable.set(0);
      return true;
    },
  };
}
