import { pino, type DestinationStream, type Logger } from 'pino';
import type { ExportMsg } from '../protocol/record.ts';

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

type Fields = Record<string, unknown> & { msg: string };

/**
 * Pure builders of Gatekeeper-schema audit log entries (without `level`, `ts`, `logger`):
 * the audit logger below and the reader's `gatekeeper-log` format both use them, so both
 * print the same shape.
 *
 * @example
 * ```ts
 * gatekeeperLogFields.auditStarted('2022-12-13T23:07:11Z');
 * // { msg: 'auditing constraints and violations', process: 'audit', audit_id: '…', event_type: 'audit_started' }
 * ```
 */
export const gatekeeperLogFields = {
  auditStarted(auditId: string): Fields {
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
  ): Fields {
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
  violationAudited(m: ExportMsg): Fields {
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
  auditFinished(auditId: string, durationSeconds: number): Fields {
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
export function formatGatekeeperLogLine(fields: Fields, nowMs: number): string {
  return JSON.stringify({ level: 'info', ts: nowMs / 1000, logger: 'controller', ...fields });
}

/**
 * The audit process's logger in Gatekeeper's schema (pino, JSON lines).
 *
 * @example
 * ```ts
 * const log = createAuditLogger();
 * log.auditStarted(id); log.violationAudited(v); log.constraintAudited(id, c, { violations: 3, action: 'deny' }); log.auditFinished(id, 1.2);
 * ```
 */
export function createAuditLogger(opts: { destination?: DestinationStream } = {}) {
  const logger: Logger = pino(
    {
      base: { logger: 'controller' },
      messageKey: 'msg',
      formatters: { level: (label) => ({ level: label }) },
      timestamp: () => `,"ts":${Date.now() / 1000}`,
    },
    opts.destination ?? pino.destination({ dest: 2, sync: true }),
  );
  const emit = (f: Fields) => {
    const { msg, ...rest } = f;
    logger.info(rest, msg);
  };
  return {
    auditStarted: (auditId: string) => emit(gatekeeperLogFields.auditStarted(auditId)),
    constraintAudited: (
      auditId: string,
      c: ConstraintRef,
      r: { violations: number; action: string; status?: string },
    ) => emit(gatekeeperLogFields.constraintAudited(auditId, c, r)),
    violationAudited: (m: ExportMsg) => emit(gatekeeperLogFields.violationAudited(m)),
    auditFinished: (auditId: string, durationSeconds: number) =>
      emit(gatekeeperLogFields.auditFinished(auditId, durationSeconds)),
  };
}

export type AuditLogger = ReturnType<typeof createAuditLogger>;
