import { InvalidArgumentError, Option } from 'commander';
import { resolve } from 'node:path';
import { GkExportError } from '../../errors.ts';

/** Sources `gk-export read` can follow. */
export const SOURCES = ['disk-export', 'apiserver-audit'] as const;
export type SourceName = (typeof SOURCES)[number];

export interface ApiserverAuditConfig {
  readonly path: string;
  readonly start: 'beginning' | 'end';
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
  return [
    new Option('--source <source>', `what to follow: ${SOURCES.join(', ')} (repeatable)`)
      .env('GK_EXPORT_SOURCE')
      .argParser((v: string, prev: string[] | undefined) => {
        const items = v.split(',').map((s) => s.trim());
        for (const i of items) {
          if (!(SOURCES as readonly string[]).includes(i))
            throw new InvalidArgumentError(`allowed: ${SOURCES.join(', ')}`);
        }
        return [...new Set([...(prev ?? []), ...items])];
      }),
    new Option('--audit-log <path>', "the API server's audit log (JSON lines)").env(
      'GK_EXPORT_AUDIT_LOG',
    ),
    new Option(
      '--audit-log-start <where>',
      'where to start in an audit log never seen: beginning or end',
    )
      .env('GK_EXPORT_AUDIT_LOG_START')
      .default('end')
      .argParser((v) => {
        if (v !== 'beginning' && v !== 'end')
          throw new InvalidArgumentError('allowed: beginning, end');
        return v;
      }),
    new Option(
      '--audit-webhook-name <name>',
      "Gatekeeper's validating webhook name in denial messages",
    )
      .env('GK_EXPORT_AUDIT_WEBHOOK_NAME')
      .default('validation.gatekeeper.sh'),
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
  const sources = (o.source as SourceName[] | undefined) ?? ['disk-export'];
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
      path: resolve(o.auditLog),
      start: o.auditLogStart === 'beginning' ? 'beginning' : 'end',
      webhookName: String(o.auditWebhookName ?? 'validation.gatekeeper.sh'),
    },
  };
}
