import type { Option } from 'commander';
import { listSetting, setting } from '../../config/commander.ts';
import { DEFAULTS } from '../../config/defaults.ts';
import { oneOf, parsePath } from '../../config/parsers.ts';
import { GkExportError } from '../../errors.ts';

/** Sources `gk-export read` can follow. */
export const SOURCES = ['disk-export', 'apiserver-audit'] as const;
export type SourceName = (typeof SOURCES)[number];

/** Where to start in an audit log never seen before. */
export const AUDIT_LOG_STARTS = ['beginning', 'end'] as const;

export interface ApiserverAuditConfig {
  readonly path: string;
  readonly start: (typeof AUDIT_LOG_STARTS)[number];
  readonly webhookName: string;
}

/**
 * Options of the API-server audit-log source.
 *
 * @example
 * ```ts
 * for (const o of apiserverAuditOptions()) command.addOption(o);
 * ```
 */
export function apiserverAuditOptions(): Option[] {
  const d = DEFAULTS.apiserverAudit;
  return [
    listSetting('--source <source>', `what to follow: ${SOURCES.join(', ')} (repeatable)`, {
      env: 'GK_EXPORT_SOURCE',
      item: oneOf(SOURCES),
      unique: true,
      nonEmpty: true,
    }),
    setting('--audit-log <path>', "the API server's audit log (JSON lines)", {
      env: 'GK_EXPORT_AUDIT_LOG',
    }),
    setting(
      '--audit-log-start <where>',
      'where to start in an audit log never seen: beginning or end',
      {
        env: 'GK_EXPORT_AUDIT_LOG_START',
        parse: oneOf(AUDIT_LOG_STARTS),
        default: d.start,
      },
    ),
    setting(
      '--audit-webhook-name <name>',
      "Gatekeeper's validating webhook name in denial messages",
      {
        env: 'GK_EXPORT_AUDIT_WEBHOOK_NAME',
        default: d.webhookName,
      },
    ),
  ];
}

/**
 * The selected sources, and the audit-log settings when that source is on.
 *
 * @example
 * ```ts
 * const { sources, apiserverAudit } = resolveSources(command.opts());
 * ```
 */
export function resolveSources(o: Record<string, unknown>): {
  sources: SourceName[];
  apiserverAudit?: ApiserverAuditConfig;
} {
  const sources = (o.source as SourceName[] | undefined) ?? [...DEFAULTS.reader.sources];
  if (!sources.includes('apiserver-audit')) return { sources };
  if (typeof o.auditLog !== 'string' || o.auditLog === '') {
    throw new GkExportError(
      'ERR_INVALID_CONFIG',
      '--source apiserver-audit needs --audit-log (GK_EXPORT_AUDIT_LOG): the API server audit log file',
    );
  }
  return {
    sources,
    apiserverAudit: {
      path: parsePath(o.auditLog),
      start:
        (o.auditLogStart as ApiserverAuditConfig['start'] | undefined) ??
        DEFAULTS.apiserverAudit.start,
      webhookName: String(o.auditWebhookName ?? DEFAULTS.apiserverAudit.webhookName),
    },
  };
}
