import { InvalidArgumentError, Option } from 'commander';
import { parseDuration } from '../../config/duration.ts';
import { optionParser } from '../../config/commander.ts';

/** Resolved configuration of the OpenReports sink. */
export interface OpenReportsConfig {
  /** Results kept per Report (the summary still counts every one). */
  readonly maxResults: number;
  /** Cap of the retry backoff. */
  readonly maxBackoffMs: number;
  /** Reports applied at once at a run's end. */
  readonly concurrency: number;
  /** A kubeconfig file; default: in-cluster, else $KUBECONFIG / ~/.kube/config. */
  readonly kubeconfigPath?: string;
}

function intFrom(min: number, max: number) {
  return (v: string): number => {
    if (!/^\d+$/.test(v.trim()) || Number(v) < min || Number(v) > max) {
      throw new InvalidArgumentError(`use a whole number from ${min} to ${max}`);
    }
    return Number(v);
  };
}

/**
 * The OpenReports sink's command-line options (`--sink openreports`), each with its
 * environment variable. The API server is reached with `--kubeconfig` (in-cluster by default).
 *
 * @example
 * ```ts
 * for (const o of openReportsOptions()) command.addOption(o);
 * ```
 */
export function openReportsOptions(): Option[] {
  return [
    new Option(
      '--openreports-max-results <n>',
      'results kept per Report; the summary counts them all',
    )
      .env('GK_EXPORT_OPENREPORTS_MAX_RESULTS')
      .default(1000)
      // Well under etcd's 1.5 MiB object limit at a few hundred bytes per result.
      .argParser(intFrom(1, 5000)),
    new Option('--openreports-max-backoff <duration>', 'cap of the retry backoff')
      .env('GK_EXPORT_OPENREPORTS_MAX_BACKOFF')
      .default(30_000, '30s')
      .argParser(optionParser(parseDuration)),
    new Option('--openreports-concurrency <n>', 'reports applied at once')
      .env('GK_EXPORT_OPENREPORTS_CONCURRENCY')
      .default(4)
      .argParser(intFrom(1, 32)),
  ];
}

/**
 * Turns parsed option values into the sink's config.
 *
 * @example
 * ```ts
 * const config = resolveOpenReportsConfig(command.opts());
 * ```
 */
export function resolveOpenReportsConfig(o: Record<string, unknown>): OpenReportsConfig {
  return {
    maxResults: Number(o.openreportsMaxResults ?? 1000),
    maxBackoffMs: Number(o.openreportsMaxBackoff ?? 30_000),
    concurrency: Number(o.openreportsConcurrency ?? 4),
    ...(typeof o.kubeconfig === 'string' && o.kubeconfig ? { kubeconfigPath: o.kubeconfig } : {}),
  };
}
