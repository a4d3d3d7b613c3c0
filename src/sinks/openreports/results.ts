import type { ExportMsg } from '../../protocol/record.ts';

/** `openreports.io/v1alpha1` result outcomes. */
export type ResultStatus = 'pass' | 'fail' | 'warn' | 'error' | 'skip';

/** A Kubernetes object reference, as a result's `resources` holds them. */
export interface ObjectReference {
  apiVersion?: string;
  kind?: string;
  namespace?: string;
  name?: string;
}

/** One `ReportResult` of an openreports.io Report. */
export interface ReportResult {
  source: 'gatekeeper';
  policy: string;
  rule: string;
  result: ResultStatus;
  message?: string;
  resources: ObjectReference[];
  properties: Record<string, string>;
  timestamp: { seconds: number; nanos: number };
}

/**
 * The result outcome of a violation by its enforcement action:
 *
 * | action | result | why |
 * |---|---|---|
 * | `deny` (and none: Gatekeeper's default) | `fail` | the requirement is not met, and enforced |
 * | `warn` | `warn` | not met; admission only warns |
 * | `dryrun` | `warn` | not met; not enforced at all, recorded for review |
 * | `scoped` | `warn` when its `enforcementActions` are only `warn`/`dryrun`, else `fail` | the strictest |
 *
 * An unknown action (or `scoped` with none listed) counts as `fail`: a violation is never
 * shown as less than it may be.
 *
 * @example
 * ```ts
 * resultOf({ enforcementAction: 'dryrun' }); // 'warn'
 * ```
 */
export function resultOf(
  m: Pick<ExportMsg, 'enforcementAction' | 'enforcementActions'>,
): ResultStatus {
  const action = m.enforcementAction ?? '';
  if (action === 'warn' || action === 'dryrun') return 'warn';
  if (action === 'scoped') {
    const actions = m.enforcementActions ?? [];
    const lenient = actions.length > 0 && actions.every((a) => a === 'warn' || a === 'dryrun');
    return lenient ? 'warn' : 'fail';
  }
  return 'fail';
}

/**
 * Maps an audited violation to a ReportResult: `policy` = the constraint kind, `rule` = the
 * constraint name, the violating object in `resources`, and the enforcement action, audit id
 * and constraint group and version in `properties`.
 *
 * @example
 * ```ts
 * const r = toReportResult(msg, '2026-01-01T00:00:00Z');
 * ```
 */
export function toReportResult(m: ExportMsg, auditId: string): ReportResult {
  const resource: ObjectReference = {
    apiVersion: m.resourceGroup
      ? `${m.resourceGroup}/${m.resourceAPIVersion ?? ''}`
      : (m.resourceAPIVersion ?? ''),
    kind: m.resourceKind ?? '',
    ...(m.resourceNamespace ? { namespace: m.resourceNamespace } : {}),
    name: m.resourceName ?? '',
  };
  const properties: Record<string, string> = {
    enforcementAction: m.enforcementAction ?? '',
    auditId: m.id ?? auditId,
    constraintGroup: m.group ?? '',
    constraintVersion: m.version ?? '',
  };
  if (m.enforcementActions?.length) properties.enforcementActions = m.enforcementActions.join(',');
  return {
    source: 'gatekeeper',
    policy: m.kind ?? '',
    rule: m.name ?? '',
    result: resultOf(m),
    ...(m.message ? { message: m.message } : {}),
    resources: [resource],
    properties,
    timestamp: timestampOf(m.timestamp) ?? timestampOf(m.id ?? auditId) ?? { seconds: 0, nanos: 0 },
  };
}

/**
 * An RFC 3339 time as protobuf Timestamp fields (nanosecond fractions kept), or undefined.
 *
 * @example
 * ```ts
 * timestampOf('2026-01-01T00:00:00.5Z'); // { seconds: 1767225600, nanos: 500000000 }
 * ```
 */
export function timestampOf(text: string | undefined): ReportResult['timestamp'] | undefined {
  if (!text) return undefined;
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$/i.exec(text);
  if (!m) return undefined;
  const ms = Date.parse(`${m[1]}${m[3]}`);
  if (Number.isNaN(ms)) return undefined;
  return { seconds: Math.floor(ms / 1000), nanos: Number((m[2] ?? '').padEnd(9, '0')) };
}
