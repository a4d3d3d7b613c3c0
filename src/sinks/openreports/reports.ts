import { hash } from 'node:crypto';
import type { ReportResult, ResultStatus } from './results.ts';

export const OPENREPORTS_GROUP = 'openreports.io';
export const OPENREPORTS_VERSION = 'v1alpha1';
/** Label on every report gk-export writes (and the selector it lists them by). */
export const MANAGED_BY = { 'app.kubernetes.io/managed-by': 'gk-export' } as const;
export const CHANNEL_LABEL = 'gk-export/channel';
/** Annotations: the audit run a report shows, and (when capped) how many results it had. */
export const AUDIT_ID_ANNOTATION = 'gk-export/audit-id';
export const TRUNCATED_ANNOTATION = 'gk-export/results-truncated';

/** `summary` of a Report. */
export type Summary = Record<ResultStatus, number>;

/** The results of one report scope: a namespace, or `''` for cluster-scoped resources. */
export interface ScopeResults {
  readonly results: ReportResult[];
  readonly summary: Summary;
}

const emptySummary = (): Summary => ({ pass: 0, fail: 0, warn: 0, error: 0, skip: 0 });

/**
 * A run's results by scope, capped at `maxResults` kept per scope (the first ones, in run
 * order); the summary counts every result. Memory is bounded by scopes × `maxResults`.
 *
 * @example
 * ```ts
 * const run = createRunResults(1000);
 * run.add('team-a', result); // true when kept
 * ```
 */
export function createRunResults(maxResults: number) {
  const scopes = new Map<string, ScopeResults>();
  const scope = (ns: string) => {
    let s = scopes.get(ns);
    if (!s) scopes.set(ns, (s = { results: [], summary: emptySummary() }));
    return s;
  };
  return {
    scopes: scopes as ReadonlyMap<string, ScopeResults>,
    /** Counts `r` and keeps it if the scope has room; returns whether it was kept. */
    add(ns: string, r: ReportResult): boolean {
      const s = scope(ns);
      s.summary[r.result] += 1;
      if (s.results.length >= maxResults) return false;
      s.results.push(r);
      return true;
    },
    /** Replays a journal entry: results already kept, and counts. */
    replay(ns: string, kept: readonly ReportResult[], counts: Partial<Summary>): void {
      const s = scope(ns);
      s.results.push(...kept.slice(0, Math.max(0, maxResults - s.results.length)));
      for (const [k, n] of Object.entries(counts)) s.summary[k as ResultStatus] += n ?? 0;
    },
  };
}

export type RunResults = ReturnType<typeof createRunResults>;

/** What identifies the reports of one channel. */
export interface ReportTarget {
  /** Object name of the channel's Report in each namespace, and of its ClusterReport. */
  readonly name: string;
  /** Value of the `gk-export/channel` label. */
  readonly channelLabel: string;
}

/**
 * The report name and label of a channel: `gatekeeper-<channel>` made a valid object name
 * (and the channel a valid label value); a channel that needs changing gets a short hash of
 * its real name so two channels never share reports.
 *
 * @example
 * ```ts
 * reportTarget('audit-channel'); // { name: 'gatekeeper-audit-channel', channelLabel: 'audit-channel' }
 * ```
 */
export function reportTarget(channel: string): ReportTarget {
  return {
    name: dnsSafe(`gatekeeper-${channel}`, 253),
    channelLabel: dnsSafe(channel, 63),
  };
}

function dnsSafe(s: string, max: number): string {
  const clean = s
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '');
  if (clean === s && clean.length <= max) return clean;
  const suffix = hash('sha256', s, 'hex').slice(0, 8);
  const head = clean.slice(0, max - suffix.length - 1).replace(/-+$/, '');
  return head ? `${head}-${suffix}` : `x${suffix}`;
}

/**
 * A Report (namespace given) or ClusterReport: the scope's results — none for a scope whose
 * violations are all gone — with the summary, `configuration.limits.maxResults`, and, when
 * the results were capped, the `gk-export/results-truncated` annotation saying how many
 * were kept of how many.
 *
 * @example
 * ```ts
 * reportObject(reportTarget('audit-channel'), 'team-a', run.scopes.get('team-a'), { auditId, maxResults: 1000 });
 * ```
 */
export function reportObject(
  target: ReportTarget,
  namespace: string,
  scope: ScopeResults | undefined,
  run: { auditId: string; maxResults: number },
): Record<string, unknown> {
  const results = scope?.results ?? [];
  const summary = scope?.summary ?? emptySummary();
  const total = Object.values(summary).reduce((a, n) => a + n, 0);
  const annotations: Record<string, string> = { [AUDIT_ID_ANNOTATION]: run.auditId };
  if (total > results.length) {
    annotations[TRUNCATED_ANNOTATION] = `${results.length} of ${total} results kept`;
  }
  return {
    apiVersion: `${OPENREPORTS_GROUP}/${OPENREPORTS_VERSION}`,
    kind: namespace ? 'Report' : 'ClusterReport',
    metadata: {
      name: target.name,
      ...(namespace ? { namespace } : {}),
      labels: { ...MANAGED_BY, [CHANNEL_LABEL]: target.channelLabel },
      annotations,
    },
    source: 'gatekeeper',
    configuration: { limits: { maxResults: run.maxResults } },
    summary,
    results,
  };
}
