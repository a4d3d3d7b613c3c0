import type { ExportMsg } from './record.ts';

// Gatekeeper's audit log schema (the `event_type` lines its audit process logs through zap):
// pure builders, shared by the writer's audit logger and the reader's gatekeeper-log format.

/** A constraint as the audit log names it. */
export interface ConstraintRef {
  readonly group: string;
  readonly version: string;
  readonly kind: string;
  readonly name: string;
  readonly namespace?: string;
}

/** The `event_type` values of Gatekeeper's audit log. */
export const AuditLogEvent = {
  AuditStarted: 'audit_started',
  ConstraintAudited: 'constraint_audited',
  ViolationAudited: 'violation_audited',
  AuditFinished: 'audit_finished',
} as const;

/** One audit log entry without `level`, `ts` and `logger`. */
export type GatekeeperLogFields = Record<string, unknown> & { msg: string };

/**
 * Pure builders of Gatekeeper-schema audit log entries (without `level`, `ts`, `logger`):
 * the writer's audit logger and the reader's `gatekeeper-log` format both use them, so both
 * print the same shape.
 *
 * @example
 * ```ts
 * gatekeeperLogFields.auditStarted('2022-12-13T23:07:11Z');
 * // { msg: 'auditing constraints and violations', process: 'audit', audit_id: '…', event_type: 'audit_started' }
 * ```
 */
export const gatekeeperLogFields = {
  auditStarted(auditId: string): GatekeeperLogFields {
    return {
      msg: 'auditing constraints and violations',
      process: 'audit',
      audit_id: auditId,
      event_type: AuditLogEvent.AuditStarted,
    };
  },
  constraintAudited(
    auditId: string,
    c: ConstraintRef,
    r: { violations: number; action: string; status?: string },
  ): GatekeeperLogFields {
    return {
      msg: 'audit results for constraint',
      process: 'audit',
      audit_id: auditId,
      event_type: AuditLogEvent.ConstraintAudited,
      constraint_group: c.group,
      constraint_api_version: c.version,
      constraint_kind: c.kind,
      constraint_name: c.name,
      constraint_namespace: c.namespace ?? '',
      constraint_action: r.action,
      constraint_status: r.status ?? 'enforced',
      // Gatekeeper logs the count as a string.
      constraint_violations: String(r.violations),
    };
  },
  violationAudited(m: ExportMsg): GatekeeperLogFields {
    return {
      msg: m.message ?? '',
      process: 'audit',
      audit_id: m.id ?? '',
      event_type: AuditLogEvent.ViolationAudited,
      details: m.details,
      constraint_group: m.group ?? '',
      constraint_api_version: m.version ?? '',
      constraint_kind: m.kind ?? '',
      constraint_name: m.name ?? '',
      constraint_namespace: m.namespace ?? '',
      constraint_action: m.enforcementAction ?? '',
      constraint_annotations: m.constraintAnnotations ?? {},
      resource_group: m.resourceGroup ?? '',
      resource_api_version: m.resourceAPIVersion ?? '',
      resource_kind: m.resourceKind ?? '',
      resource_namespace: m.resourceNamespace ?? '',
      resource_name: m.resourceName ?? '',
      resource_labels: m.resourceLabels ?? {},
    };
  },
  auditFinished(auditId: string, durationSeconds: number): GatekeeperLogFields {
    return {
      msg: 'auditing is complete',
      process: 'audit',
      audit_id: auditId,
      event_type: AuditLogEvent.AuditFinished,
      duration: durationSeconds,
    };
  },
};

/**
 * One Gatekeeper-schema log line: `level` as a word, `ts` in epoch seconds, `logger`, then
 * the entry's fields, as Gatekeeper's zap logger prints them.
 *
 * @example
 * ```ts
 * formatGatekeeperLogLine(gatekeeperLogFields.auditFinished(id, 12.5), Date.now());
 * ```
 */
export function formatGatekeeperLogLine(fields: GatekeeperLogFields, nowMs: number): string {
  return JSON.stringify({ level: 'info', ts: nowMs / 1000, logger: 'controller', ...fields });
}
